"""Jobs and their scheduler, apart from any transport.

A Job is what a client asked for (arrays, style file bytes, checked StyleOptions, a library
model's name); the Scheduler runs jobs one at a time on its device, from a bounded queue,
through an Engine (the Protocol below; the real one is engine.WorkspaceEngine), and reports
each job's life as plain events (Queued, Started, Progressed, Previewed, Finished, Failed) on
the job's own queue. A job of several frames (an animation) runs through the engine's
sequence driver as one job: each frame's Finished goes out as soon as the frame is done, and
its progress covers the whole sequence. The gRPC service (service.py) turns requests into
Jobs and events into messages through the wire mapping (wire.py); nothing here knows of
protobuf, gRPC or torch.
A failure is a JobError whose code is a status name ("INVALID_ARGUMENT", "CANCELLED", ...)
that a transport maps to its own.

The worker thread survives whatever the engine raises, and every job, whatever its end,
leaves one log line with its timings.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from nst_proto import CHUNK_BYTES, MAX_MESSAGE_BYTES  # the contract's constants, no transport

from nst_engine.options import DEFAULT_MAX_PIXELS, Progress, StyleOptions

from .library import StyleLibrary
from .speed import SpeedRecord

log = logging.getLogger("nst_server")


@dataclass(frozen=True)
class Limits:
    max_pixels: int = DEFAULT_MAX_PIXELS  # content as sent, and each style file as given
    max_styles: int = 8
    max_style_bytes: int = 64 << 20
    max_iterations: int = 5000
    max_queue: int = 4
    chunk_bytes: int = CHUNK_BYTES  # the largest Chunk.data accepted
    result_chunk_bytes: int = CHUNK_BYTES  # the ResultChunk.data size sent
    max_message_bytes: int = MAX_MESSAGE_BYTES
    upload_idle_seconds: float = 60.0  # a job whose upload stalls this long is dropped
    # frames x width x height of an animation: what the server holds of one job's upload
    # (4 GiB of 4-channel float frames); a job over it is refused by its spec alone.
    max_sequence_pixels: int = 4 * DEFAULT_MAX_PIXELS


NO_LIBRARY = "this server has no style library; send a style image"


class JobError(Exception):
    """Ends one job (and its call) with `code`, a status name, and a message for a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> JobError:
    return JobError("INVALID_ARGUMENT", message)


# What a job's events are: each goes on the job's queue, in this order of life.
@dataclass(frozen=True)
class Queued:
    position: int  # jobs ahead, the running one included
    job_id: str


@dataclass(frozen=True)
class Started:
    job_id: str
    device: str
    queued_seconds: float


@dataclass(frozen=True)
class Progressed:
    progress: Progress  # in a sequence: step, total_steps, done and elapsed over all frames
    eta: float  # seconds left, 0 when unknown
    frame: int = 0  # the frame being painted (0-based) of how many
    frames: int = 1


@dataclass(frozen=True)
class Previewed:
    rgb: np.ndarray  # H x W x 3 uint8
    frame: int = 0
    frames: int = 1


@dataclass(frozen=True)
class Finished:
    image: np.ndarray
    stats: dict[str, Any]
    frame: int = 0  # which frame of a sequence this is the result of, of how many
    frames: int = 1

    @property
    def last(self) -> bool:
        """The job's last result: its call ends after it."""
        return self.frame + 1 >= self.frames


@dataclass(frozen=True)
class Failed:
    error: JobError


@dataclass(frozen=True)
class Gone:
    """The call went away or cancelled: whoever follows the job stops waiting."""


_job_ids = itertools.count(1)


