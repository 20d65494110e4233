"""Running a method on content/style pairs and measuring each result: its SSIM to the content
and GMD to the style (`nst_engine.metrics`), its time and its peak memory. What `nst bench`,
`nst bench --frontier` and the judging of the gallery's networks measure, measured one way.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from .. import gallery
from ..api import stylize
from ..arrays import as_array, from_float, resize_tensor, to_float, to_numpy, to_tensor
from ..errors import InputError
from ..fast import FastStyleModel
from ..images import load_image
from ..instant import apply_model
from ..metrics import gram_differences, mean_gram_difference, sharpness_ratio, ssim
from ..options import StyleOptions
from ..workspace import Workspace

# The pairs measured when none are named: files of the examples folder or gallery paintings.
DEFAULT_PAIRS = (
    ("chelsea.png", "starry_night.jpg"),
    ("rocket.jpg", "shipwreck.jpg"),
    ("chelsea.png", "woman-with-hat-matisse.jpg"),
)
# A short run at the measured size before timing: it loads kernels, caches and the allocator.
WARMUP_ITERATIONS = 3
# The name of `proposed` without dynamic weighting (its ablation), as a runner and a curve.
FIXED = "proposed-fixed"

Runner = Callable[..., np.ndarray]


@dataclass
class Pair:
    name: str
    content: np.ndarray
    style: np.ndarray
    content_path: Path
    style_name: str
    painting: str | None = None  # the gallery painting the style is, if it is one


@dataclass
class Point:
    """One result: its similarity to the content, its style match and what it cost."""

    ssim: float
    gmd: float
    layers: dict[str, float]
    seconds: float


@dataclass
class MethodFigures:
    """One method's figures per square size: every repeat's time, the first repeat's scores
    and output per pair, and the peak memory over them all."""

    seconds: dict[int, list[float]] = field(default_factory=dict)
    peak_mb: dict[int, float] = field(default_factory=dict)
    ssim: dict[int, list[float]] = field(default_factory=dict)
    gmd: dict[int, list[float]] = field(default_factory=dict)
    gmd_layers: dict[int, list[dict[str, float]]] = field(default_factory=dict)
    outputs: dict[int, list[np.ndarray]] = field(default_factory=dict)


def score(content: np.ndarray, output: np.ndarray, style: np.ndarray) -> Point:
    """The output's SSIM to the content and GMD (with each layer's) to the style, untimed."""
    layers = gram_differences(output, style)
    return Point(ssim(content, output), mean_gram_difference(layers), layers, 0.0)


def square(image: np.ndarray, side: int) -> np.ndarray:
    """Centre-crop to a square and resize to side x side (the paper's square sizes)."""
    h, w = image.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = to_float(image[top : top + s, left : left + s])
    out = to_numpy(resize_tensor(to_tensor(crop[..., :3]), (side, side))).clip(0, 1)
    return from_float(out, np.uint8)


def example_folder() -> Path:
    """The example images, installed with the package (nst_engine.examples is the
    repository's examples/ folder, shipped as package data)."""
    try:
        folder = resources.files("nst_engine.examples")
    except ModuleNotFoundError:
        folder = None
    if folder is None or not all((folder / name).is_file() for pair in DEFAULT_PAIRS
                                 for name in pair):  # fmt: skip
        raise InputError(
            "the example images are not installed with this package; name the pairs to "
            "measure with --pairs CONTENT:STYLE [CONTENT:STYLE ...]"
        )
    return Path(str(folder))


def load_pairs(
    specs: list[str] | None, defaults: Sequence[tuple[str, str]] = DEFAULT_PAIRS
) -> list[Pair]:
    """Pairs as CONTENT:STYLE, each a path or (STYLE) a painting of the gallery by name; by
    default `defaults`, files of the examples folder or paintings."""
    if not specs:
        examples = example_folder()
        specs = [f"{examples / c}:{s if gallery.find(s) else examples / s}" for c, s in defaults]
    pairs = []
    for spec in specs:
        content_path, sep, style = spec.rpartition(":")
        if not sep:
            raise ValueError(f"--pairs takes CONTENT:STYLE, got {spec!r}")
        painting = gallery.resolve(style) or gallery.painting_of_file(style)
        style_image = load_image(painting.read_bytes() if painting else style)
        pairs.append(
            Pair(
                f"{Path(content_path).stem}+{Path(style).stem}",
                as_array(load_image(content_path))[..., :3],
                as_array(style_image)[..., :3],
                Path(content_path),
                Path(style).stem,
                painting.name if painting else None,
            )
        )
    return pairs


class PeakMemory:
    """Peak GPU memory allocated, or peak resident set size sampled every 5 ms on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.peak = device, 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        import psutil  # here, as in nst_engine.devices: its Linux backend needs `resource`

        process = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, process.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()

    @property
    def mb(self) -> float:
        return self.peak / 2**20


def make_runner(
    method: str, workspace: Workspace, iterations: int | None, dynamic_weighting: bool = True
) -> Runner:
    """runner(pair, content, strength, iterations=...) -> the styled content."""

    def run(pair: Pair, content: np.ndarray, strength: float, iterations=iterations) -> np.ndarray:
        options = StyleOptions(
            method=method,
            strength=strength,
            iterations=iterations,
            dynamic_weighting=dynamic_weighting,
            size=max(content.shape[:2]),  # the table's sizes are working sizes: optimise whole
        )
        return stylize(content, pair.style, options=options, workspace=workspace).image

    return run


def make_fast_runner(models: dict[str, FastStyleModel], device: str) -> Runner:
    """The fast row: the pair's style network in one pass (its strength was set in training)."""

    def run(pair: Pair, content: np.ndarray, strength: float, iterations=None) -> np.ndarray:
        return apply_model(
            models[pair.style_name], content, options=StyleOptions(device=device)
        ).image

    return run


def measure_point(
    runner: Runner, pair: Pair, content: np.ndarray, strength: float
) -> tuple[Point, np.ndarray]:
    """One timed run of `runner` on the pair's square content, measured."""
    tic = time.perf_counter()
    out = runner(pair, content, strength)
    seconds = time.perf_counter() - tic
    point = score(content, out, pair.style)
    point.seconds = seconds
    return point, out


def _measure_size(
    runner: Runner,
    inputs: list[tuple[Pair, np.ndarray]],
    size: int,
    repeats: int,
    device: torch.device,
    fig: MethodFigures,
) -> None:
    """One method at one size into `fig`: every repeat timed, the first one scored."""
    # Warm-up: a short run at the same sizes loads kernels, caches and the allocator.
    runner(*inputs[0], 0.5, iterations=WARMUP_ITERATIONS)
    fig.seconds[size], fig.ssim[size], fig.gmd[size], fig.outputs[size] = [], [], [], []
    fig.gmd_layers[size] = []
    peak = 0.0
    for pair, content in inputs:
        for repeat in range(repeats):
            with PeakMemory(device) as memory:
                tic = time.perf_counter()
                out = runner(pair, content, 0.5)
                fig.seconds[size].append(time.perf_counter() - tic)
            peak = max(peak, memory.mb)
            if repeat == 0:
                point = score(content, out, pair.style)
                fig.outputs[size].append(out)
                fig.ssim[size].append(point.ssim)
                fig.gmd_layers[size].append(point.layers)
                fig.gmd[size].append(point.gmd)
    fig.peak_mb[size] = peak


def measure_methods(
    runners: dict[str, Runner],
    pairs: list[Pair],
    sizes: list[int],
    repeats: int,
    device: torch.device,
    log: Callable[[str], None],
    speed_sizes: Sequence[int] = (),
) -> dict[str, MethodFigures]:
    """Every runner on every pair at each square size (`speed_sizes`: `proposed` alone)."""
    figures = {name: MethodFigures() for name in runners}
    for size in [*sizes, *speed_sizes]:
        # The style goes in whole: GMD judges the output against this same image, and the
        # engine scales the style to each level itself.
        inputs = [(p, square(p.content, size)) for p in pairs]
        for name, runner in runners.items():
            if size not in sizes and name != "proposed":
                continue
            fig = figures[name]
            _measure_size(runner, inputs, size, repeats, device, fig)
            log(
                f"{name:>9} {size}x{size}: median {statistics.median(fig.seconds[size]):.3f}s "
                f"SSIM {np.mean(fig.ssim[size]):.3f} GMD {np.mean(fig.gmd[size]):.3f} "
                f"peak {fig.peak_mb[size]:.0f} MB"
            )
    return figures


def strength_curve(
    runners: dict[str, Runner], pairs: list[Pair], size: int, strengths: tuple[float, ...]
) -> dict[str, list[dict[str, float]]]:
    """Mean SSIM and GMD per strength, for each runner given (for gatys and for proposed
    with fixed weights, the strength sets the fixed style weight)."""
    curve: dict[str, list[dict[str, float]]] = {}
    for name, runner in runners.items():
        points = []
        for strength in strengths:
            s_vals, g_vals = [], []
            for pair in pairs:
                content = square(pair.content, size)
                point = score(content, runner(pair, content, strength), pair.style)
                s_vals.append(point.ssim)
                g_vals.append(point.gmd)
            points.append(
                {
                    "strength": strength,
                    "ssim": float(np.mean(s_vals)),
                    "gmd": float(np.mean(g_vals)),
                    "ssim_spread": float(np.ptp(s_vals)),
                }
            )
        curve[name] = points
    return curve


def full_resolution_rows(
    photos: Sequence[Path],
    style_path: Path,
    qualities: Sequence[str],
    device: str,
    style_scale: float = 1.0,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Each photograph styled whole at each quality, as a user's layer is: the end-to-end
    time, peak memory, SSIM to the content at full resolution, GMD at the stroke scale, and
    the sharpness ratio (metrics.sharpness_ratio)."""
    workspace = Workspace(device)
    style = load_image(style_path)
    rows = []
    for photo in photos:
        content = load_image(photo)
        height, width = content.shape[:2]
        for quality in qualities:
            options = StyleOptions(quality=quality, style_scale=style_scale)
            with PeakMemory(workspace.device) as peak:
                tic = time.perf_counter()
                result = stylize(content, style, options=options, workspace=workspace)
                seconds = time.perf_counter() - tic
            row = {
                "photo": Path(photo).name,
                "size": f"{width}x{height}",
                "megapixels": round(width * height / 1e6, 1),
                "quality": quality,
                "work_size": result.stats["work_size"],
                "full_resolution": result.stats["full_resolution"],
                "seconds": round(seconds, 1),
                "peak_mb": round(peak.mb),
                "ssim": round(ssim(content, result.image), 3),
                "gmd": round(
                    mean_gram_difference(gram_differences(result.image, style, style_scale)), 3
                ),  # fmt: skip
                "sharpness": round(sharpness_ratio(result.image, content), 3),
            }
            log(json.dumps(row))
            rows.append(row)
    return rows
