"""The nst.v1 StyleService: receives a job in chunks, queues it, runs it on the engine one at a
time, and streams its events and result back.

A bad request never takes the server down: every field is checked before anything is
allocated from it, every failure ends that call with a status and a message, and the worker
thread survives whatever the engine raises.
"""

from __future__ import annotations

import collections
import gc
import itertools
import logging
import math
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
from nst_proto import PROTOCOL, SERVICE_NAME
from nst_proto import style_pb2 as pb
from nst_proto import style_pb2_grpc as pb_grpc

from nst_engine.options import DEFAULT_MAX_PIXELS

from .library import StyleLibrary

log = logging.getLogger("nst_server")

CHUNK_BYTES = 1 << 20
MAX_MESSAGE_BYTES = 8 << 20
DTYPES = {pb.SAMPLE_TYPE_U8: "<u1", pb.SAMPLE_TYPE_U16: "<u2", pb.SAMPLE_TYPE_F32: "<f4"}
SAMPLE_NAMES = {pb.SAMPLE_TYPE_U8: "u8", pb.SAMPLE_TYPE_U16: "u16", pb.SAMPLE_TYPE_F32: "f32"}
SAMPLE_OF_DTYPE = {
    "uint8": pb.SAMPLE_TYPE_U8,
    "uint16": pb.SAMPLE_TYPE_U16,
    "float32": pb.SAMPLE_TYPE_F32,
}
MIN_SIDE = 32


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


