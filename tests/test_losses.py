"""The optimisation's style and structure terms are the judge's own figures (metrics.py): what
is optimised is what `nst evaluate` reports, so a gain in the loss is a gain in the metric."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nst_engine.arrays import resize_tensor, to_float, to_numpy, to_tensor
from nst_engine.features import gram, load_extractor
from nst_engine.losses import StructureLoss, StyleLoss
from nst_engine.metrics import GMD_LAYERS, gram_differences, ssim


def test_structure_loss_is_one_minus_the_judged_ssim(content, starry):
    base = to_tensor(to_float(content))
    other = resize_tensor(to_tensor(to_float(starry)), content.shape[:2])
    loss = StructureLoss(base)
    assert float(loss(base)) == pytest.approx(0.0, abs=1e-6)
    judged = ssim(content, (to_numpy(other) * 255).round().astype(np.uint8))
    assert float(loss(other)) == pytest.approx(1 - judged, abs=2e-3)  # 8-bit rounding only


def test_structure_loss_counts_only_where_the_mask_is_on(content):
    base = to_tensor(to_float(content))
    mask = torch.zeros_like(base[:, :1])
    mask[..., :, : content.shape[1] // 2] = 1
    spoiled = base.clone()
    spoiled[..., :, content.shape[1] // 2 + 8 :] = 0.5  # flattened well outside the mask
    assert float(StructureLoss(base, mask)(spoiled)) == pytest.approx(0.0, abs=1e-6)
    assert float(StructureLoss(base)(spoiled)) > 0.1


def test_style_loss_is_the_gmd_of_its_layer(content, starry):
    extractor = load_extractor("vgg19", "max")  # the metric's network, in float32
    side = max(content.shape[:2])
    image, style = to_tensor(to_float(content)), to_tensor(to_float(starry))
    assert max(starry.shape[:2]) == side  # the metric compares both at the output's size
    with torch.no_grad():
        targets = extractor(style, set(GMD_LAYERS))
        feats = extractor(image, set(GMD_LAYERS))
    judged = gram_differences(content, starry)
    for name in GMD_LAYERS:
        loss = StyleLoss(gram(targets[name]))(feats[name])
        assert float(loss) == pytest.approx(judged[name], rel=1e-4), name
    assert float(StyleLoss(gram(targets["relu3_1"]))(targets["relu3_1"])) < 1e-5
