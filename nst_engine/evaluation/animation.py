"""`nst bench --frames`: animations styled with and without temporal consistency, side by
side (issue 32's targets).

Per sequence: the warping error (metrics.warping_error) of the temporal result, of every
frame styled alone, and of the input frames themselves (the floor); the per-frame mean SSIM
to the frame and GMD to the style; seconds for the first frame and per later frame (after a
warm-up, flow included; a later temporal frame is compared with a later independent one). A
sequence is a folder of frames, an animated file, or `pan`: a camera pan over a photograph
(`camera_pan`), whose true flow is known. A strip of consecutive frames per sequence (input,
alone, temporal) is written beside the table.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..arrays import fit_long_side, from_float, resize_tensor, to_float, to_numpy, to_tensor
from ..frames import read_animation
from ..images import load_image
from ..metrics import gram_difference, ssim, warping_error
from ..options import StyleOptions
from ..sequence import stylize_sequence
from ..workspace import Workspace
from .measure import example_folder

# The targets: temporal warping error at most this share of independent styling's,
# SSIM within this of it, GMD at most this ratio of it, a later frame at most this share
# of an independent frame's time.
WARPING_RATIO = 0.4
SSIM_MARGIN = 0.05
GMD_RATIO = 1.15
TIME_SHARE = 0.6
STRIP_FRAMES = 4


def camera_pan(
    photo: np.ndarray,
    frames: int = 8,
    size: tuple[int, int] = (192, 256),
    step: tuple[float, float] = (3.3, 1.2),
    zoom: float = 1.006,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A window of `size` (h, w) moving `step` (x, y) pixels a frame over `photo` (float RGB)
    while zooming in by `zoom` a frame: the frames, and the true flow from each frame to the
    next (H x W x 2, x then y, in pixels)."""
    h, w = size
    ph, pw = photo.shape[:2]
    source = torch.from_numpy(np.ascontiguousarray(photo.transpose(2, 0, 1)))[None].float()
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    views, out = [], []
    for t in range(frames):
        scale, ox, oy = zoom**-t, 0.06 * pw + step[0] * t, 0.12 * ph + step[1] * t
        views.append((ox, oy, scale))
        x, y = torch.from_numpy(ox + scale * gx), torch.from_numpy(oy + scale * gy)
        grid = torch.stack(((2 * x + 1) / pw - 1, (2 * y + 1) / ph - 1), -1)[None]
        frame = F.grid_sample(source, grid, mode="bicubic", align_corners=False)
        out.append(frame[0].clamp(0, 1).numpy().transpose(1, 2, 0))
    truths = []
    for (ox, oy, s), (nx, ny, ns) in zip(views, views[1:], strict=False):
        # The photograph's point o + s x of frame t lies at (o + s x - o') / s' in frame t+1.
        truths.append(np.stack(((ox + s * gx - nx) / ns - gx, (oy + s * gy - ny) / ns - gy), -1))
    return out, truths


@dataclass
class Row:
    sequence: str
    mode: str  # input, independent or temporal
    warping_error: float
    ssim: float | None = None
    gmd: float | None = None
    first_seconds: float | None = None
    later_seconds: float | None = None


def load_sequence(name: str, size: int, count: int) -> list[np.ndarray]:
    """`count` frames of a sequence (a folder, an animated file, or `pan`) at long side
    `size`, float RGB."""
    if name == "pan":
        photo = to_float(load_image(example_folder() / "rocket.jpg"))
        height, width = fit_long_side(3, 4, size)
        return camera_pan(photo[..., :3], count, (height, width))[0]
    frames = read_animation(Path(name)).frames[:count]
    return [_at(to_float(f)[..., :3], size) for f in frames]


def _at(frame: np.ndarray, size: int) -> np.ndarray:
    t = to_tensor(frame)
    return to_numpy(resize_tensor(t, fit_long_side(*frame.shape[:2], size))).clip(0, 1)