class JobError(Exception):
    """Ends one call with `code` and a message for a person."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> JobError:
    return JobError(grpc.StatusCode.INVALID_ARGUMENT, message)


class QueueFull(JobError):
    pass


_job_ids = itertools.count(1)


@dataclass(eq=False)  # identity: jobs are found in the queue by `is`
class Job:
    """One job from the moment its upload is complete until its call ends."""

    spec: Any  # pb.JobSpec
    content: np.ndarray
    mask: np.ndarray | None
    styles: list[bytes]
    options: dict[str, Any]
    id: str = field(default_factory=lambda: str(next(_job_ids)))
    events: queue.Queue = field(default_factory=queue.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    cancel_reason: str = "cancelled by the client"
    upload_seconds: float = 0.0
    enqueued_at: float = field(default_factory=time.perf_counter)
    preview_max_side: int = 0
    preview_interval: float = 1.0
    position: int = -1
    ran: bool = False  # reached the worker (which then logs its line)

    def cancel(self, reason: str) -> None:
        if not self.cancelled.is_set():
            self.cancel_reason = reason
            self.cancelled.set()


# The events a job's worker hands to its call: ("event", pb.StylizeEvent),
# ("result", (np.ndarray, stats)), ("error", JobError).


def default_engine(content, styles, mask, options, progress, cancel):
    """The real engine: nst_engine.stylize; returns (image, stats).

    A fast-mode job carries its loaded network as options["model"] and no styles.
    """
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
    )
    return result.image, result.stats


def _style_error(exc: Exception, index: int) -> JobError:
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
        raise _style_error(exc, index) from None


def decode_style(data: bytes, index: int, max_pixels: int) -> np.ndarray:
    """Encoded image bytes -> array, every failure as INVALID_ARGUMENT."""
    from nst_engine.images import load_image

    try:
        return load_image(data, max_pixels, name=f"style image {index + 1}")
    except Exception as exc:  # noqa: BLE001 - decoders raise anything on hostile bytes
        raise _style_error(exc, index) from None


class Scheduler:
    """One worker thread runs jobs one at a time; at most `max_queue` jobs wait."""

    def __init__(
        self,
        limits: Limits,
        device: str,
        engine: Callable | None = None,
        library: StyleLibrary | None = None,
    ) -> None:
        self.limits = limits
        self.device = device
        self.engine = engine or default_engine
        self.library = library
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
            raise JobError(grpc.StatusCode.UNAVAILABLE, "the server is shutting down")
        if len(self.waiting) >= self.limits.max_queue:
            raise QueueFull(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the server's queue is full ({len(self.waiting)} jobs waiting behind the "
                "running one); try again when they have finished",
            )

    def submit(self, job: Job) -> None:
        with self.lock:
            self._check_room()
            self.waiting.append(job)
            ahead = len(self.waiting) - 1 + (self.running is not None)
            job.position = ahead
            job.events.put(
                ("event", pb.StylizeEvent(queued=pb.Queued(position=ahead, job_id=job.id)))
            )
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
                job.events.put(
                    ("event", pb.StylizeEvent(queued=pb.Queued(position=base + i, job_id=job.id)))
                )

    def status(self) -> tuple[int, bool]:
        with self.lock:
            return len(self.waiting), self.running is not None

    def close(self, reason: str = "cancelled: the server is shutting down") -> None:
        """Refuse new jobs, cancel the running one and every waiting one."""
        with self.lock:
            self.closed = True
            for job in self.waiting:
                job.cancel(reason)
                job.events.put(("error", JobError(grpc.StatusCode.UNAVAILABLE, reason)))
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
                while not self.waiting and not self.closed:
                    self.lock.wait()
                if self.closed and not self.waiting:
                    return
                job = self.waiting.popleft()
                if job.cancelled.is_set():
                    continue
                self.running = job
                self._announce_positions()
            try:
                self._run(job)
            except BaseException:  # noqa: BLE001 - the worker must survive anything
                log.error("job %s: worker error\n%s", job.id, traceback.format_exc())
                job.events.put(("error", JobError(grpc.StatusCode.INTERNAL, "internal error")))
            finally:
                with self.lock:
                    self.running = None
                    self.jobs_done += 1
                _free_memory()

    def _run(self, job: Job) -> None:
        job.ran = True
        started = time.perf_counter()
        queued_seconds = started - job.enqueued_at
        job.events.put(
            (
                "event",
                pb.StylizeEvent(
                    started=pb.Started(
                        job_id=job.id, device=self.device, queued_seconds=queued_seconds
                    )
                ),
            )
        )
        spec = job.spec
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
            last_preview = [0.0]

            def progress(p) -> None:
                fraction = float(p.fraction)
                eta = p.elapsed * (1 - fraction) / fraction if fraction > 0 else 0.0
                losses = {
                    str(k): float(v) for k, v in p.losses.items() if isinstance(v, int | float)
                }
                job.events.put(
                    (
                        "event",
                        pb.StylizeEvent(
                            progress=pb.ProgressEvent(
                                level=p.level,
                                levels=p.levels,
                                iteration=p.iteration,
                                iterations=p.iterations,
                                step=p.step,
                                total_steps=p.total_steps,
                                fraction=fraction,
                                losses=losses,
                                elapsed=float(p.elapsed),
                                eta=eta,
                            )
                        ),
                    )
                )
                now = time.perf_counter()
                if job.preview_max_side and now - last_preview[0] >= job.preview_interval:
                    last_preview[0] = now
                    image = p.preview(job.preview_max_side)
                    if image is not None:
                        image = np.ascontiguousarray(image, dtype=np.uint8)
                        job.events.put(
                            (
                                "event",
                                pb.StylizeEvent(
                                    preview=pb.Preview(
                                        width=image.shape[1],
                                        height=image.shape[0],
                                        rgb=image.tobytes(),
                                    )
                                ),
                            )
                        )

            options = dict(job.options)
            options["device"] = self.device
            options["max_pixels"] = self.limits.max_pixels
            if spec.model:
                if self.library is None:
                    raise invalid("this server has no style library; send a style image")
                options["model"] = self.library.get(spec.model)
            image, stats = self.engine(
                job.content,
                styles,
                job.mask,
                options,
                progress,
                lambda: job.cancelled.is_set(),
            )
            image = np.asarray(image)
            if (
                image.shape[:2] != (spec.height, spec.width)
                or image.dtype.name not in SAMPLE_OF_DTYPE
            ):
                raise JobError(
                    grpc.StatusCode.INTERNAL,
                    f"the engine returned {image.shape} {image.dtype}; expected "
                    f"{spec.height}x{spec.width}",
                )
            final = ("result", (image, stats))
            outcome = "done"
        except JobError as exc:
            outcome = f"{exc.code.name}: {exc.message}"
            final = ("error", exc)
        except Exception as exc:  # noqa: BLE001 - mapped to a status for the caller
            error = engine_error(exc, job)
            outcome = f"{error.code.name}: {error.message}"
            if error.code == grpc.StatusCode.INTERNAL:
                log.error("job %s failed:\n%s", job.id, traceback.format_exc())
            final = ("error", error)
        finally:
            total = time.perf_counter() - started
            phases = " ".join(
                f"{k.removeprefix('seconds_')}={v}s"
                for k, v in stats.items()
                if k.startswith("seconds_")
            )
            log.info(
                "job %s %dx%dx%d %s styles=%d mask=%s method=%s device=%s queued=%.2fs "
                "upload=%.2fs decode=%.2fs model_load=%ss %s total=%.2fs peak_mb=%s outcome=%s",
                job.id,
                spec.width,
                spec.height,
                spec.channels,
                SAMPLE_NAMES.get(spec.sample_type, "?"),
                len(job.styles),
                "yes" if job.mask is not None else "no",
                f"fast:{spec.model}" if spec.model else job.options.get("method", "proposed"),
                stats.get("device", self.device),
                queued_seconds,
                job.upload_seconds,
                decode_seconds,
                stats.get("model_load_seconds", "?"),
                phases or "-",
                total,
                stats.get("peak_memory_mb", "?"),
                outcome,
            )
            if final is not None:
                job.events.put(final)


def engine_error(exc: Exception, job: Job) -> JobError:
    """The status an engine exception ends the call with."""
    from nst_engine.errors import Cancelled, InputError, NSTError

    if isinstance(exc, Cancelled):
        return JobError(grpc.StatusCode.CANCELLED, f"the job was {job.cancel_reason}")
    if isinstance(exc, InputError):
        return invalid(str(exc))
    if _is_out_of_memory(exc):
        spec = job.spec
        size = job.options.get("size") or max(spec.width, spec.height)
        return JobError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"the device ran out of memory styling at {size} pixels on the long side; lower "
            f"the size (e.g. size {max(MIN_SIDE, int(size) // 2)}) or the quality and try again",
        )
    if isinstance(exc, NSTError):
        return JobError(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
    return JobError(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")


def _is_out_of_memory(exc: BaseException) -> bool:
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:  # pragma: no cover
        pass
    return isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()


def _free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - freeing is best effort
        pass


# ---- request parsing --------------------------------------------------------------------
def check_spec(spec, limits: Limits) -> dict[str, Any]:
    """Check a JobSpec field by field; return the engine options."""
    if spec.sample_type not in DTYPES:
        raise invalid(f"sample_type {spec.sample_type} is not one of u8 (1), u16 (2), f32 (3)")
    if not 1 <= spec.channels <= 4:
        raise invalid(
            f"channels must be 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA); got {spec.channels}"
        )
    if spec.width < MIN_SIDE or spec.height < MIN_SIDE:
        raise invalid(
            f"the content is {spec.width}x{spec.height} pixels; both sides must be at least "
            f"{MIN_SIDE} pixels"
        )
    if spec.width * spec.height > limits.max_pixels:
        raise invalid(
            f"the content is {spec.width}x{spec.height} = {spec.width * spec.height:,} pixels, "
            f"over the server's limit of {limits.max_pixels:,}; scale the layer down or crop it"
        )
    if spec.model:
        if spec.styles:
            raise invalid(
                f"both style images and the style model {spec.model[:80]!r}; a job takes one "
                "or the other"
            )
        return check_options(spec.options, [], limits)
    if not spec.styles:
        raise invalid(
            "no style image: send at least one style (its encoded file bytes), or name a "
            "style model from ListModels"
        )
    if len(spec.styles) > limits.max_styles:
        raise invalid(
            f"{len(spec.styles)} style images; the server takes at most {limits.max_styles}"
        )
    weights = []
    for i, style in enumerate(spec.styles):
        if not 0 < style.byte_size <= limits.max_style_bytes:
            raise invalid(
                f"style image {i + 1} is {style.byte_size:,} bytes; it must be between 1 byte and "
                f"{limits.max_style_bytes:,} bytes (an encoded PNG or JPEG file)"
            )
        if not math.isfinite(style.weight) or style.weight < 0:
            raise invalid(f"style image {i + 1} has weight {style.weight}; use a number >= 0")
        weights.append(style.weight)
    if sum(weights) <= 0:
        raise invalid("the style weights are all 0; give at least one style a positive weight")
    return check_options(spec.options, weights, limits)


def check_options(o, weights: list[float], limits: Limits) -> dict[str, Any]:
    from nst_engine.options import METHODS, QUALITY_PRESETS

    options: dict[str, Any] = {"style_weights": tuple(weights)} if weights else {}
    if o.method:
        if o.method not in METHODS:
            raise invalid(f"unknown method {o.method[:40]!r}: choose one of {', '.join(METHODS)}")
        options["method"] = o.method
    if o.quality:
        if o.quality not in QUALITY_PRESETS:
            raise invalid(
                f"unknown quality {o.quality[:40]!r}: choose one of {', '.join(QUALITY_PRESETS)}"
            )
        options["quality"] = o.quality
    if o.pooling:
        if o.pooling not in ("avg", "max"):
            raise invalid(f"pooling must be 'avg' or 'max', got {o.pooling[:40]!r}")
        options["pooling"] = o.pooling
    if o.HasField("strength"):
        if not (math.isfinite(o.strength) and 0.0 <= o.strength <= 1.0):
            raise invalid(f"strength must be between 0 and 1, got {o.strength}")
        options["strength"] = float(o.strength)
    if o.HasField("size"):
        if o.size < MIN_SIDE:
            raise invalid(f"size must be at least {MIN_SIDE} pixels, got {o.size}")
        options["size"] = int(o.size)
    if o.HasField("preserve_color"):
        options["preserve_color"] = bool(o.preserve_color)
    if o.HasField("seed"):
        if o.seed >= 2**63:
            raise invalid(f"seed must be below 2**63, got {o.seed}")
        options["seed"] = int(o.seed)
    if o.HasField("iterations"):
        if not 1 <= o.iterations <= limits.max_iterations:
            raise invalid(
                f"iterations must be between 1 and {limits.max_iterations}, got {o.iterations}"
            )
        options["iterations"] = int(o.iterations)
    if o.preview_max_side > 4096:
        raise invalid(f"preview_max_side must be at most 4096, got {o.preview_max_side}")
    if not (math.isfinite(o.preview_interval) and 0 <= o.preview_interval <= 3600):
        raise invalid(f"preview_interval must be between 0 and 3600 s, got {o.preview_interval}")
    return options


class _Upload:
    """The byte streams of one job as they arrive, each checked against the spec."""

    def __init__(self, spec, limits: Limits) -> None:
        bps = np.dtype(DTYPES[spec.sample_type]).itemsize
        self.spec = spec
        self.limits = limits
        self.expected = {("content", 0): spec.width * spec.height * spec.channels * bps}
        if spec.has_mask:
            self.expected[("mask", 0)] = spec.width * spec.height
        for i, style in enumerate(spec.styles):
            self.expected[("style", i)] = style.byte_size
        self.data = {key: bytearray() for key in self.expected}

    def add(self, chunk) -> None:
        names = {pb.STREAM_CONTENT: "content", pb.STREAM_MASK: "mask", pb.STREAM_STYLE: "style"}
        if chunk.stream not in names:
            raise invalid(f"chunk for unknown stream {chunk.stream}")
        key = (names[chunk.stream], chunk.style_index if chunk.stream == pb.STREAM_STYLE else 0)
        if key not in self.expected:
            what = (
                f"style {chunk.style_index + 1}, but only {len(self.spec.styles)} were announced"
                if key[0] == "style"
                else "a mask, but the spec says has_mask=false"
            )
            raise invalid(f"a chunk for {what}")
        if len(chunk.data) > self.limits.chunk_bytes:
            raise invalid(
                f"a chunk of {len(chunk.data):,} bytes; at most {self.limits.chunk_bytes:,}"
            )
        buffer = self.data[key]
        if chunk.offset != len(buffer):
            raise invalid(
                f"{self._name(key)} chunk at offset {chunk.offset}, expected {len(buffer)} "
                "(chunks of one stream must arrive in order)"
            )
        if len(buffer) + len(chunk.data) > self.expected[key]:
            raise invalid(
                f"{self._name(key)}: more than the {self.expected[key]:,} bytes the spec announced"
                + self._layout_hint(key)
            )
        buffer += chunk.data

    def _name(self, key) -> str:
        return f"style image {key[1] + 1}" if key[0] == "style" else key[0]

    def _layout_hint(self, key) -> str:
        if key[0] != "content":
            return ""
        s = self.spec
        return (
            f" ({s.width}x{s.height}x{s.channels} {SAMPLE_NAMES[s.sample_type]}); check width, "
            "height, channels and sample_type"
        )

    def finish(self) -> tuple[np.ndarray, np.ndarray | None, list[bytes]]:
        for key, size in self.expected.items():
            if len(self.data[key]) != size:
                raise invalid(
                    f"{self._name(key)}: {len(self.data[key]):,} bytes arrived, the spec announced "
                    f"{size:,}" + self._layout_hint(key)
                )
        s = self.spec
        content = np.frombuffer(self.data[("content", 0)], dtype=DTYPES[s.sample_type])
        content = content.reshape(s.height, s.width, s.channels).astype(
            content.dtype.newbyteorder("="), copy=False
        )
        if s.sample_type == pb.SAMPLE_TYPE_F32 and not np.isfinite(content).all():
            raise invalid("the content pixels contain NaN or infinite values")
        mask = None
        if s.has_mask:
            mask = np.frombuffer(self.data[("mask", 0)], dtype=np.uint8).reshape(s.height, s.width)
            mask = mask.astype(np.float32) / 255.0
        styles = [bytes(self.data[("style", i)]) for i in range(len(s.styles))]
        for index, style in enumerate(styles):
            check_style(style, index, self.limits.max_pixels)
        return content, mask, styles


@dataclass(frozen=True)
class Undecodable:
    """What the server gets for bytes that are no valid message of the method's type (grpcio
    would answer INTERNAL and log a traceback; the handlers answer INVALID_ARGUMENT)."""

    what: str
    reason: str

    def error(self) -> JobError:
        return invalid(f"the bytes sent are not a valid {self.what} message ({self.reason})")


def _decoder(message_type) -> Callable[[bytes], Any]:
    def decode(data: bytes):
        try:
            return message_type.FromString(data)
        except Exception as exc:  # noqa: BLE001 - DecodeError, and anything hostile bytes raise
            return Undecodable(message_type.DESCRIPTOR.name, str(exc)[:120] or type(exc).__name__)

    return decode


def add_to_server(service: StyleService, server: grpc.Server) -> None:
    """Register the service with decoders that never raise (see Undecodable)."""
    handlers = {
        "Stylize": grpc.stream_stream_rpc_method_handler(
            service.Stylize,
            request_deserializer=_decoder(pb.StylizeRequest),
            response_serializer=pb.StylizeEvent.SerializeToString,
        ),
        "GetInfo": grpc.unary_unary_rpc_method_handler(
            service.GetInfo,
            request_deserializer=_decoder(pb.GetInfoRequest),
            response_serializer=pb.ServerInfo.SerializeToString,
        ),
        "ListModels": grpc.unary_unary_rpc_method_handler(
            service.ListModels,
            request_deserializer=_decoder(pb.ListModelsRequest),
            response_serializer=pb.ModelList.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)


class RequestReader:
    """One call's request stream, read by a thread of its own, so that waiting for the next
    message can time out (a stalled upload) and the listener after Submit reads on."""

    def __init__(self, requests: Iterator) -> None:
        self.inbox: queue.Queue = queue.Queue(maxsize=4)  # read ahead a few chunks at most
        self.closed = threading.Event()
        threading.Thread(target=self._pump, args=(requests,), daemon=True).start()

    def _pump(self, requests: Iterator) -> None:
        try:
            for request in requests:
                if not self._put(request):
                    return
        except Exception:  # noqa: BLE001 - the stream broke: the call's own callback says so
            pass
        self._put(None)

    def _put(self, item) -> bool:
        """Hand over one item, unless the call ended meanwhile (then nobody reads)."""
        while not self.closed.is_set():
            try:
                self.inbox.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        """The call ended: let the reading thread go, and drop what it read ahead."""
        self.closed.set()
        while True:
            try:
                self.inbox.get_nowait()
            except queue.Empty:
                return

    def next(self, idle_seconds: float | None = None):
        """The next request (None at the stream's end, or once the call ended); raises
        JobError when nothing came for `idle_seconds`, and INVALID_ARGUMENT for bytes that
        are no StylizeRequest."""
        deadline = None if idle_seconds is None else time.monotonic() + idle_seconds
        while not self.closed.is_set():
            wait = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if wait <= 0:
                raise JobError(
                    grpc.StatusCode.ABORTED,
                    f"the upload stalled: nothing arrived for {idle_seconds:g} s, so the server "
                    "dropped the job; send it again",
                )
            try:
                request = self.inbox.get(timeout=wait)
            except queue.Empty:
                continue
            if isinstance(request, Undecodable):
                raise request.error()
            return request
        return None


class StyleService(pb_grpc.StyleServiceServicer):
    def __init__(
        self,
        scheduler: Scheduler,
        limits: Limits,
        info: Callable[[], dict[str, Any]],
    ) -> None:
        self.scheduler = scheduler
        self.limits = limits
        self.info = info
        self.started = time.time()

    def _refuse_undecodable(self, request, context, method: str) -> None:
        if isinstance(request, Undecodable):
            error = request.error()
            log.info("%s refused: %s: %s", method, error.code.name, error.message)
            context.abort(error.code, error.message)

    def GetInfo(self, request, context):  # noqa: N802 - gRPC's name
        self._refuse_undecodable(request, context, "GetInfo")
        queued, busy = self.scheduler.status()
        static = self.info()
        return pb.ServerInfo(
            protocol=PROTOCOL,
            limits=pb.Limits(
                max_pixels=self.limits.max_pixels,
                max_styles=self.limits.max_styles,
                max_style_bytes=self.limits.max_style_bytes,
                max_iterations=self.limits.max_iterations,
                max_queue=self.limits.max_queue,
                chunk_bytes=self.limits.chunk_bytes,
                max_message_bytes=self.limits.max_message_bytes,
            ),
            queued=queued,
            busy=busy,
            uptime_seconds=time.time() - self.started,
            pid=os.getpid(),
            model_folder=str(self.scheduler.library.folder) if self.scheduler.library else "",
            **static,
        )

    def ListModels(self, request, context):  # noqa: N802 - gRPC's name
        self._refuse_undecodable(request, context, "ListModels")
        library = self.scheduler.library
        if library is None:
            return pb.ModelList()
        return pb.ModelList(
            folder=str(library.folder),
            models=[
                pb.StyleModel(
                    id=info.path.stem,
                    name=info.name,
                    thumbnail_png=info.thumbnail_png,
                    training_size=info.training_size,
                    strength=info.strength if math.isfinite(info.strength) else 0.0,
                    steps=info.steps,
                )
                for info in library.list()
            ],
        )

    def Stylize(self, request_iterator, context) -> Iterator[pb.StylizeEvent]:  # noqa: N802
        job: Job | None = None
        requests = RequestReader(request_iterator)
        try:
            job = self._receive(requests, context)
            yield from self._follow(job, requests, context)
        except JobError as exc:
            if job is None or not job.ran:  # the worker logs the jobs it ran
                log.info(
                    "job %s %s before it started: %s: %s",
                    job.id if job is not None else "-",
                    "refused" if job is None else "ended",
                    exc.code.name,
                    exc.message,
                )
            if context.is_active():
                yield pb.StylizeEvent(failed=pb.Failed(code=exc.code.name, message=exc.message))
            context.abort(exc.code, exc.message)
        finally:
            requests.close()
            if job is not None:
                job.cancel("cancelled: the client went away")
                self.scheduler.withdraw(job)

    def _receive(self, requests: RequestReader, context) -> Job:
        tic = time.perf_counter()
        self.scheduler.check_room()
        upload: _Upload | None = None
        spec = None
        options: dict[str, Any] = {}
        while (request := requests.next(self.limits.upload_idle_seconds)) is not None:
            which = request.WhichOneof("message")
            if which == "spec":
                if spec is not None:
                    raise invalid("a second JobSpec; send exactly one, first")
                spec = request.spec
                options = check_spec(spec, self.limits)
                upload = _Upload(spec, self.limits)
            elif which == "chunk":
                if upload is None:
                    raise invalid("a Chunk before the JobSpec; send the JobSpec first")
                upload.add(request.chunk)
            elif which == "submit":
                if upload is None:
                    raise invalid("Submit before the JobSpec; send the JobSpec first")
                content, mask, styles = upload.finish()
                job = Job(spec, content, mask, styles, options)
                job.upload_seconds = time.perf_counter() - tic
                job.preview_max_side = spec.options.preview_max_side
                job.preview_interval = spec.options.preview_interval or 1.0
                return job
            elif which == "cancel":
                raise JobError(grpc.StatusCode.CANCELLED, "the job was cancelled by the client")
            else:
                raise invalid("an empty StylizeRequest; set spec, chunk, submit or cancel")
        raise JobError(
            grpc.StatusCode.CANCELLED
            if not context.is_active()
            else grpc.StatusCode.INVALID_ARGUMENT,
            "the request stream ended before Submit",
        )

    def _follow(self, job: Job, requests: RequestReader, context) -> Iterator[pb.StylizeEvent]:
        def on_done() -> None:
            if not job.cancelled.is_set():
                job.cancel("cancelled: the client disconnected or its deadline passed")
                job.events.put(("gone", None))

        context.add_callback(on_done)

        def listen() -> None:
            """A Cancel on the request stream cancels the job; nothing else may follow."""
            while True:
                try:
                    request = requests.next()
                except JobError:  # undecodable bytes after Submit: ignored like any message
                    continue
                if request is None:
                    return
                if request.WhichOneof("message") == "cancel":
                    job.cancel("cancelled by the client")
                    job.events.put(("gone", None))
                    return

        threading.Thread(target=listen, name=f"nst-listen-{job.id}", daemon=True).start()
        self.scheduler.submit(job)
        while True:
            kind, item = job.events.get()
            if kind == "event":
                if job.cancelled.is_set():
                    continue
                yield item
            elif kind == "gone":
                self.scheduler.withdraw(job)
                if job.cancelled.is_set() and self.scheduler.running is not job:
                    raise JobError(grpc.StatusCode.CANCELLED, f"the job was {job.cancel_reason}")
            elif kind == "error":
                raise item
            elif kind == "result":
                image, stats = item
                yield from self._result(image, stats)
                return

    def _result(self, image: np.ndarray, stats: dict) -> Iterator[pb.StylizeEvent]:
        height, width = image.shape[:2]
        channels = image.shape[2] if image.ndim == 3 else 1
        data = np.ascontiguousarray(image, dtype=image.dtype.newbyteorder("<")).tobytes()
        yield pb.StylizeEvent(
            finished=pb.Finished(
                width=width,
                height=height,
                channels=channels,
                sample_type=SAMPLE_OF_DTYPE[image.dtype.name],
                byte_size=len(data),
                stats={str(k): str(v) for k, v in stats.items()},
            )
        )
        view = memoryview(data)
        step = self.limits.result_chunk_bytes
        for offset in range(0, len(data), step):
            yield pb.StylizeEvent(
                result_chunk=pb.ResultChunk(offset=offset, data=bytes(view[offset : offset + step]))
            )
