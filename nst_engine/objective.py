"""The proposed method's objective and step sizes, shared by its coarse-to-fine levels
(transfer.run_proposed) and the full-resolution refinement (fullres.refine_tiles): the
weights of its loss terms, how the style layers add up, and Adam's learning rates."""

from __future__ import annotations

import torch

from .features import LayerSpec
from .losses import ContentLoss, StructureLoss, StyleLoss, total_variation

# Adam moves every pixel by about the learning rate per step, whatever the loss's scale, so
# the rate is what sets how fast texture appears. The coarse level paints the composition;
# finer levels only refine it and need a gentler hand.
COARSE_LR = 0.02
FINE_LR = 0.01
# A fresh Adam's first steps are full-sized in every pixel at once; ramping the rate up over
# the first iterations of a level keeps SSIM from crashing before the controller can react
# (flat regions such as a clear sky lose their SSIM to any sudden texture).
COARSE_WARMUP = 15
FINE_WARMUP = 4

# Loss weights of the proposed method (content weight is 1; style weight is dynamic).
STYLED_CONTENT_WEIGHT = 0.1
COMBINED_WEIGHT = 0.2
TV_WEIGHT = 2.0
STRUCTURE_WEIGHT = 1.0
# Every level matches every style layer: the deepest layer's statistics depend on the
# scale they are taken at, so a result whose relu5_1 was matched only at the coarse level
# ends far from the style's at full size. Fine levels keep the composition through the
# combined-image loss at this layer rather than through the main content loss: with both,
# the content term pulled the deep layers back from the style (docs/benchmarks.md).
COMBINED_LAYER = "relu4_1"


def fixed_style_weight(strength: float) -> float:
    """The proposed method's style weight without dynamic weighting (and the centre of its
    range with it): two decades around 30, the weight at which typical styles are balanced
    against the content terms, the structure term among them."""
    return 30.0 * 10 ** (2 * (strength - 0.5))


def weighted_style(
    spec: LayerSpec,
    losses: dict[str, StyleLoss],
    feats: dict[str, torch.Tensor],
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """The style term: each style layer's loss, by the extractor's layer weights over their
    sum (the proposed method's levels and the full-resolution tiles alike)."""
    norm = sum(spec.style_weights)
    return sum(
        weight / norm * losses[name](feats[name], mask)
        for name, weight in zip(spec.style, spec.style_weights, strict=True)
    )


def image_terms(
    spec: LayerSpec,
    feats: dict[str, torch.Tensor],
    image: torch.Tensor,
    styled_content: ContentLoss,
    structure: StructureLoss,
) -> dict[str, torch.Tensor]:
    """The weighted terms on the image itself that every iteration has, the levels' and the
    refinement's alike: the styled content, total variation and the structure term. `image`
    is what was extracted (`feats`), blended through the mask."""
    return {
        "styled_content": STYLED_CONTENT_WEIGHT * styled_content(feats[spec.styled_content]),
        "tv": TV_WEIGHT * total_variation(image),
        "structure": STRUCTURE_WEIGHT * structure(image),
    }
