"""A small fast-mode style network with random weights, for tests that need a model file
without training one: its output differs from its input (an untrained network is the
identity), so comparisons against the input can fail."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from PIL import Image

from nst_engine.fast import MODEL_FORMAT, FastStyleModel, TransformerNet, weights_checksum
from nst_engine.fast.model_file import plain_state

ARCHITECTURE = {"width": 8, "residual_blocks": 1}


def random_style_model(name: str, seed: int = 1) -> FastStyleModel:
    torch.manual_seed(seed)
    network = TransformerNet(**ARCHITECTURE)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
    thumbnail = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 120, 40)).save(thumbnail, format="PNG")
    options = {"size": 64, "strength": 0.5, "steps": 3}
    return FastStyleModel(network, name, thumbnail.getvalue(), options, ARCHITECTURE)


def save_version_1(model: FastStyleModel, path: Path, **changes: object) -> Path:
    """Write `model` as this program wrote model files before safetensors (format version 1,
    a dict that torch.save pickles), with `changes` to its entries; for the tests of reading
    and converting old files."""
    weights = plain_state(model.network)
    data = {
        "format": MODEL_FORMAT,
        "version": 1,
        "name": model.name,
        "thumbnail_png": model.thumbnail_png,
        "options": model.options,
        "architecture": model.architecture,
        "weights": weights,
        "checksum": weights_checksum(weights),
        **changes,
    }
    torch.save(data, path)
    return path
