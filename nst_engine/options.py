"""The engine's public value types: what a job asks for, what it reports, what it returns."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")  # and "cuda:N"

Method = Literal["proposed", "gatys"]
METHODS: tuple[str, ...] = ("proposed", "gatys")
QUALITY_PRESETS: tuple[str, ...] = ("draft", "normal", "high")
POOLINGS: tuple[str, ...] = ("max", "avg")
# How the full-resolution result is made from the working-size one (docs/full-resolution.md):
# "detail" puts the photograph's own finer detail back onto the upsampled painting; "refine"
# does that, then optimises a few more iterations at full resolution, in tiles; "auto" is
# "refine" at the high quality and "detail" otherwise.
FULL_RESOLUTION: tuple[str, ...] = ("auto", "detail", "refine")
# The long side the optimisation runs at when `size` is not given (never above the image's
# own): the result comes back at the image's full resolution whatever it is.
WORK_SIDES = {"draft": 512, "normal": 768, "high": 1024}
# How many iterations a quality preset runs, as a multiple of the "normal" preset's.
PRESET_SCALE = {"draft": 0.5, "normal": 1.0, "high": 2.0}
STYLE_SCALES = (0.25, 4.0)
MIN_SIDE = 32  # the smallest image side VGG-19's pooling layers leave something of
# The largest image taken, as given (files are checked in their header, before decoding):
# a 67-megapixel photograph. The server's default limit is the same.
DEFAULT_MAX_PIXELS = 8192 * 8192


@dataclass(frozen=True)
class StyleOptions:
    """Everything a stylisation job can be told, with the defaults a user gets.

    `size` is the working size: the long side in pixels the optimisation runs at (None: the
    quality's WORK_SIDES, at most the content's own). The result always has the content's
    full resolution, made as `full_resolution` says.
    `style_scale` is the stroke size: the style image is matched at `style_scale` times the
    size of the result, so 0.5 paints strokes half as large and 2 twice as large, at any
    resolution (1: the painting's own proportions, whatever the image's size).
    `strength` in [0, 1] sets how far the result may move from the content; the
    `proposed` method keeps that balance the same across styles (dynamic weighting).
    `iterations` overrides the preset's iteration budget (spread over the levels).
    `dynamic_weighting=False` fixes the style weight from `strength` instead (for comparison).
    """

    method: Method = "proposed"
    strength: float = 0.5
    size: int | None = None
    quality: str = "normal"
    style_scale: float = 1.0
    full_resolution: str = "auto"
    iterations: int | None = None
    preserve_color: bool = False
    dynamic_weighting: bool = True
    style_weights: tuple[float, ...] | None = None
    seed: int = 0
    device: str = "auto"
    extractor: str = "vgg19"
    # Max pooling, the network as trained and as the GMD metric measures it: optimising the
    # statistics of the same network that judges them matched the style better at equal
    # SSIM (docs/benchmarks.md); "avg" gives smoother gradients.
    pooling: Literal["max", "avg"] = "max"
    max_pixels: int = DEFAULT_MAX_PIXELS

    def validate(self) -> None:
        """Raise InputError with a clear message when an option is out of range. The one
        check of the options: the command line, the server and training all call it."""
        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r}: choose one of {', '.join(METHODS)}")
        check_strength(self.strength)
        if self.quality not in QUALITY_PRESETS:
            raise InputError(
                f"unknown quality {self.quality!r}: choose one of {', '.join(QUALITY_PRESETS)}"
            )
        if self.size is not None and self.size < MIN_SIDE:
            raise InputError(f"size must be at least {MIN_SIDE} pixels, got {self.size}")
        low, high = STYLE_SCALES
        if not (math.isfinite(self.style_scale) and low <= self.style_scale <= high):
            raise InputError(
                f"the style scale (stroke size) must be between {low} and {high}, got "
                f"{self.style_scale}"
            )
        if self.full_resolution not in FULL_RESOLUTION:
            raise InputError(
                f"full_resolution must be one of {', '.join(FULL_RESOLUTION)}, got "
                f"{self.full_resolution!r}"
            )
        if self.iterations is not None and self.iterations < 1:
            raise InputError(f"iterations must be at least 1, got {self.iterations}")
        if self.pooling not in POOLINGS:
            raise InputError(f"pooling must be 'max' or 'avg', got {self.pooling!r}")
        if not 0 <= self.seed < 2**63:
            raise InputError(f"seed must be between 0 and 2**63 - 1, got {self.seed}")
        check_device(self.device)
        if self.style_weights is not None:
            if any(not math.isfinite(w) or w < 0 for w in self.style_weights) or (
                sum(self.style_weights) <= 0
            ):
                raise InputError("style weights must be non-negative and not all zero")

    def work_side(self, long_side: int) -> int:
        """The long side the optimisation runs at for an image whose long side is this."""
        return min(long_side, self.size or WORK_SIDES[self.quality])

    def finishing(self) -> str:
        """How the full-resolution result is made: "detail" or "refine"."""
        if self.full_resolution != "auto":
            return self.full_resolution
        return "refine" if self.quality == "high" else "detail"


def check_strength(value: float) -> None:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InputError(f"strength must be between 0 and 1, got {value}")


def check_sequence(method: str, temporal: bool, fast: bool) -> None:
    """InputError for frames that cannot be styled together (nst_engine.sequence): that is
    the proposed method's or a trained network's; any method styles frames one by one."""
    if temporal and not fast and method != "proposed":
        raise InputError(
            f"frames are styled together by the proposed method or a trained model, not "
            f"{method}; style each frame alone (independent) to use it"
        )


def check_device(name: str) -> None:
    """InputError unless `name` is a device choice this program knows (see devices.py)."""
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise InputError(f"device must be auto, cpu, cuda, cuda:N or mps, got {name!r}")


@dataclass
class Progress:
    """One progress report, sent once per iteration.

    `losses` holds each weighted loss term by name (content, style, styled_content,
    combined, tv) and their total. `preview(max_side)` renders the current image as
    8-bit RGB, only when asked, because it costs a device-to-host copy.
    """

    level: int
    levels: int
    iteration: int
    iterations: int
    losses: dict[str, float]
    elapsed: float
    step: int = 0
    total_steps: int = 0
    # The share of the work done when iterations differ in cost (context.Plan), else None.
    done: float | None = None
    _preview: Callable[[int], np.ndarray] | None = field(default=None, repr=False)

    @property
    def fraction(self) -> float:
        """Fraction of the whole job's work done, in [0, 1]: `done`, or the iterations'."""
        if self.done is not None:
            return min(max(self.done, 0.0), 1.0)
        return self.step / self.total_steps if self.total_steps else 0.0

    def preview(self, max_side: int = 256) -> np.ndarray | None:
        """The current image, downscaled to `max_side`, as HxWx3 uint8 (None if unavailable)."""
        return self._preview(max_side) if self._preview else None


@dataclass
class StyleResult:
    """A finished job: the image in the content's own dtype and channels, and its figures."""

    image: np.ndarray
    stats: dict[str, float | int | str] = field(default_factory=dict)
    # The style weight each coarse-to-fine level ended with (the proposed method): what a
    # frame sequence holds for its later frames, so the weight does not drift (flicker).
    level_weights: tuple[float, ...] = ()
    # The SSIM to the content that dynamic weighting ended at (the proposed method): what a
    # frame sequence's later frames steer to, so they keep the first frame's balance.
    similarity: float | None = None


ProgressCallback = Callable[[Progress], None]
CancelCheck = Callable[[], bool]
