"""A small fast-mode style network with random weights, for tests that need a model file
without training one: its output differs from its input (an untrained network is the
identity), so comparisons against the input can fail."""

from __future__ import annotations

import io

import torch
from PIL import Image

from nst_engine.fast import FastStyleModel, TransformerNet

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