def _styled(frames, style, options, temporal, workspace) -> tuple[list, list[float]]:
    images, seconds, tic = [], [], time.perf_counter()
    for result in stylize_sequence(
        frames, style, options=options, temporal=temporal, workspace=workspace
    ):
        images.append(result.image)
        seconds.append(time.perf_counter() - tic)
        tic = time.perf_counter()
    return images, seconds


def bench_sequence(
    name: str, frames: list[np.ndarray], style: np.ndarray, options: StyleOptions, out: Path
) -> list[Row]:
    """The three rows of one sequence, and its strip (out/NAME.jpg)."""
    workspace = Workspace(options.device)
    # Warm up (the network loaded, the style's Grams at this size cached, the allocator's
    # pools grown) so that neither mode's first frame pays for it.
    next(stylize_sequence(frames[:1], style, options=replace(options, iterations=1),
                          temporal=False, workspace=workspace))  # fmt: skip
    label = Path(name).name
    rows = [Row(label, "input", warping_error(frames, frames))]
    results = {}
    for mode in ("independent", "temporal"):
        images, seconds = _styled(frames, style, options, mode == "temporal", workspace)
        results[mode] = images
        rows.append(
            Row(
                label,
                mode,
                warping_error(images, frames),
                float(np.mean([ssim(f, i) for f, i in zip(frames, images, strict=True)])),
                float(np.mean([gram_difference(i, style) for i in images])),
                seconds[0],
                float(np.mean(seconds[1:])) if len(seconds) > 1 else None,
            )
        )
    _strip([frames, results["independent"], results["temporal"]], out / f"{label}.jpg")
    return rows


def _strip(rows: list[list[np.ndarray]], path: Path) -> None:
    """STRIP_FRAMES consecutive frames of each row, rows stacked: input, alone, temporal."""
    lines = [np.concatenate(row[:STRIP_FRAMES], axis=1) for row in rows]
    picture = from_float(np.clip(np.concatenate(lines, axis=0), 0, 1), np.uint8)
    Image.fromarray(picture).save(path, quality=85)


def targets(rows: list[Row]) -> list[str]:
    """Each of the issue's targets per sequence, met or not, in words."""
    lines = []
    for sequence in dict.fromkeys(r.sequence for r in rows):
        by = {r.mode: r for r in rows if r.sequence == sequence}
        alone, together = by["independent"], by["temporal"]
        checks = {
            f"warping error <= {WARPING_RATIO}x independent": together.warping_error
            <= WARPING_RATIO * alone.warping_error,
            f"SSIM within {SSIM_MARGIN}": abs(together.ssim - alone.ssim) <= SSIM_MARGIN,
            f"GMD <= {GMD_RATIO}x": together.gmd <= GMD_RATIO * alone.gmd,
            f"later frame <= {TIME_SHARE:.0%} of an independent frame": together.later_seconds
            <= TIME_SHARE * alone.later_seconds,
        }
        lines += [f"{sequence}: {k}: {'met' if v else 'NOT met'}" for k, v in checks.items()]
    return lines


def table(rows: list[Row]) -> str:
    def cell(value, digits):
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        "| sequence | frames styled | warping error | SSIM | GMD | s first frame | s later frame |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r.sequence} | {r.mode} | {r.warping_error:.4f} | {cell(r.ssim, 3)} | "
            f"{cell(r.gmd, 3)} | {cell(r.first_seconds, 1)} | {cell(r.later_seconds, 1)} |"
        )
    return "\n".join(lines)


def run_frames(
    sequences: list[str], style: Path, size: int, count: int, options: StyleOptions, out: Path
) -> str:
    """Bench every sequence; writes out/frames.md, frames.json and a strip per sequence."""
    out.mkdir(parents=True, exist_ok=True)
    style_image = to_float(load_image(style))
    rows = []
    for name in sequences:
        frames = load_sequence(name, size, count)
        rows += bench_sequence(name, frames, style_image, options, out)
    text = table(rows) + "\n\n" + "\n".join(targets(rows)) + "\n"
    (out / "frames.md").write_text(text)
    (out / "frames.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return text
