"""Applying a trained fast-mode network: `apply_model`, the short way to call `stylize` with
a model, so masks, colour preservation, alpha, sample types and bit-identical pixels outside
the mask work exactly as for the other methods.

It sits beside `api` rather than in `fast/`: the model file knows nothing of `stylize`, and
`stylize` nothing of model files, so no import goes both ways.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from .api import stylize
from .fast.model_file import FastStyleModel, load_model
from .options import CancelCheck, StyleOptions, StyleResult


def apply_model(
    model: FastStyleModel | str | os.PathLike,
    content: np.ndarray | Image.Image,
    *,
    mask: np.ndarray | Image.Image | None = None,
    options: StyleOptions | None = None,
    cancel: CancelCheck | None = None,
) -> StyleResult:
    """Stylise `content` with a trained model (or the path of its file):
    `stylize(content, None, model=...)`.

    Uses options.size, preserve_color, device and max_pixels (method, strength, quality and
    iterations belong to the optimisation and are ignored: the strength was fixed at training).
    """
    if not isinstance(model, FastStyleModel):
        model = load_model(model)
    return stylize(content, None, mask=mask, options=options, cancel=cancel, model=model)