@dataclass(eq=False)  # identity: jobs are found in the queue by `is`
class Job:
    """One job from the moment its upload is complete until its call ends."""

    content: np.ndarray  # H x W x C, uint8, uint16 or float32 (a sequence's first frame)
    mask: np.ndarray | None  # H x W float32 in [0, 1]
    styles: list[bytes]  # encoded style files, decoded by the worker (headers checked)
    options: StyleOptions  # checked by the wire layer; device and max_pixels are the server's
    model: str = ""  # the id of a style network of the library, instead of styles
    frames: np.ndarray | None = None  # N x H x W x C: an animation of N > 1 frames
    independent: bool = False  # a sequence's frames styled each alone
    sample_type: str = ""  # as the client named it ("u8", "u16", "f32"), for the log
    preview_max_side: int = 0
    preview_interval: float = 1.0
    upload_seconds: float = 0.0
    id: str = field(default_factory=lambda: str(next(_job_ids)))
    events: queue.Queue = field(default_factory=queue.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    cancel_reason: str = "cancelled by the client"
    enqueued_at: float = field(default_factory=time.perf_counter)
    position: int = -1
    ran: bool = False  # reached the worker (which then logs its line)

    def cancel(self, reason: str) -> None:
        if not self.cancelled.is_set():
            self.cancel_reason = reason
            self.cancelled.set()

    def describe(self) -> str:
        """The job's shape for its log line."""
        height, width, channels = self.content.shape
        method = f"fast:{self.model}" if self.model else self.options.method
        frames = "" if self.frames is None else f"frames={len(self.frames)} "
        if frames and self.independent:
            frames += "independent "
        return (
            f"{frames}{width}x{height}x{channels} {self.sample_type or self.content.dtype.name} "
            f"styles={len(self.styles)} "
            f"mask={'yes' if self.mask is not None else 'no'} method={method}"
        )


@dataclass(frozen=True)
class Estimate:
    """What a job would take, answered before it is sent (the dialog's expected time)."""

    seconds: float  # expected engine time; 0 while this server has measured nothing
    measured_jobs: int  # how many of its jobs (or its calibration) the speed comes from
    work_width: int  # the working size the job would run at
    work_height: int
    refused: str = ""  # the job would be refused: why, in words a person can act on
    fits: int = 0  # with a refusal for memory: the largest working size that fits


@dataclass(frozen=True)
class Work:
    """What the engine runs: a job's pixels, its styles decoded, the server's options."""

    content: np.ndarray
    styles: list[np.ndarray]
    mask: np.ndarray | None
    options: StyleOptions
    model: object | None = None  # the library's loaded network, for a fast job
    frames: np.ndarray | None = None  # a sequence (N x H x W x C; content is frame 0)
    temporal: bool = True  # a sequence's frames styled together (else each alone)


@dataclass(frozen=True)
class Plan:
    """The engine's plan of a job before it runs, or why it would refuse it."""

    pixels: int = 0  # the work, as the speed record counts it
    work_width: int = 0
    work_height: int = 0
    refused: str = ""
    fits: int = 0  # with a refusal for memory: the largest working size that fits
    later_frame: float = 1.0  # a temporal sequence's later frame: its cost as a share of this


class Engine(Protocol):
    """What the scheduler needs of an engine (engine.WorkspaceEngine; a test's fake)."""

    def __call__(
        self, work: Work, progress: Callable[[Progress], None], cancel: Callable[[], bool]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Run one job: (image of the content's shape and dtype, stats)."""

    def sequence(
        self,
        work: Work,
        progress: Callable[[int, Progress], None],
        cancel: Callable[[], bool],
    ) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        """Run a job of several frames (work.frames) in order, temporally unless
        work.temporal is off: each frame's (image, stats) as soon as it is done; progress
        gets the frame's index and the frame's own Progress. What the sequence needs that
        this engine lacks is raised by the call, before any frame is painted."""

    def check_style(self, data: bytes, index: int, max_pixels: int) -> None:
        """A style file's header against the pixel limit, before the job is queued, so a
        bomb is refused undecoded; raises JobError (INVALID_ARGUMENT)."""

    def decode_style(self, data: bytes, index: int, max_pixels: int) -> np.ndarray:
        """A style file's bytes as an array; raises JobError (INVALID_ARGUMENT)."""

    def plan(self, height: int, width: int, options: StyleOptions, fast: bool) -> Plan:
        """The plan of such a job on this engine's device, refusals as Plan.refused."""

    def calibration(self) -> Work | None:
        """A small job that measures the device's speed (None: this engine has none)."""

    def warm_up(self) -> None:
        """Load now what the first job would otherwise wait for."""

    def free_memory(self) -> None:
        """Give what a finished job held back to the device (best effort)."""

    def job_error(self, exc: Exception, job: Job) -> JobError:
        """The status an exception of the engine or the style library ends `job` with (one
        place for the mapping); an exception it does not know is INTERNAL."""


class Scheduler:
    """One worker thread runs jobs one at a time; at most `max_queue` jobs wait."""

    def __init__(
        self,
        limits: Limits,
        device: str,
        engine: Engine,
        library: StyleLibrary | None = None,
        speed: SpeedRecord | None = None,
    ) -> None:
        self.limits = limits
        self.device = device
        self.engine = engine
        self.library = library
        self.speed = speed or SpeedRecord(device)
        self.calibrate = False  # set by request_calibration; run when no job waits
        self.lock = threading.Condition()
        self.waiting: collections.deque[Job] = collections.deque()
        self.running: Job | None = None
        self.closed = False
        self.jobs_done = 0
        self.worker = threading.Thread(target=self._work, name="nst-worker", daemon=True)
        self.worker.start()

    # ---- queue -------------------------------------------------------------------------
    def check_room(self) -> None:
        with self.lock:
            self._check_room()

    def _check_room(self) -> None:
        if self.closed:
            raise JobError("UNAVAILABLE", "the server is shutting down")
        if len(self.waiting) >= self.limits.max_queue:
            raise JobError(
                "RESOURCE_EXHAUSTED",
                f"the server's queue is full ({len(self.waiting)} jobs waiting behind the "
                "running one); try again when they have finished",
            )

    def submit(self, job: Job) -> None:
        with self.lock:
            self._check_room()
            self.waiting.append(job)
            ahead = len(self.waiting) - 1 + (self.running is not None)
            job.position = ahead
            job.events.put(Queued(ahead, job.id))
            self.lock.notify_all()

    def withdraw(self, job: Job) -> None:
        """Drop a job that has not started (its call ended)."""
        with self.lock:
            if job in self.waiting:
                self.waiting.remove(job)
                self._announce_positions()
                self.lock.notify_all()

    def _announce_positions(self) -> None:
        """Tell every waiting job its place, when it changed."""
        base = 1 if self.running is not None else 0
        for i, job in enumerate(self.waiting):
            if job.position != base + i:
                job.position = base + i
                job.events.put(Queued(base + i, job.id))

    def status(self) -> tuple[int, bool]:
        with self.lock:
            return len(self.waiting), self.running is not None

    def request_calibration(self) -> None:
        """Measure the device's speed with a small job when no job waits, unless jobs of
        this device were measured before (the record outlives the server)."""
        if self.speed.jobs("optimise") == 0:
            with self.lock:
                self.calibrate = True
                self.lock.notify_all()

    def estimate(
        self,
        width: int,
        height: int,
        options: StyleOptions,
        model: str,
        frames: int = 1,
        temporal: bool = True,
    ) -> Estimate:
        """The expected time of a job (checked by wire.check_spec) from the measured speed,
        and whether its working size fits in memory. Jobs ahead are not counted; a
        sequence's later frames cost the engine's share of the first when temporal."""
        plan = self.engine.plan(height, width, options, fast=bool(model))
        if plan.refused:
            return Estimate(0.0, 0, 0, 0, refused=plan.refused, fits=plan.fits)
        kind = "fast" if model else "optimise"
        seconds = self.speed.seconds(kind, plan.pixels) or 0.0
        later = plan.later_frame if temporal else 1.0
        seconds *= 1 + (max(frames, 1) - 1) * later
        return Estimate(seconds, self.speed.jobs(kind), plan.work_width, plan.work_height)

    def _options(self, options: StyleOptions, **changes: Any) -> StyleOptions:
        """A job's options on this server: its device and its pixel limit."""
        return dataclasses.replace(
            options, device=self.device, max_pixels=self.limits.max_pixels, **changes
        )

    def close(self, reason: str = "cancelled: the server is shutting down") -> None:
        """Refuse new jobs, cancel the running one and every waiting one."""
        with self.lock:
            self.closed = True
            for job in self.waiting:
                job.cancel(reason)
                job.events.put(Failed(JobError("UNAVAILABLE", reason)))
            self.waiting.clear()
            if self.running is not None:
                self.running.cancel(reason)
            self.lock.notify_all()

    def join(self, timeout: float | None = None) -> None:
        self.worker.join(timeout)

    # ---- worker ------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self.lock:
                while not self.waiting and not self.closed and not self.calibrate:
                    self.lock.wait()
                if self.closed and not self.waiting:
                    return
                self.calibrate = False  # asked for or not: a waiting job goes first
                job = self.waiting.popleft() if self.waiting else None
                if job is not None:
                    if job.cancelled.is_set():
                        continue
                    self.running = job
                    self._announce_positions()
            if job is None:  # woken for the calibration alone
                self._calibrate()
                continue
            try:
                self._run(job)
            except BaseException:  # noqa: BLE001 - the worker must survive anything
                log.error("job %s: worker error\n%s", job.id, traceback.format_exc())
                job.events.put(Failed(JobError("INTERNAL", "internal error")))
            finally:
                with self.lock:
                    self.running = None
                    self.jobs_done += 1
                self.engine.free_memory()

    def _calibrate(self) -> None:
        """Run the engine's calibration job and record its speed; a job that arrives
        meanwhile cancels it (then the first real job is the first measurement).

        It runs twice, recorded the second time: the first run pays for what later jobs
        with the same style reuse (its style targets), which would read as a slower device
        (on a 2-core CPU 9.9 s against 6.4 s for the same job)."""
        tic = time.perf_counter()
        try:
            work = self.engine.calibration()
            if work is None:
                return
            for iterations in (2, work.options.iterations):
                options = self._options(work.options, iterations=iterations)
                _, stats = self.engine(
                    dataclasses.replace(work, options=options),
                    lambda p: None,
                    lambda: bool(self.waiting) or self.closed,
                )
        except Exception as exc:  # noqa: BLE001 - cancelled, or no weights: no estimate yet
            log.info("speed calibration skipped: %s: %s", type(exc).__name__, exc)
            return
        self.speed.record(stats)
        log.info(
            "speed calibration: %s planned pixels in %.2fs (%.2fs with warming up)",
            stats.get("planned_pixels"),
            float(stats.get("seconds", 0)),
            time.perf_counter() - tic,
        )

    def _reporter(self, job: Job) -> Callable[..., None]:
        """The engine's progress callback: a Progressed event every iteration, and a preview
        every `preview_interval` seconds when the job asked for them (with the frame being
        painted, for a sequence: see _sequence_reporter)."""
        last_preview = [0.0]

        def report(p: Progress, frame: int = 0, frames: int = 1) -> None:
            fraction = float(p.fraction)
            eta = p.elapsed * (1 - fraction) / fraction if fraction > 0 else 0.0
            job.events.put(Progressed(p, eta, frame, frames))
            now = time.perf_counter()
            if job.preview_max_side and now - last_preview[0] >= job.preview_interval:
                last_preview[0] = now
                image = p.preview(job.preview_max_side)
                if image is not None:
                    rgb = np.ascontiguousarray(image, dtype=np.uint8)
                    job.events.put(Previewed(rgb, frame, frames))

        return report

    def _sequence_reporter(
        self, job: Job, frames: int, later_share: float
    ) -> Callable[[int, Progress], None]:
        """The sequence driver's progress callback: each frame's Progress made the whole
        sequence's, counted in steps (iterations). The frames begun count the steps they
        ran and plan (their own total_steps); each frame still to come is foretold as the
        second frame's plan, or before it begins as `later_share` of the first's."""
        report = self._reporter(job)
        started = time.perf_counter()
        ran: list[int] = []  # the steps each frame begun has run so far
        plans: list[int] = []  # the steps each frame begun plans

        def frame_progress(index: int, p: Progress) -> None:
            for steps in (ran, plans):
                del steps[index:]
                steps.extend([steps[-1] if steps else 1] * (index - len(steps)))  # said nothing
            done = sum(ran)
            ran.append(max(p.step, 1))
            plans.append(max(p.total_steps, p.step, 1))
            later = plans[1] if len(plans) > 1 else max(1, round(plans[0] * later_share))
            total = done + plans[index] + (frames - index - 1) * later
            overall = dataclasses.replace(
                p,
                step=done + p.step,
                total_steps=total,
                done=(done + p.step) / total,
                elapsed=time.perf_counter() - started,
            )
            report(overall, index, frames)

        return frame_progress

    def _model(self, job: Job) -> object | None:
        """The library's loaded network a fast job names (None for an optimisation job)."""
        if not job.model:
            return None
        if self.library is None:
            raise invalid(NO_LIBRARY)
        return self.library.get(job.model)

    def _run(self, job: Job) -> None:
        job.ran = True
        started = time.perf_counter()
        queued_seconds = started - job.enqueued_at
        job.events.put(Started(job.id, self.device, queued_seconds))
        outcome = "INTERNAL: the worker was interrupted"
        stats: dict[str, Any] = {}
        decode_seconds = 0.0
        final = None  # handed to the call after the log line is written
        try:
            tic = time.perf_counter()
            styles = [
                self.engine.decode_style(data, i, self.limits.max_pixels)
                for i, data in enumerate(job.styles)
            ]
            decode_seconds = time.perf_counter() - tic
            work = Work(
                job.content, styles, job.mask, self._options(job.options), self._model(job),
                job.frames, not job.independent,
            )  # fmt: skip
            if job.frames is None:
                image, stats = self.engine(work, self._reporter(job), job.cancelled.is_set)
                final = Finished(_checked(image, job), stats)
                self.speed.record(stats)
            else:
                final = self._sequence(job, work)
                stats = final.stats
            outcome = "done"
        except JobError as exc:
            outcome = f"{exc.code}: {exc.message}"
            final = Failed(exc)
        except Exception as exc:  # noqa: BLE001 - mapped to a status for the caller
            error = self.engine.job_error(exc, job)
            outcome = f"{error.code}: {error.message}"
            if error.code == "INTERNAL":
                log.error("job %s failed:\n%s", job.id, traceback.format_exc())
            final = Failed(error)
        finally:
            phases = " ".join(
                f"{k.removeprefix('seconds_')}={v}s"
                for k, v in stats.items()
                if k.startswith("seconds_")
            )
            log.info(
                "job %s %s device=%s queued=%.2fs upload=%.2fs decode=%.2fs model_load=%ss %s "
                "total=%.2fs peak_mb=%s outcome=%s",
                job.id,
                job.describe(),
                stats.get("device", self.device),
                queued_seconds,
                job.upload_seconds,
                decode_seconds,
                stats.get("model_load_seconds", "?"),
                phases or "-",
                time.perf_counter() - started,
                stats.get("peak_memory_mb", "?"),
                outcome,
            )
            if final is not None:
                job.events.put(final)

    def _sequence(self, job: Job, work: Work) -> Finished:
        """A job of several frames through the engine's sequence driver: each frame but the
        last goes to the call as soon as it is done; the last is returned (the call ends
        with it, after the log line). The first frame's speed is recorded (a later one
        runs a share of its iterations, from the frame before)."""
        frames = len(job.frames)
        height, width = job.content.shape[:2]
        plan = self.engine.plan(height, width, work.options, fast=work.model is not None)
        share = plan.later_frame if work.temporal else 1.0
        results = self.engine.sequence(
            work, self._sequence_reporter(job, frames, share), job.cancelled.is_set
        )
        for index, (image, stats) in enumerate(results):
            finished = Finished(_checked(image, job), stats, index, frames)
            if index == 0:
                self.speed.record(stats)
            if finished.last:
                return finished
            job.events.put(finished)
            if job.cancelled.is_set():  # between frames: the next one is not begun
                raise JobError("CANCELLED", f"the job was {job.cancel_reason}")
        raise JobError("INTERNAL", f"the engine returned fewer than the {frames} frames")


def _checked(image: np.ndarray, job: Job) -> np.ndarray:
    """The engine's result, which must have the content's shape and dtype."""
    image = np.asarray(image)
    if image.shape != job.content.shape or image.dtype != job.content.dtype:
        raise JobError(
            "INTERNAL",
            f"the engine returned {image.shape} {image.dtype}; expected "
            f"{job.content.shape} {job.content.dtype}",
        )
    return image
