"""What the drivers of one job share: the job itself (RunContext), the record they fill in
(Run) and the progress reporter (Reporter) with the work it reports against (Plan).

The drivers (transfer.run_proposed, transfer.run_gatys, fullres.refine_tiles) take a
RunContext and the tensors they work on, nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .arrays import fit_long_side, resize_tensor, to_numpy
from .errors import Cancelled
from .features import FeatureExtractor
from .options import CancelCheck, Progress, ProgressCallback, StyleOptions
from .targets import StyleTargets
from .temporal import Prior


@dataclass(frozen=True)
class Plan:
    """What a method runs at a working size: the progress bar's totals.

    `pixels` counts each iteration's image pixels: an iteration costs about in proportion to
    them, so the fraction of them done is the fraction of the time spent (levels at half the
    size are a quarter of the work), which makes the time-left estimate hold across sizes."""

    steps: int
    levels: int
    pixels: int


@dataclass
class Run:
    """What the drivers report: per-level timings and the latest loss terms."""

    timings: dict[str, float] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)
    iterations: int = 0
    style_weight: float | None = None  # where dynamic weighting ended (for the refinement)
    level_weights: list[float] = field(default_factory=list)  # where each level ended
    similarity: float | None = None  # the SSIM dynamic weighting last measured


class Reporter:
    """Calls the progress callback and checks cancellation once per iteration."""

    def __init__(
        self,
        plan: Plan,
        progress: ProgressCallback | None,
        cancel: CancelCheck | None,
    ) -> None:
        self.plan = plan
        self.progress, self.cancel = progress, cancel
        self.start = time.perf_counter()
        self.step = self.pixels = 0

    def __call__(
        self,
        level: int,
        iteration: int,
        iterations: int,
        losses: dict[str, float],
        image: torch.Tensor,
    ) -> None:
        self.step += 1
        self.pixels += image.shape[-2] * image.shape[-1]
        if self.cancel is not None and self.cancel():
            raise Cancelled("the job was cancelled")
        if self.progress is not None:
            snapshot = image.detach()

            def preview(max_side: int) -> np.ndarray:
                side = min(max_side, max(snapshot.shape[-2:]))
                small = resize_tensor(snapshot.float(), fit_long_side(*snapshot.shape[-2:], side))
                return (to_numpy(small).clip(0, 1) * 255 + 0.5).astype(np.uint8)

            self.progress(
                Progress(
                    level=level,
                    levels=self.plan.levels,
                    iteration=iteration,
                    iterations=iterations,
                    losses=losses,
                    elapsed=time.perf_counter() - self.start,
                    step=self.step,
                    total_steps=self.plan.steps,
                    done=self.pixels / self.plan.pixels if self.plan.pixels else None,
                    _preview=preview,
                )
            )


@dataclass(frozen=True)
class RunContext:
    """One optimisation job as its drivers see it.

    `styles` are (digest, 1 x 3 x H x W tensor) pairs on `device`, blended by `weights`;
    `targets` caches their Gram matrices across the jobs of a workspace. `reporter` reports
    progress and raises Cancelled; `run` collects timings and losses for the result's stats.
    `generator` is the job's own source of randomness, seeded from `options.seed`: a job
    draws nothing from torch's process-wide generator, so the same seed gives the same
    result whatever else runs in the process, and the caller's random state is left alone.
    """

    extractor: FeatureExtractor
    targets: StyleTargets
    styles: list[tuple[str, torch.Tensor]]
    weights: list[float]
    options: StyleOptions
    device: torch.device
    reporter: Reporter
    run: Run
    generator: torch.Generator
    # A later frame of an animation: the previous result warped into this one, where that
    # holds, and the style weights to keep (nst_engine.temporal).
    prior: Prior | None = None

    def style_grams(self, side: int) -> dict[str, torch.Tensor]:
        """The blended style Gram targets of the style layers, the styles matched at `side`
        pixels on their long side."""
        return self.targets.grams(
            self.extractor, self.styles, self.weights, side, self.extractor.spec.style
        )
