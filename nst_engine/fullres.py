"""From the working-size painting to the full-resolution result.

The optimisation runs at a working size (StyleOptions.work_side); the result has the
image's full resolution, made in one of two ways (StyleOptions.finishing, measured in
docs/full-resolution.md):

- add_detail: the painting upsampled, plus the photograph's own detail finer than the
  working size (its detail band: the photograph minus itself at the working size,
  upsampled). Upsampling alone returns a blurred painting; with the band the photograph's
  edges and textures are sharp again where the painting kept them. It costs a few full-size
  image operations.
- refine_tiles: from that, a few more iterations at the full resolution, in tiles when the
  whole image does not fit, so the strokes themselves get full-resolution detail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from .arrays import resize_tensor
from .context import RunContext
from .devices import autocast, low_precision
from .losses import ContentLoss, StructureLoss, StyleLoss
from .objective import (
    COMBINED_LAYER,
    COMBINED_WEIGHT,
    FINE_LR,
    FINE_WARMUP,
    fixed_style_weight,
    image_terms,
    weighted_style,
)
from .options import PRESET_SCALE, StyleOptions
from .tiles import Tile, blend_weights, plan_tiles

# The full-resolution refinement (quality high, or full_resolution="refine"): a few
# iterations on every tile, at the fine levels' learning rate, with the style weight where
# dynamic weighting ended (a controller per tile would give each tile its own balance).
REFINE_ITERATIONS = 6
TILE_OVERLAP = 96  # pixels; a relu4_1 feature sees about 100 pixels around it


def detail_band(content: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The content's (B x 3 x H x W) detail finer than `size`: the content minus itself at
    that size, upsampled."""
    return content - resize_tensor(resize_tensor(content, size), content.shape[-2:])


def add_detail(
    painting: torch.Tensor, content: torch.Tensor, band: torch.Tensor | None = None
) -> torch.Tensor:
    """The painting (B x 3 x h x w) at the content's size (B x 3 x H x W), with the content's
    detail band added back (`detail_band(content, (h, w))`, or `band` when it is at hand).
    Upsampling alone blurs; the band puts the content's finer edges back. On the content's
    device. Used between coarse-to-fine levels and from the working size to full resolution."""
    size = content.shape[-2:]
    painting = painting.to(content.device, torch.float32)
    band = detail_band(content, painting.shape[-2:]) if band is None else band
    return (resize_tensor(painting, size) + band).clamp(0, 1)


def refine_tiles(
    ctx: RunContext,
    content: torch.Tensor,
    start: torch.Tensor,
    mask: torch.Tensor | None,
    tile_side: int,
) -> torch.Tensor:
    """Optimise the full-resolution image `start` a few more iterations, one tile at a time.

    `content`, `start` and `mask` stay where they are (the CPU for a large image); each tile
    goes to the job's device alone. Every tile is matched against the style targets of the
    whole image at the full resolution (not its own part of them), starts from `start` and
    is pulled back to it (the combined-image loss), so neighbours agree; the overlaps are
    blended (tiles.blend_weights). The refinement is the plan's last level; its style weight
    is where dynamic weighting ended (the fixed one without it)."""
    spec = ctx.extractor.spec
    height, width = content.shape[-2:]
    overlap = tile_overlap(tile_side)
    tiles = refine_plan(height, width, tile_side)
    grams = ctx.style_grams(round(max(height, width) * ctx.options.style_scale))
    style_losses = {n: StyleLoss(grams[n]) for n in spec.style}
    iterations = refine_steps_per_tile(ctx.options)
    job = _Refinement(
        content, start, mask, style_losses,
        style_weight=ctx.run.style_weight or fixed_style_weight(ctx.options.strength),
        iterations=iterations, steps=len(tiles) * iterations,
    )  # fmt: skip
    total = torch.zeros_like(start)
    weight_sum = torch.zeros_like(start[:, :1])
    tic = time.perf_counter()
    for index, tile in enumerate(tiles):
        image = _refine_tile(ctx, job, tile, index)
        blend = blend_weights(tile, height, width, overlap)
        tile.of(total).add_(image.float().cpu() * blend)
        tile.of(weight_sum).add_(blend)
    ctx.run.timings[f"refine_{width}x{height}_{len(tiles)}tiles"] = time.perf_counter() - tic
    return total / weight_sum


@dataclass(frozen=True)
class _Refinement:
    """What the tiles of one refinement share: the full-resolution images (content, start,
    mask), the style's loss terms and weight, and the iterations per tile and in all."""

    content: torch.Tensor
    start: torch.Tensor
    mask: torch.Tensor | None
    style_losses: dict[str, StyleLoss]
    style_weight: float
    iterations: int
    steps: int


def _refine_tile(ctx: RunContext, job: _Refinement, tile: Tile, index: int) -> torch.Tensor:
    """The tile's iterations, on the job's device; returns the refined tile."""
    spec, device = ctx.extractor.spec, ctx.device
    base = tile.of(job.content).to(device)
    begin = tile.of(job.start).to(device)
    mask = None if job.mask is None else tile.of(job.mask).to(device)
    with torch.no_grad(), autocast(device):
        styled_content = ContentLoss(
            ctx.extractor(base, {spec.styled_content})[spec.styled_content]
        )
        combined = ContentLoss(ctx.extractor(begin, {COMBINED_LAYER})[COMBINED_LAYER])
    structure = StructureLoss(base, mask)
    wanted = set(spec.style) | {spec.styled_content, COMBINED_LAYER}
    image = begin.clone()
    if low_precision(device):
        image = image.contiguous(memory_format=torch.channels_last)
    image.requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=FINE_LR, betas=(0.9, 0.99))
    for it in range(job.iterations):
        schedule = min(1.0, (it + 1) / FINE_WARMUP)
        for group in optimizer.param_groups:
            group["lr"] = FINE_LR * schedule
        blended = image if mask is None else mask * image + (1 - mask) * base
        with autocast(device):
            feats = ctx.extractor(blended, wanted)
        terms = {
            "style": job.style_weight * weighted_style(spec, job.style_losses, feats, mask),
            **image_terms(spec, feats, blended, styled_content, structure),
            "combined": COMBINED_WEIGHT * combined(feats[COMBINED_LAYER]),
        }
        loss = sum(terms.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0, 1)
        losses = {k: float(v.detach()) for k, v in terms.items()}
        losses["total"] = float(loss.detach())
        ctx.run.losses = losses
        ctx.run.iterations += 1
        level = ctx.reporter.plan.levels - 1  # the refinement is the plan's last level
        ctx.reporter(level, index * job.iterations + it, job.steps, losses, image)
    return image.detach()


def refine_steps_per_tile(options: StyleOptions) -> int:
    return max(1, round(REFINE_ITERATIONS * PRESET_SCALE[options.quality] / 2))


def tile_overlap(tile_side: int) -> int:
    return min(TILE_OVERLAP, tile_side // 4)


def refine_plan(height: int, width: int, tile_side: int) -> list[Tile]:
    """The tiles the refinement of a height x width image goes through."""
    return plan_tiles(height, width, tile_side, tile_overlap(tile_side))
