"""Overlapping tiles over a large image, and the weights that blend them without seams.

The full-resolution refinement (fullres.refine_tiles) optimises one tile at a time when the
whole image does not fit in memory. Tiles overlap by `overlap` pixels; in the overlap each
tile's weight ramps linearly from its inner edge to its border, and the result is the
weighted mean of the tiles over each pixel, so neighbouring tiles hand over smoothly. At
the image's own borders a tile keeps full weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tile:
    top: int
    left: int
    height: int
    width: int

    def of(self, image: torch.Tensor) -> torch.Tensor:
        """This tile's part of a B x C x H x W tensor (a view)."""
        return image[..., self.top : self.top + self.height, self.left : self.left + self.width]


def _starts(length: int, side: int, overlap: int) -> list[int]:
    if length <= side:
        return [0]
    step = side - overlap
    starts = list(range(0, length - side, step))
    return [*starts, length - side]


def plan_tiles(height: int, width: int, side: int, overlap: int) -> list[Tile]:
    """Tiles of at most side x side covering the image, neighbours overlapping by at least
    `overlap` pixels (the last row and column are shifted back to end at the border)."""
    if side <= 2 * overlap:
        raise ValueError(f"a tile of {side} pixels cannot overlap its neighbours by {overlap}")
    return [
        Tile(top, left, min(side, height), min(side, width))
        for top in _starts(height, side, overlap)
        for left in _starts(width, side, overlap)
    ]


def _ramp(length: int, start: int, end: int, total: int, overlap: int) -> torch.Tensor:
    """1 inside, rising over `overlap` pixels from an inner edge (not at the border)."""
    ramp = torch.ones(length)
    steps = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)
    if start > 0:
        ramp[:overlap] = torch.minimum(ramp[:overlap], steps)
    if end < total:
        ramp[-overlap:] = torch.minimum(ramp[-overlap:], steps.flip(0))
    return ramp


def blend_weights(tile: Tile, height: int, width: int, overlap: int) -> torch.Tensor:
    """The tile's 1 x 1 x h x w blending weights (see the module docstring)."""
    rows = _ramp(tile.height, tile.top, tile.top + tile.height, height, overlap)
    cols = _ramp(tile.width, tile.left, tile.left + tile.width, width, overlap)
    return (rows[:, None] * cols[None, :])[None, None]
