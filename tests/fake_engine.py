"""A fake of the scheduler's Engine (server/jobs.py) whose jobs run only as far as a test
lets them: each call announces itself and waits on its own gate, so a test decides when a
job ends and how, with no sleeps. The error mapping and the style decoding are the real
adapter's (server/engine.py), so what a test sees is what a client would."""

from __future__ import annotations

import dataclasses
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from nst_server import engine as adapter
from nst_server.jobs import Job, JobError, Plan, Work

from nst_engine.errors import Cancelled
from nst_engine.options import Progress, StyleOptions

WAIT = 10.0  # seconds a test waits for what must happen at once; only a failure waits this long


@dataclass(eq=False)
class Call:
    """One engine call: the test reads `work`, then `finish()`es it or makes it `fail()`."""

    work: Work
    gate: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    result: np.ndarray | None = None

    def finish(self, result: np.ndarray | None = None) -> None:
        self.result = result
        self.gate.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.gate.set()


class FakeEngine:
    """Implements jobs.Engine. With `hold`, every call waits for its gate (or a cancel);
    without, it returns at once. A call returns 255 - x (1 - x for floats) after one
    Progress, the image the content's shape and dtype. A sequence is one call per frame
    (work.content the frame, work.frames None), made as the previous frame is taken."""

    def __init__(self, hold: bool = True) -> None:
        self.hold = hold
        self.started: queue.Queue[Call] = queue.Queue()
        self.calls: list[Call] = []
        self.sequences: list[Work] = []  # the Work of each sequence, as the scheduler gave it
        self.running = 0
        self.max_running = 0
        self.plan_result = Plan(1000, 64, 48)
        self.calibration_work: Work | None = None
        self.warmed = 0
        self.freed = 0
        self.lock = threading.Lock()

    def next_call(self) -> Call:
        """The next call to start; fails the test if none starts."""
        try:
            return self.started.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError("no engine call started") from None

    def __call__(self, work: Work, progress, cancel) -> tuple[np.ndarray, dict[str, Any]]:
        call = Call(work)
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.calls.append(call)
        self.started.put(call)
        try:
            # waiting on the gate, looking at cancel as the real engine does between steps
            while self.hold and not call.gate.wait(0.005):
                if cancel() and not call.gate.is_set():
                    raise Cancelled("the job was cancelled")
            if call.error is not None:
                raise call.error
            preview = np.zeros((8, 8, 3), np.uint8)
            progress(Progress(0, 1, 1, 1, {"style": 0.5}, 0.1, 1, 1, _preview=lambda side: preview))
            content = work.content
            if call.result is not None:
                image = call.result
            elif content.dtype == np.float32:
                image = 1.0 - content
            else:
                image = (np.iinfo(content.dtype).max - content).astype(content.dtype)
            return image, {"device": "cpu", "planned_pixels": 1000, "seconds": 2.0}
        finally:
            with self.lock:
                self.running -= 1

    def sequence(self, work: Work, progress, cancel):
        self.sequences.append(work)
        for index, frame in enumerate(work.frames):
            frame_work = dataclasses.replace(work, content=frame, frames=None)
            yield self(frame_work, lambda p, index=index: progress(index, p), cancel)

    def check_style(self, data: bytes, index: int, max_pixels: int) -> None:
        adapter.check_style(data, index, max_pixels)

    def decode_style(self, data: bytes, index: int, max_pixels: int) -> np.ndarray:
        return adapter.decode_style(data, index, max_pixels)

    def plan(self, height: int, width: int, options: StyleOptions, fast: bool) -> Plan:
        return self.plan_result

    def calibration(self) -> Work | None:
        return self.calibration_work

    def warm_up(self) -> None:
        self.warmed += 1

    def free_memory(self) -> None:
        self.freed += 1

    def job_error(self, exc: Exception, job: Job) -> JobError:
        return adapter.job_error(exc, job)
