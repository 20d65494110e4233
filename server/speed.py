"""How fast this server styles, measured from its own jobs: the dialog's expected time.

A job's work is counted as the engine plans it (`nst_engine.api.plan_job`): the pixels of
every iteration, which the time of an optimisation follows closely (see
docs/gimp-plugin.md for the check), or the pixels of one pass for a trained network. Each
finished job adds (pixels, seconds) to its kind's record; an estimate is the pixels of the
job asked about at the recent jobs' seconds per pixel (their sums' ratio, so long jobs
count for more than short ones).

The record is kept per device in a JSON file in the server's state folder, so a restarted
server estimates at once; a server that has run nothing yet measures itself once with a
small calibration job (Scheduler.calibrate) instead of guessing a constant.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("nst_server")

KINDS = ("optimise", "fast")
KEEP = 12  # the most recent jobs per kind that the speed is taken from


def kind_of(stats: Mapping[str, Any]) -> str:
    """The record a finished job's engine figures belong to."""
    return "fast" if str(stats.get("method", "")).startswith("fast:") else "optimise"


class SpeedRecord:
    """Recent (planned pixels, engine seconds) per kind of job, for one device."""

    def __init__(self, device: str, path: Path | None = None, keep: int = KEEP) -> None:
        self.device = device
        self.path = path
        self.keep = keep
        self._lock = threading.Lock()
        self._jobs: dict[str, list[list[float]]] = {kind: [] for kind in KINDS}
        self._load()

    def _load(self) -> None:
        if self.path is None or not self.path.is_file():
            return
        try:
            saved = json.loads(self.path.read_text()).get(self.device, {})
            for kind in KINDS:
                rows = [[float(p), float(s)] for p, s in saved.get(kind, []) if p > 0 and s > 0]
                self._jobs[kind] = rows[-self.keep :]
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("ignoring the speed record %s: %s", self.path, exc)

    def _save(self) -> None:
        if self.path is None:
            return
        try:
            saved = json.loads(self.path.read_text()) if self.path.is_file() else {}
            if not isinstance(saved, dict):
                saved = {}
        except (OSError, ValueError):
            saved = {}
        saved[self.device] = self._jobs
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(saved))
            os.replace(tmp, self.path)
        except OSError as exc:  # an estimate is a convenience: never fail a job for it
            log.warning("cannot save the speed record %s: %s", self.path, exc)

    def record(self, stats: Mapping[str, Any]) -> None:
        """Add a finished job from the engine's figures (planned_pixels, seconds and
        model_load_seconds, which a later job does not pay again)."""
        try:
            pixels = float(stats["planned_pixels"])
            seconds = float(stats["seconds"]) - float(stats.get("model_load_seconds", 0.0))
        except (KeyError, TypeError, ValueError):
            return
        if pixels <= 0 or seconds <= 0:
            return
        kind = kind_of(stats)
        with self._lock:
            self._jobs[kind] = [*self._jobs[kind], [pixels, seconds]][-self.keep :]
            self._save()

    def jobs(self, kind: str) -> int:
        """How many jobs the kind's speed is measured on."""
        with self._lock:
            return len(self._jobs[kind])

    def seconds(self, kind: str, pixels: int) -> float | None:
        """Expected engine seconds for a job of `pixels` planned pixels; None before any job
        of the kind was measured."""
        with self._lock:
            rows = self._jobs[kind]
            if not rows:
                return None
            return pixels * sum(s for _, s in rows) / sum(p for p, _ in rows)
