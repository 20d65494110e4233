"""The embedded VGG-19 weights: checked, loaded once, and honest when something is missing."""

from __future__ import annotations

import shutil
import time

import pytest
import torch

from nst_engine import WeightsUnavailable, features
from nst_engine.features import get_extractor


def test_embedded_extractor_is_cached_and_sees_structure():
    a = get_extractor("vgg19", "avg", "cpu")
    assert get_extractor("vgg19", "avg", "cpu") is a
    flat = torch.full((1, 3, 64, 64), 0.5)
    stripes = flat.clone()
    stripes[..., ::4, :] = 1.0
    out_flat = a(flat, {"relu1_1", "relu4_2"})
    out_stripes = a(stripes, {"relu1_1", "relu4_2"})
    assert out_flat["relu4_2"].shape == (1, 512, 8, 8)
    # Trained first-layer filters respond to edges far more than to a flat field.
    assert out_stripes["relu1_1"].std() > 3 * out_flat["relu1_1"].std()


def test_rgb_convention_is_folded_in():
    """Swapping red and blue must change the features: the extractor is not colour-blind,
    and its input is RGB in [0, 1] (the Caffe BGR/0..255 convention lives inside)."""
    vgg = get_extractor("vgg19", "avg", "cpu")
    x = torch.rand(1, 3, 48, 48)
    a = vgg(x, {"relu1_1"})["relu1_1"]
    b = vgg(x.flip(1), {"relu1_1"})["relu1_1"]
    assert (a - b).abs().mean() > 0.05 * a.abs().mean()


def test_corrupted_weights_are_refused(tmp_path, monkeypatch):
    bad = tmp_path / features.EMBEDDED_WEIGHTS_FILE
    shutil.copy(features.embedded_weights_path(), bad)
    data = bytearray(bad.read_bytes())
    data[-100] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(features, "embedded_weights_path", lambda: bad)
    with pytest.raises(WeightsUnavailable, match="checksum"):
        features.load_embedded_vgg19()


def test_downloadable_extractor_fails_fast_and_names_the_default(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(features.socket, "create_connection", offline)
    started = time.monotonic()
    with pytest.raises(WeightsUnavailable, match="embedded default extractor 'vgg19'"):
        features.load_resnet50()
    assert time.monotonic() - started < 10
