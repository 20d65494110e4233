"""From the working-size painting to the full-resolution result.

The optimisation runs at a working size (StyleOptions.work_side); the result has the
image's full resolution, made in one of two ways (StyleOptions.finishing, measured in
docs/full-resolution.md):

- images.add_detail: the painting upsampled, plus the photograph's own detail finer than the
  working size (its detail band: the photograph minus itself at the working size,
  upsampled). Upsampling alone returns a blurred painting; with the band the photograph's
  edges and textures are sharp again where the painting kept them. It costs a few full-size
  image operations.
- refine_tiles: from that, a few more iterations at the full resolution, in tiles when the
  whole image does not fit, so the strokes themselves get full-resolution detail.
"""

from __future__ import annotations

import time

import torch

from .devices import autocast, low_precision
from .features import FeatureExtractor
from .losses import ContentLoss, StructureLoss, StyleLoss, total_variation
from .options import StyleOptions
from .tiles import Tile, blend_weights, plan_tiles
from .transfer import (
    COMBINED_LAYER,
    COMBINED_WEIGHT,
    FINE_LR,
    FINE_WARMUP,
    PRESET_SCALE,
    STRUCTURE_WEIGHT,
    STYLED_CONTENT_WEIGHT,
    TV_WEIGHT,
    Reporter,
    Run,
    StyleTargets,
    weighted_style,
)

# The full-resolution refinement (quality high, or full_resolution="refine"): a few
# iterations on every tile, at the fine levels' learning rate, with the style weight where
# dynamic weighting ended (a controller per tile would give each tile its own balance).
REFINE_ITERATIONS = 6
TILE_OVERLAP = 96  # pixels; a relu4_1 feature sees about 100 pixels around it


def refine_tiles(
    extractor: FeatureExtractor,
    targets: StyleTargets,
    content: torch.Tensor,
    start: torch.Tensor,
    mask: torch.Tensor | None,
    styles: list[tuple[str, torch.Tensor]],
    weights: list[float],
    options: StyleOptions,
    style_weight: float,
    tile_side: int,
    reporter: Reporter,
    level: int,
    run: Run,
) -> torch.Tensor:
    """Optimise the full-resolution image `start` a few more iterations, one tile at a time.

    `content`, `start` and `mask` stay where they are (the CPU for a large image); each tile
    goes to the extractor's device alone. Every tile is matched against the style targets of
    the whole image at the full resolution (not its own part of them), starts from `start`
    and is pulled back to it (the combined-image loss), so neighbours agree; the overlaps
    are blended (tiles.blend_weights)."""
    spec = extractor.spec
    device = next(extractor.parameters()).device
    height, width = content.shape[-2:]
    overlap = tile_overlap(tile_side)
    tiles = refine_plan(height, width, tile_side)
    side = round(max(height, width) * options.style_scale)
    grams = targets.grams(extractor, styles, weights, side, spec.style)
    style_losses = {n: StyleLoss(grams[n]) for n in spec.style}
    wanted = set(spec.style) | {spec.styled_content, COMBINED_LAYER}
    total = torch.zeros_like(start)
    weight_sum = torch.zeros_like(start[:, :1])
    iterations = refine_steps_per_tile(options)
    tic = time.perf_counter()
    steps = len(tiles) * iterations
    for index, tile in enumerate(tiles):
        base = tile.of(content).to(device)
        begin = tile.of(start).to(device)
        tile_mask = None if mask is None else tile.of(mask).to(device)
        with torch.no_grad(), autocast(device):
            styled_content = ContentLoss(
                extractor(base, {spec.styled_content})[spec.styled_content]
            )
            combined = ContentLoss(extractor(begin, {COMBINED_LAYER})[COMBINED_LAYER])
        structure = StructureLoss(base, tile_mask)
        image = begin.clone()
        if low_precision(device):
            image = image.contiguous(memory_format=torch.channels_last)
        image.requires_grad_(True)
        optimizer = torch.optim.Adam([image], lr=FINE_LR, betas=(0.9, 0.99))
        for it in range(iterations):
            schedule = min(1.0, (it + 1) / FINE_WARMUP)
            for group in optimizer.param_groups:
                group["lr"] = FINE_LR * schedule
            blended = image if tile_mask is None else tile_mask * image + (1 - tile_mask) * base
            with autocast(device):
                feats = extractor(blended, wanted)
            terms = {
                "style": style_weight * weighted_style(spec, style_losses, feats, tile_mask),
                "styled_content": STYLED_CONTENT_WEIGHT
                * styled_content(feats[spec.styled_content]),
                "combined": COMBINED_WEIGHT * combined(feats[COMBINED_LAYER]),
                "tv": TV_WEIGHT * total_variation(blended),
                "structure": STRUCTURE_WEIGHT * structure(blended),
            }
            loss = sum(terms.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                image.clamp_(0, 1)
            losses = {k: float(v.detach()) for k, v in terms.items()}
            losses["total"] = float(loss.detach())
            run.losses = losses
            run.iterations += 1
            reporter(level, index * iterations + it, steps, losses, image)
        blend = blend_weights(tile, height, width, overlap)
        tile.of(total).add_(image.detach().float().cpu() * blend)
        tile.of(weight_sum).add_(blend)
    run.timings[f"refine_{width}x{height}_{len(tiles)}tiles"] = time.perf_counter() - tic
    return total / weight_sum


def refine_steps_per_tile(options: StyleOptions) -> int:
    return max(1, round(REFINE_ITERATIONS * PRESET_SCALE[options.quality] / 2))


def tile_overlap(tile_side: int) -> int:
    return min(TILE_OVERLAP, tile_side // 4)


def refine_plan(height: int, width: int, tile_side: int) -> list[Tile]:
    """The tiles the refinement of a height x width image goes through."""
    return plan_tiles(height, width, tile_side, tile_overlap(tile_side))
