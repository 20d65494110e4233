"""A frame sequence split into shots that several workers style at once, and put together.

A shot is a run of consecutive frames, styled as one moving painting (stylize_sequence);
each shot begins OVERLAP frames before the one before it ends. In those shared frames the
two shots' results are cross-faded, the later shot's weight rising from frame to frame, so a
cut between two independently started paintings becomes a dissolve over the overlap: the
strokes are not the same on either side, but no frame jumps from one to the other.
(nst_engine.batch_cluster sends the shots to a Ray cluster's workers.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import from_float, to_float
from .errors import InputError

SHOT_LENGTH = 24  # frames a shot: a second of film, long enough for the strokes to settle
OVERLAP = 4  # frames two neighbouring shots share and cross-fade


@dataclass(frozen=True)
class Shot:
    """Frames [start, stop) of the sequence. Shots more than twice as long as their overlap
    share each frame with one neighbour at most."""

    index: int
    start: int
    stop: int

    def __str__(self) -> str:
        return f"frames {self.start + 1} to {self.stop}"


def plan_shots(count: int, length: int = SHOT_LENGTH, overlap: int = OVERLAP) -> list[Shot]:
    """Shots of `length` frames covering `count` frames, each sharing `overlap` frames with
    the next; the last one is stretched rather than left shorter than the overlap."""
    check_shots(length, overlap)
    shots, start = [], 0
    while True:
        stop = min(count, start + length)
        if count - stop <= overlap:  # what is left fits in this shot
            stop = count
        shots.append(Shot(len(shots), start, stop))
        if stop == count:
            return shots
        start = stop - overlap


def check_shots(length: int, overlap: int) -> None:
    """InputError unless shots of `length` frames can share `overlap` with each neighbour
    and no frame is in three shots."""
    if overlap < 1 or length <= 2 * overlap:
        raise InputError(
            f"a shot of {length} frames cannot share {overlap} with the next: give shots "
            "more than twice as long as the overlap, and an overlap of at least 1"
        )


def blend_weight(frame: int, later: Shot, earlier: Shot) -> float:
    """The later shot's share of a frame both shots hold: 1/(k+1), 2/(k+1) ... k/(k+1)
    across an overlap of k frames."""
    shared = earlier.stop - later.start
    return (frame - later.start + 1) / (shared + 1)


def cross_fade(earlier: np.ndarray, later: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) * earlier + weight * later, in the images' own sample type."""
    mixed = (1 - weight) * to_float(earlier) + weight * to_float(later)
    return from_float(mixed, earlier.dtype)


class ShotJoiner:
    """Takes each shot's frames as the shot arrives, in any order; gives back each frame of
    the sequence as soon as it is final (a shared frame once both its shots are in)."""

    def __init__(self, shots: list[Shot]) -> None:
        self.shots = shots
        self.results: dict[int, list[np.ndarray]] = {}

    def add(self, shot: Shot, frames: list[np.ndarray]) -> list[tuple[int, np.ndarray]]:
        """The frames (index in the sequence, image) that `shot`'s arrival makes final."""
        self.results[shot.index] = frames
        final = []
        for index in range(shot.start, shot.stop):
            image = self._frame(index)
            if image is not None:
                final.append((index, image))
        return final

    def _frame(self, index: int) -> np.ndarray | None:
        """Frame `index` if every shot holding it is in, else None."""
        holders = [s for s in self.shots if s.start <= index < s.stop]
        if any(s.index not in self.results for s in holders):
            return None
        images = [self.results[s.index][index - s.start] for s in holders]
        if len(images) == 1:
            return images[0]
        earlier, later = holders
        return cross_fade(*images, blend_weight(index, later, earlier))
