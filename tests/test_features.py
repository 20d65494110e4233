"""The embedded VGG-19 weights: checked, loaded once, and honest when something is missing;
extractors per device in a Workspace, never moved under another user's feet."""

from __future__ import annotations

import shutil
import time

import pytest
import torch

from nst_engine import WeightsUnavailable, features
from nst_engine.features import load_extractor
from nst_engine.workspace import Workspace


def test_embedded_extractor_is_cached_and_sees_structure():
    a = load_extractor("vgg19", "avg")
    assert load_extractor("vgg19", "avg") is a
    assert Workspace("cpu").extractor("vgg19", "avg") is a, "on the CPU the template serves"
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
    vgg = load_extractor("vgg19", "avg")
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


def test_a_workspace_on_another_device_leaves_the_cpu_extractor_where_it_is():
    """nn.Module.to moves a module in place: a shared extractor moved for a GPU job left the
    CPU's users (the metrics, the next CPU job) on the GPU. The "meta" device stands in for
    a GPU here: it exists without one."""
    cpu = load_extractor("vgg19", "max")
    meta = Workspace(torch.device("meta"))
    on_meta = meta.extractor("vgg19", "max")
    assert on_meta is not cpu and meta.extractor("vgg19", "max") is on_meta
    assert {p.device.type for p in on_meta.parameters()} == {"meta"}
    assert {p.device.type for p in cpu.parameters()} == {"cpu"}
    assert {b.device.type for b in cpu.buffers()} == {"cpu"}
    features = cpu(torch.rand(1, 3, 32, 32), {"relu1_1"})["relu1_1"]
    assert features.device.type == "cpu" and torch.isfinite(features).all()
    assert meta.style_targets is not Workspace("cpu").style_targets, "targets per workspace"
