"""The engine's public value types: what a job asks for, what it reports, what it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .errors import InputError

Method = Literal["proposed", "gatys"]
METHODS: tuple[str, ...] = ("proposed", "gatys")
QUALITY_PRESETS: tuple[str, ...] = ("draft", "normal", "high")
# The largest image taken, as given (files are checked in their header, before decoding):
# a 67-megapixel photograph. The server's default limit is the same.
DEFAULT_MAX_PIXELS = 8192 * 8192


@dataclass(frozen=True)
class StyleOptions:
    """Everything a stylisation job can be told, with the defaults a user gets.

    `size` is the long side of the output in pixels (None: the content's own size).
    `strength` in [0, 1] sets how far the result may move from the content; the
    `proposed` method keeps that balance the same across styles (dynamic weighting).
    `iterations` overrides the preset's iteration budget (spread over the levels).
    `dynamic_weighting=False` fixes the style weight from `strength` instead (for comparison).
    """

    method: Method = "proposed"
    strength: float = 0.5
    size: int | None = None
    quality: str = "normal"
    iterations: int | None = None
    preserve_color: bool = False
    dynamic_weighting: bool = True
    style_weights: tuple[float, ...] | None = None
    seed: int = 0
    device: str = "auto"
    extractor: str = "vgg19"
    # Max pooling, the network as trained and as the GMD metric measures it: optimising the
    # statistics of the same network that judges them matched the style better (GMD 0.32
    # against 0.36 at equal SSIM in our measurement); "avg" gives smoother gradients.
    pooling: Literal["max", "avg"] = "max"
    max_pixels: int = DEFAULT_MAX_PIXELS

    def validate(self) -> None:
        """Raise InputError with a clear message when an option is out of range."""
        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r}: choose one of {', '.join(METHODS)}")
        if not 0.0 <= self.strength <= 1.0:
            raise InputError(f"strength must be between 0 and 1, got {self.strength}")
        if self.quality not in QUALITY_PRESETS:
            raise InputError(
                f"unknown quality {self.quality!r}: choose one of {', '.join(QUALITY_PRESETS)}"
            )
        if self.size is not None and self.size < 32:
            raise InputError(f"size must be at least 32 pixels, got {self.size}")
        if self.iterations is not None and self.iterations < 1:
            raise InputError(f"iterations must be at least 1, got {self.iterations}")
        if self.pooling not in ("max", "avg"):
            raise InputError(f"pooling must be 'max' or 'avg', got {self.pooling!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise InputError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.style_weights is not None:
            if any(w < 0 for w in self.style_weights) or sum(self.style_weights) <= 0:
                raise InputError("style weights must be non-negative and not all zero")


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
    _preview: Callable[[int], np.ndarray] | None = field(default=None, repr=False)

    @property
    def fraction(self) -> float:
        """Fraction of the whole job's iterations done, in [0, 1]."""
        return self.step / self.total_steps if self.total_steps else 0.0

    def preview(self, max_side: int = 256) -> np.ndarray | None:
        """The current image, downscaled to `max_side`, as HxWx3 uint8 (None if unavailable)."""
        return self._preview(max_side) if self._preview else None


@dataclass
class StyleResult:
    """A finished job: the image in the content's own dtype and channels, and its figures."""

    image: np.ndarray
    stats: dict[str, float | int | str] = field(default_factory=dict)


ProgressCallback = Callable[[Progress], None]
CancelCheck = Callable[[], bool]
