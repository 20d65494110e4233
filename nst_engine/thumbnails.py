"""Small pictures and fingerprints of images: a style's thumbnail in lists (models, the
gallery), and a difference hash that tells later whether a photograph was trained on."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from .arrays import as_array, luminance, resize_tensor, split_channels, to_tensor

THUMBNAIL_SIDE = 128  # the long side of a style's picture in lists (models, gallery)


def thumbnail_png(array: np.ndarray, side: int = THUMBNAIL_SIDE) -> bytes:
    """A small RGB PNG of an image array (any layout `as_array` takes; float in [0, 1]),
    at most `side` pixels on the long side."""
    rgb, _ = split_channels(as_array(array))
    image = Image.fromarray((rgb * 255 + 0.5).astype(np.uint8))
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# A fingerprint compares neighbours on a 12 x 12 grid. Between copies of one photograph
# (resized, recompressed, another bit depth) at most a few percent of its bits differ; between
# different photographs, even two plain landscapes, at least a fifth and usually half.
FINGERPRINT_GRID = 12
SAME_PHOTOGRAPH_FRACTION = 0.1


def fingerprint(image: np.ndarray | Image.Image) -> str:
    """A difference hash of a picture, as hex digits: its luminance shrunk to a small grid,
    one bit per pair of neighbours (across, then down: is the second brighter?).

    A network records its training photographs this way, so whether a photograph was trained
    on can be told later without shipping the photographs (`same_photograph`)."""
    rgb, _ = split_channels(as_array(image))
    grey = to_tensor(luminance(rgb)[..., None])
    n = FINGERPRINT_GRID
    across = resize_tensor(grey, (n, n + 1))[0, 0]
    down = resize_tensor(grey, (n + 1, n))[0, 0]
    bits = torch.cat([(across[:, 1:] > across[:, :-1]).flatten(), (down[1:] > down[:-1]).flatten()])
    width = (bits.numel() + 3) // 4
    return f"{sum(int(bit) << i for i, bit in enumerate(bits.tolist())):0{width}x}"


def same_photograph(a: str, b: str) -> bool:
    """Whether two fingerprints (`fingerprint`) are of the same photograph."""
    bits = 4 * max(len(a), len(b))
    return (int(a, 16) ^ int(b, 16)).bit_count() <= SAME_PHOTOGRAPH_FRACTION * bits
