"""Styling the frames of an animation as one moving painting: `stylize_sequence`.

Each frame goes through `stylize`, so masks, alpha, sample types and colour preservation are
exactly those of a single image. With `temporal` on, every frame after the first is given
the previous frame's result and the optical flow between the two input frames
(nst_engine.temporal): it starts from the previous result warped into place, keeps to it
where the flow is reliable, keeps the balance of style and content the first frame settled
on (its SSIM, steered to with a style weight carried from frame to frame), and needs a share
of the iterations. The style targets are computed once: the Workspace keeps them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .api import ImageLike, stylize
from .arrays import as_array, split_channels
from .errors import InputError
from .flow import motion
from .options import CancelCheck, Progress, StyleOptions, StyleResult, check_sequence
from .temporal import TemporalGuide
from .workspace import Workspace

if TYPE_CHECKING:
    from .fast import FastStyleModel

# Called with the frame's index in the sequence and the frame's own progress.
FrameProgress = Callable[[int, Progress], None]


def stylize_sequence(
    frames: Iterable[ImageLike],
    styles: ImageLike | Sequence[ImageLike] | None,
    *,
    mask: np.ndarray | None = None,
    options: StyleOptions | None = None,
    temporal: bool = True,
    progress: FrameProgress | None = None,
    cancel: CancelCheck | None = None,
    model: FastStyleModel | None = None,
    workspace: Workspace | None = None,
    previous: tuple[ImageLike, ImageLike] | None = None,
) -> Iterator[StyleResult]:
    """Stylise `frames` in order, yielding each frame's result as soon as it is done.

    Arguments as for `stylize` (the mask applies to every frame). temporal: False styles
    every frame alone (the baseline, and what unrelated images want). previous: (the input
    frame before the first, its result), to continue a sequence that was interrupted.
    Raises InputError for a frame of another size than the first, and what `stylize` raises.
    """
    options = options or StyleOptions()
    check_sequence(options.method, temporal, model is not None)
    workspace = workspace or Workspace(options.device)
    before = (
        None if previous is None else tuple(as_array(p, "the previous frame") for p in previous)
    )
    level_weights: tuple[float, ...] = ()
    similarity: float | None = None
    size = None if before is None else before[0].shape[:2]
    for index, frame in enumerate(frames):
        frame = as_array(frame, f"frame {index + 1}")
        if size is not None and frame.shape[:2] != size:
            raise InputError(
                f"frame {index + 1} is {frame.shape[1]}x{frame.shape[0]}, the others "
                f"{size[1]}x{size[0]}: every frame of an animation has one size"
            )
        size = frame.shape[:2]
        guide = None
        if temporal and before is not None:
            guide = _guide(frame, *before, workspace, level_weights, similarity)

        def frame_progress(p: Progress, index: int = index) -> None:
            if progress is not None:
                progress(index, p)

        result = stylize(
            frame, styles, mask=mask, options=options, progress=frame_progress,
            cancel=cancel, model=model, workspace=workspace, temporal=guide,
        )  # fmt: skip
        if options.dynamic_weighting:
            # Frame 1 settles the balance; each later frame steers to frame 1's SSIM and
            # the next starts half way between where this one started and where it ended
            # (geometric mean): the weight integrates the correction across frames.
            # Restarting every frame from frame 1's weight corrected nothing that a
            # frame's few iterations left over, and over a long shot the style built up
            # (docs/animation.md, "Long shots").
            if not level_weights:
                level_weights, similarity = result.level_weights, result.similarity
            else:
                level_weights = tuple(
                    math.sqrt(start * end)
                    for start, end in zip(level_weights, result.level_weights, strict=False)
                )
        before = (frame, result.image)
        yield result


def _guide(
    frame: np.ndarray,
    previous_frame: np.ndarray,
    previous_result: np.ndarray,
    workspace: Workspace,
    level_weights: tuple[float, ...],
    similarity: float | None,
) -> TemporalGuide:
    """What `frame` takes from the one before it: its result and the motion between them,
    and the balance the first frame settled on."""
    current, earlier = split_channels(frame)[0], split_channels(previous_frame)[0]
    return TemporalGuide(
        split_channels(previous_result)[0],
        earlier,
        current,
        motion(current, earlier, workspace.device),
        level_weights,
        similarity,
    )
