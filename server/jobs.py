"""Jobs and their scheduler, apart from any transport.

A Job is what the engine needs (arrays, style file bytes, options); the Scheduler runs jobs
one at a time on its device, from a bounded queue, and reports each job's life as plain
events (Queued, Started, Progressed, Previewed, Finished, Failed) on the job's own queue. The
gRPC service (service.py) turns requests into Jobs and events into messages through the wire
mapping (wire.py); nothing here knows of protobuf or gRPC. A failure is a JobError whose code
is a status name ("INVALID_ARGUMENT", "CANCELLED", ...) that a transport maps to its own.

The worker thread survives whatever the engine raises, and every job, whatever its end,
leaves one log line with its timings.
"""

from __future__ import annotations

import collections
import itertools
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from nst_proto import CHUNK_BYTES, MAX_MESSAGE_BYTES  # the contract's constants, no transport

from nst_engine.options import DEFAULT_MAX_PIXELS, MIN_SIDE, Progress

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
    progress: Progress
    eta: float  # seconds left, 0 when unknown


@dataclass(frozen=True)
class Previewed:
    rgb: np.ndarray  # H x W x 3 uint8


@dataclass(frozen=True)
class Finished:
    image: np.ndarray
    stats: dict[str, Any]


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

    content: np.ndarray  # H x W x C, uint8, uint16 or float32
    mask: np.ndarray | None  # H x W float32 in [0, 1]
    styles: list[bytes]  # encoded style files, decoded by the worker (headers checked)
    options: dict[str, Any]  # StyleOptions fields, checked by StyleOptions.validate
    model: str = ""  # a style network of the library, instead of styles
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
        method = f"fast:{self.model}" if self.model else self.options.get("method", "proposed")
        return (
            f"{width}x{height}x{channels} {self.sample_type or self.content.dtype.name} "
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


# engine(content, styles, mask, options, progress, cancel) -> (image, stats)
Engine = Callable[..., tuple[np.ndarray, dict]]


class WorkspaceEngine:
    """The real engine, nst_engine.stylize, in one Workspace for the server's life (its
    device's extractors and style targets are reused from job to job)."""

    def __init__(self, device: str) -> None:
        from nst_engine.workspace import Workspace

        self.workspace = Workspace(device)

    def warm_up(self) -> None:
        """Load the default extractor now, so the first job does not pay for it."""
        from nst_engine.options import StyleOptions

        self.workspace.extractor("vgg19", StyleOptions().pooling)

    def plan(self, height: int, width: int, options: dict[str, Any], fast: bool):
        """The engine's plan of such a job on this device (nst_engine.api.JobPlan)."""
        import nst_engine
        from nst_engine.api import plan_job

        return plan_job(
            (height, width),
            options=nst_engine.StyleOptions(**options),
            device=self.workspace.device,
            fast=fast,
        )

    def calibration(self) -> tuple[np.ndarray, list[np.ndarray], dict[str, Any]]:
        """A small job that measures this device's speed before any real job has: two
        gallery paintings at 384 pixels, a few iterations (seconds on a 2-core CPU)."""
        from nst_engine import gallery
        from nst_engine.images import load_image

        content = load_image(gallery.find("ia-orana-maria").read_bytes())
        style = load_image(gallery.find("starry-night").read_bytes())
        return content, [style], {"size": 384, "quality": "draft", "iterations": 8}

    def __call__(self, content, styles, mask, options, progress, cancel):
        import nst_engine

        options = dict(options)
        model = options.pop("model", None)
        result = nst_engine.stylize(
            content,
            styles if model is None else None,
            mask=mask,
            options=nst_engine.StyleOptions(**options),
            progress=progress,
            cancel=cancel,
            model=model,
            workspace=self.workspace,
        )
        return result.image, result.stats


def style_error(exc: Exception, index: int) -> JobError:
    from nst_engine.errors import NSTError

    if isinstance(exc, NSTError):  # its message names the style already
        return invalid(str(exc))
    return invalid(f"style image {index + 1}: cannot decode it ({type(exc).__name__}: {exc})")


def check_style(data: bytes, index: int, max_pixels: int) -> None:
    """The style file's header, against the limit, when its upload is complete: a bomb is
    refused before the job is queued, and nothing of it is decoded."""
    from nst_engine.images import read_header

    try:
        read_header(data, f"style image {index + 1}", max_pixels)
    except Exception as exc:  # noqa: BLE001 - hostile bytes raise anything
        raise style_error(exc, index) from None


def decode_style(data: bytes, index: int, max_pixels: int) -> np.ndarray:
    """Encoded image bytes -> array, every failure as INVALID_ARGUMENT."""
    from nst_engine.images import load_image

    try:
        return load_image(data, max_pixels, name=f"style image {index + 1}")
    except Exception as exc:  # noqa: BLE001 - decoders raise anything on hostile bytes
        raise style_error(exc, index) from None


class Scheduler:
    """One worker thread runs jobs one at a time; at most `max_queue` jobs wait."""

    def __init__(
        self,
        limits: Limits,
        device: str,
        engine: Engine | None = None,
        library: StyleLibrary | None = None,
        speed: SpeedRecord | None = None,
    ) -> None:
        self.limits = limits
        self.device = device
        self.engine = engine or WorkspaceEngine(device)
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
        if self.speed.jobs("optimise") == 0 and hasattr(self.engine, "calibration"):
            with self.lock:
                self.calibrate = True
                self.lock.notify_all()

    def estimate(self, width: int, height: int, options: dict[str, Any], model: str) -> Estimate:
        """The expected time of a job (checked by wire.check_spec) from the measured speed,
        and whether its working size fits in memory. Jobs ahead are not counted."""
        from nst_engine.errors import InputError, TooLarge

        if not hasattr(self.engine, "plan"):
            return Estimate(0.0, 0, 0, 0)
        try:
            job = self.engine.plan(height, width, options, fast=bool(model))
        except TooLarge as exc:
            return Estimate(0.0, 0, 0, 0, refused=str(exc), fits=exc.fits)
        except InputError as exc:
            return Estimate(0.0, 0, 0, 0, refused=str(exc))
        kind = "fast" if model else "optimise"
        seconds = self.speed.seconds(kind, job.plan.pixels)
        height, width = job.work
        return Estimate(seconds or 0.0, self.speed.jobs(kind), width, height)

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
                self._free_memory()

    def _calibrate(self) -> None:
        """Run the engine's calibration job and record its speed; a job that arrives
        meanwhile cancels it (then the first real job is the first measurement).

        It runs twice, recorded the second time: the first run pays for what later jobs
        with the same style reuse (its style targets), which would read as a slower device
        (on a 2-core CPU 9.9 s against 6.4 s for the same job)."""
        tic = time.perf_counter()
        try:
            content, styles, options = self.engine.calibration()
            options = {**options, "device": self.device}
            for iterations in (2, options.get("iterations")):
                _, stats = self.engine(
                    content,
                    styles,
                    None,
                    {**options, "iterations": iterations},
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

    def _free_memory(self) -> None:
        """What a finished job held goes back to the device (best effort)."""
        try:
            import torch

            from nst_engine.memory import free_cached

            free_cached(torch.device(self.device))
        except Exception:  # noqa: BLE001 - freeing is best effort
            pass

    def _reporter(self, job: Job) -> Callable[[Progress], None]:
        """The engine's progress callback: a Progressed event every iteration, and a preview
        every `preview_interval` seconds when the job asked for them."""
        last_preview = [0.0]

        def report(p: Progress) -> None:
            fraction = float(p.fraction)
            eta = p.elapsed * (1 - fraction) / fraction if fraction > 0 else 0.0
            job.events.put(Progressed(p, eta))
            now = time.perf_counter()
            if job.preview_max_side and now - last_preview[0] >= job.preview_interval:
                last_preview[0] = now
                image = p.preview(job.preview_max_side)
                if image is not None:
                    job.events.put(Previewed(np.ascontiguousarray(image, dtype=np.uint8)))

        return report

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
                decode_style(data, i, self.limits.max_pixels) for i, data in enumerate(job.styles)
            ]
            decode_seconds = time.perf_counter() - tic
            options = {**job.options, "device": self.device, "max_pixels": self.limits.max_pixels}
            if job.model:
                if self.library is None:
                    raise invalid(NO_LIBRARY)
                options["model"] = self.library.get(job.model)
            image, stats = self.engine(
                job.content,
                styles,
                job.mask,
                options,
                self._reporter(job),
                lambda: job.cancelled.is_set(),
            )
            image = np.asarray(image)
            if image.shape != job.content.shape or image.dtype != job.content.dtype:
                raise JobError(
                    "INTERNAL",
                    f"the engine returned {image.shape} {image.dtype}; expected "
                    f"{job.content.shape} {job.content.dtype}",
                )
            final = Finished(image, stats)
            outcome = "done"
            self.speed.record(stats)
        except JobError as exc:
            outcome = f"{exc.code}: {exc.message}"
            final = Failed(exc)
        except Exception as exc:  # noqa: BLE001 - mapped to a status for the caller
            error = engine_error(exc, job)
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


def engine_error(exc: Exception, job: Job) -> JobError:
    """The status an engine exception ends the job with."""
    from nst_engine.errors import Cancelled, InputError, NSTError
    from nst_engine.memory import is_out_of_memory

    if isinstance(exc, Cancelled):
        return JobError("CANCELLED", f"the job was {job.cancel_reason}")
    if isinstance(exc, InputError):
        return invalid(str(exc))
    if is_out_of_memory(exc):
        size = job.options.get("size") or max(job.content.shape[:2])
        return JobError(
            "RESOURCE_EXHAUSTED",
            f"the device ran out of memory styling at {size} pixels on the long side; lower "
            f"the working size (e.g. size {max(MIN_SIDE, int(size) // 2)}) or the quality and "
            "try again",
        )
    if isinstance(exc, NSTError):
        return JobError("FAILED_PRECONDITION", str(exc))
    return JobError("INTERNAL", f"internal error: {type(exc).__name__}: {exc}")
