"""The engine's one entry point, `stylize`, and everything around the optimisation itself:
input checks, the mask's bounding box, the working size, colour preservation, alpha, sample
types, and the guarantee that unmasked pixels come back bit-identical."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from .arrays import (
    as_array,
    fit_long_side,
    from_float,
    luminance,
    mask_array,
    resize_tensor,
    split_channels,
    to_numpy,
    to_tensor,
)
from .context import Plan, Reporter, Run, RunContext
from .devices import peak_memory_mb
from .errors import Cancelled, InputError, NSTError, TooLarge
from .features import FeatureExtractor
from .fullres import add_detail, refine_plan, refine_steps_per_tile, refine_tiles
from .memory import free_cached, gib, is_out_of_memory, largest_side, needed_bytes, usable_bytes
from .options import MIN_SIDE, CancelCheck, ProgressCallback, StyleOptions, StyleResult
from .temporal import Prior, TemporalGuide, blend_fast
from .transfer import planned, run_gatys, run_proposed
from .workspace import Workspace

if TYPE_CHECKING:
    from .fast import FastStyleModel

ImageLike = np.ndarray | Image.Image
RUNNERS = {"proposed": run_proposed, "gatys": run_gatys}
# The largest refinement tile: past it, more pixels a tile gain nothing but memory.
MAX_TILE_SIDE = 2048


def stylize(
    content: ImageLike,
    styles: ImageLike | Sequence[ImageLike] | None,
    *,
    mask: np.ndarray | Image.Image | None = None,
    options: StyleOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    model: FastStyleModel | None = None,
    workspace: Workspace | None = None,
    temporal: TemporalGuide | None = None,
) -> StyleResult:
    """Stylise `content` with one or more `styles`.

    content: HxWxC array (C = 1..4; uint8, uint16 or float32) or a PIL image. The result has
      the same shape, dtype and channels; an alpha channel is carried through unchanged.
    styles: one image or a sequence (blended by options.style_weights, equal by default).
    mask: HxW soft mask in [0, 1] (float) or 0..255 (uint8); where it is 0 the result's
      pixels are bit-identical to the content's, and only its bounding box (plus a margin)
      is processed.
    options.size: the long side the styling is computed at (None: the content's own size);
      the result is always returned at the content's size.
    progress: called once per iteration with a Progress. cancel: polled once per iteration;
      when it returns True the job stops and Cancelled is raised.
    model: a trained fast-mode network (`fast.load_model`) to apply in one pass instead of
      optimising; then `styles` is None and method, strength and iterations are ignored.
    workspace: where the job runs (its device) and what it reuses from earlier jobs there
      (loaded extractors, style targets); default: a new one on options.device.
    temporal: the frame before, in an animation (see nst_engine.sequence and .temporal).
    Raises InputError for unusable input, WeightsUnavailable, Cancelled.
    """
    started = time.perf_counter()
    options = options or StyleOptions()
    options.validate()
    original, style_list, soft_mask = _checked(content, styles, mask, model, options)
    height, width = original.shape[:2]
    if soft_mask is not None and not soft_mask.any():
        return StyleResult(original.copy(), {"outcome": "empty mask: nothing to stylise"})
    box = _bounding_box(soft_mask, height, width)
    top, bottom, left, right = box

    workspace = workspace or Workspace(options.device)
    device = workspace.device
    rgb, _ = split_channels(original)
    crop = rgb[top:bottom, left:right]
    crop_mask = None if soft_mask is None else soft_mask[top:bottom, left:right]
    job = plan_job(
        crop.shape[:2], long_side=max(height, width), options=options, device=device,
        fast=model is not None, later_frame=temporal is not None,
    )  # fmt: skip

    tic = time.perf_counter()
    extractor = None if model else workspace.extractor(options.extractor, options.pooling)
    load_seconds = time.perf_counter() - tic
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    content_t = resize_tensor(to_tensor(crop, device), job.work)
    run, reporter = Run(), Reporter(job.plan, progress, cancel)
    prior = None if temporal is None else temporal.prior(box, job.work, device)
    if model is not None:
        if cancel is not None and cancel():
            raise Cancelled("the job was cancelled")
        ctx, result_t = None, blend_fast(model.render(content_t), prior)
    else:
        ctx = _context(workspace, extractor, style_list, options, reporter, run, prior)
        mask_t = None if crop_mask is None else _work_mask(crop_mask, job.work, device)
        result_t = RUNNERS[options.method](ctx, content_t, mask_t)
    if job.work != crop.shape[:2]:
        result_t = _full_resolution(result_t, crop, crop_mask, job, run, ctx)
    styled = to_numpy(result_t.clamp(0, 1))
    if options.preserve_color:
        styled = keep_colors(crop, styled)
    result = _like_original(_pasted(rgb, styled, box, crop_mask), original, soft_mask)

    seconds = {
        "model_load_seconds": round(load_seconds, 3),
        "seconds": round(time.perf_counter() - started, 3),
    }
    stats = _stats(options, model, device, job, crop.shape[:2], run, seconds)
    return StyleResult(result, stats, tuple(run.level_weights), run.similarity)


def _work_mask(mask: np.ndarray, work: tuple[int, int], device: torch.device) -> torch.Tensor:
    """The mask of the crop at the working size, on the device."""
    return resize_tensor(to_tensor(mask[..., None], device), work).clamp(0, 1)


def _context(
    workspace: Workspace,
    extractor: FeatureExtractor,
    style_list: list[np.ndarray],
    options: StyleOptions,
    reporter: Reporter,
    run: Run,
    prior: Prior | None = None,
) -> RunContext:
    """The optimisation's context: the style images on the device, and the job's own random
    generator seeded from options.seed (the process-wide one is never touched)."""
    device = workspace.device
    styles = [(_digest(s), to_tensor(split_channels(s)[0], device)) for s in style_list]
    weights = list(options.style_weights or [1.0] * len(style_list))
    generator = torch.Generator(device="cpu").manual_seed(options.seed)
    return RunContext(
        extractor,
        workspace.style_targets,
        styles,
        weights,
        options,
        device,
        reporter,
        run,
        generator,
        prior,
    )


def _stats(
    options: StyleOptions,
    model: FastStyleModel | None,
    device: torch.device,
    job: JobPlan,
    crop: tuple[int, int],
    run: Run,
    seconds: dict[str, float],
) -> dict[str, float | int | str]:
    """The figures a result reports: what ran, where, at what size, and what it took."""
    stats: dict[str, float | int | str] = {
        "method": options.method if model is None else f"fast:{model.name}",
        "device": str(device),
        "work_size": f"{job.work[1]}x{job.work[0]}",
        "full_resolution": _finishing(job, crop),
        "iterations": run.iterations,
        "planned_pixels": job.plan.pixels,
        **seconds,
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        "outcome": "done",
    }
    stats.update({f"seconds_{k}": round(v, 3) for k, v in run.timings.items()})
    stats.update({f"loss_{k}": v for k, v in run.losses.items()})
    return stats


def _full_resolution(
    painting: torch.Tensor,
    crop: np.ndarray,
    crop_mask: np.ndarray | None,
    job: JobPlan,
    run: Run,
    ctx: RunContext | None,
) -> torch.Tensor:
    """The working-size painting at the crop's full resolution: with the crop's detail band
    put back, then refined in tiles when the plan says so (`ctx` is the optimisation's)."""
    tic = time.perf_counter()
    full = to_tensor(crop)  # full resolution stays on the CPU; tiles visit the device
    result = add_detail(painting, full)
    run.timings["detail"] = time.perf_counter() - tic
    if job.refine and ctx is not None:
        full_mask = None if crop_mask is None else to_tensor(crop_mask[..., None])
        result = _refined(ctx, full, result, full_mask, job.tile_side)
    return result


def _finishing(job: JobPlan, crop: tuple[int, int]) -> str:
    """How the full-resolution result was made, for the stats."""
    if job.work == tuple(crop):
        return "none"
    return "refine" if job.refine else "detail"


def _pasted(
    rgb: np.ndarray,
    styled: np.ndarray,
    box: tuple[int, int, int, int],
    crop_mask: np.ndarray | None,
) -> np.ndarray:
    """`rgb` with `styled` in the box, blended through the mask's part in it."""
    top, bottom, left, right = box
    out = rgb.copy()
    if crop_mask is None:
        out[top:bottom, left:right] = styled
    else:
        m = crop_mask[..., None]
        out[top:bottom, left:right] = m * styled + (1 - m) * rgb[top:bottom, left:right]
    return out


@dataclass(frozen=True)
class JobPlan:
    """What a job will run, known before it starts: the working size (h, w), the side of
    the full-size refinement's tiles, whether it refines, and the work as pixels (Plan)."""

    work: tuple[int, int]
    tile_side: int
    refine: bool
    plan: Plan


def plan_job(
    shape: tuple[int, int],
    *,
    long_side: int | None = None,
    options: StyleOptions,
    device: torch.device,
    fast: bool = False,
    later_frame: bool = False,
) -> JobPlan:
    """The plan of a job on an image (or the mask's box of one) of `shape` (h, w), whose
    whole image has `long_side`: the one place that decides the working size, so `stylize`
    and a time estimate made before the job (the server's Estimate) agree.

    A trained network paints the whole image in one pass unless a size is asked for; its
    Plan counts the pixels of that pass. Raises TooLarge when an asked-for working size
    does not fit in the device's free memory."""
    long_side = long_side or max(shape)
    work_long = (options.size or long_side) if fast else options.work_side(long_side)
    scale = min(1.0, work_long / long_side)
    work = fit_long_side(*shape, max(MIN_SIDE, round(max(shape) * scale)))
    if fast:
        return JobPlan(work, 0, False, Plan(1, 1, work[0] * work[1]))
    work, tile_side = _memory_plan(options, shape, work, device)
    plan = planned(options.method, *work, options, later_frame)
    refine = work != tuple(shape) and options.finishing() == "refine"
    if refine:
        tiles, per_tile = refine_plan(*shape, tile_side), refine_steps_per_tile(options)
        plan = Plan(
            plan.steps + len(tiles) * per_tile,
            plan.levels + 1,
            plan.pixels + sum(t.height * t.width for t in tiles) * per_tile,
        )
    return JobPlan(work, tile_side, refine, plan)


def _memory_plan(
    options: StyleOptions, full: tuple[int, int], work: tuple[int, int], device: torch.device
) -> tuple[tuple[int, int], int]:
    """(working size, refinement tile side) that fit in the device's free memory.

    A working size chosen by quality shrinks to what fits; one the caller asked for is
    refused, naming the size that fits. Tiles are as large as fits, at most the image."""
    need, budget = needed_bytes(work[0] * work[1], device), usable_bytes(device)
    fits = largest_side(device, max(work) / min(work), budget)
    if need > budget:
        if options.size is not None or fits < 4 * MIN_SIDE:
            raise TooLarge(
                f"styling at {max(work)} pixels on the long side needs about {gib(need)} of "
                f"memory and {device} has {gib(budget)} to spare; use a working size of "
                f"{fits} pixels or less",
                fits,
            )
        work = fit_long_side(*work, fits)
    tile_side = max(4 * MIN_SIDE, min(max(full), MAX_TILE_SIDE, largest_side(device, 1.0, budget)))
    return work, tile_side


def _refined(
    ctx: RunContext,
    full: torch.Tensor,
    start: torch.Tensor,
    full_mask: torch.Tensor | None,
    tile_side: int,
) -> torch.Tensor:
    """refine_tiles, once more with tiles half as large if the device runs out of memory."""
    for attempt in range(2):
        try:
            return refine_tiles(ctx, full, start, full_mask, tile_side)
        except Exception as exc:
            if not is_out_of_memory(exc) or attempt == 1 or tile_side // 2 < 4 * MIN_SIDE:
                if is_out_of_memory(exc):
                    raise NSTError(
                        f"{ctx.device} ran out of memory refining at full resolution, "
                        f"even in tiles of {tile_side} pixels; use full_resolution 'detail' "
                        "or a lower quality"
                    ) from None
                raise
            free_cached(ctx.device)
            tile_side //= 2
            ctx.run.timings["refine_retried_with_tile"] = tile_side
    raise AssertionError("unreachable")


def _checked(
    content: ImageLike,
    styles: ImageLike | Sequence[ImageLike] | None,
    mask: np.ndarray | Image.Image | None,
    model: FastStyleModel | None,
    options: StyleOptions,
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None]:
    """The content, the style images and the mask as arrays, checked (InputError)."""
    original = as_array(content, "the content image")
    height, width = original.shape[:2]
    if height * width > options.max_pixels:
        raise InputError(
            f"the content image is {width}x{height} = {height * width:,} pixels, over "
            f"the limit of {options.max_pixels:,}; scale it down or raise the limit"
        )
    if model is not None and styles is not None:
        raise InputError("give style images or a trained model, not both")
    style_list = [] if model is not None else _style_list(styles, options)
    return original, style_list, mask_array(mask, height, width)


def _style_list(styles: ImageLike | Sequence[ImageLike], options: StyleOptions) -> list:
    items = [styles] if isinstance(styles, np.ndarray | Image.Image) else list(styles)
    if not items:
        raise InputError("at least one style image is needed")
    if options.style_weights is not None and len(options.style_weights) != len(items):
        raise InputError(f"{len(items)} style images but {len(options.style_weights)} weights")
    return [as_array(s, f"style image {i + 1}") for i, s in enumerate(items)]


def _bounding_box(mask, height: int, width: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the mask's support, plus a margin that gives the
    network context around the selection; the whole image without a mask."""
    if mask is None:
        return 0, height, 0, width
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    margin = max(16, round(0.1 * max(rows[-1] - rows[0], cols[-1] - cols[0])))
    top, bottom = max(0, rows[0] - margin), min(height, rows[-1] + 1 + margin)
    left, right = max(0, cols[0] - margin), min(width, cols[-1] + 1 + margin)
    # The extractor needs room for its pooling layers: grow small boxes to 32 pixels.
    top, bottom = _grow(top, bottom, height)
    left, right = _grow(left, right, width)
    return int(top), int(bottom), int(left), int(right)


def _grow(low: int, high: int, limit: int, need: int = 32) -> tuple[int, int]:
    missing = need - (high - low)
    if missing <= 0:
        return low, high
    low = max(0, low - missing // 2 - 1)
    return low, min(limit, max(high, low + need))


def keep_colors(content: np.ndarray, styled: np.ndarray) -> np.ndarray:
    """The styled image's luminance with the content's chroma (YCbCr, BT.601): the style's
    texture and brush strokes, the content's colours."""
    y = luminance(styled)
    y_content = luminance(content)
    return np.clip(content + (y - y_content)[..., None], 0.0, 1.0)


def _like_original(rgb: np.ndarray, original: np.ndarray, mask) -> np.ndarray:
    """Float RGB back to the original's channels and sample type; alpha and every pixel
    where the mask is 0 are copied from the original, bit for bit."""
    channels = original.shape[2]
    colour = luminance(rgb)[..., None] if channels <= 2 else rgb
    result = from_float(colour, original.dtype)
    if channels in (2, 4):
        result = np.concatenate([result, original[:, :, -1:]], axis=2)
    if mask is not None:
        result = np.where((mask > 0)[..., None], result, original)
    return np.ascontiguousarray(result)


def _digest(array: np.ndarray) -> str:
    return hashlib.blake2b(array.tobytes() + str(array.shape).encode(), digest_size=16).hexdigest()
