"""One style job as both clients see it, apart from any transport.

    request = JobRequest(pixels, width, height, 4, "u16",
                         styles=[(open("starry.jpg", "rb").read(), 1.0)],
                         options={"strength": 0.6, "size": 512})
    result = client.stylize(request, on_event=print, cancel=lambda: False)
    result.pixels  # bytes in the request's layout

    # an animation: `frames` frames back to back in pixels, each result as soon as it is done
    client.stylize_frames(JobRequest(pixels, width, height, 4, "u16", styles=..., frames=8),
                          on_frame=lambda index, result: ..., on_event=print)

Pixels: width*height*channels samples of sample_type "u8", "u16" or "f32" (little-endian),
rows top to bottom, channels interleaved. Mask: None, or width*height bytes, one u8 per
pixel: 0 keeps the pixel exactly, 255 styles it fully, values between blend (a feathered
selection). Options (all optional): the fields of the Options message of nst/v1/style.proto
by name (OPTION_FIELDS), each described there; preview_max_side asks for preview events.
A request names either style images or `model`, a trained network of the server's style
library (ListModels); then of the options only size and preserve_color apply.

Both transports (nst_proto.client on grpcio, nst_proto.pure_client on grpclib) build their
messages with JobRequest.messages, read the server's stream with ResultReader and turn a
call's status into the errors below with error_for_status, so they behave alike. Only the
standard library, protobuf and the generated messages are imported here; what the server says
about itself (ServerInfo, StyleModel, GalleryPainting, JobEstimate) is nst_proto.info's.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from . import CHUNK_BYTES, DEFAULT_ADDRESS, START_COMMAND
from . import style_pb2 as pb
from .info import (
    GalleryPainting,
    JobEstimate,
    ServerInfo,
    StyleModel,
    info_from_message,
    models_from_message,
)

# The wire's sample types, by the name clients use (one table: the server maps from it too).
SAMPLE_TYPES = {"u8": pb.SAMPLE_TYPE_U8, "u16": pb.SAMPLE_TYPE_U16, "f32": pb.SAMPLE_TYPE_F32}
SAMPLE_NAMES = {v: k for k, v in SAMPLE_TYPES.items()}
SAMPLE_BYTES = {"u8": 1, "u16": 2, "f32": 4}
# Each sample type as a numpy dtype string: little-endian, as the wire carries samples.
SAMPLE_DTYPES = {"u8": "<u1", "u16": "<u2", "f32": "<f4"}
# The contract's fields, read from its descriptor so that a field added to style.proto needs
# no edit here: each option's Python type, and the progress event's field names.
_PYTHON_TYPES = {
    FieldDescriptor.CPPTYPE_STRING: str,
    FieldDescriptor.CPPTYPE_DOUBLE: float,
    FieldDescriptor.CPPTYPE_FLOAT: float,
    FieldDescriptor.CPPTYPE_BOOL: bool,
    FieldDescriptor.CPPTYPE_INT32: int,
    FieldDescriptor.CPPTYPE_INT64: int,
    FieldDescriptor.CPPTYPE_UINT32: int,
    FieldDescriptor.CPPTYPE_UINT64: int,
}
_UNSIGNED = (FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_UINT64)
OPTION_TYPES: dict[str, type] = {
    f.name: _PYTHON_TYPES[f.cpp_type] for f in pb.Options.DESCRIPTOR.fields
}
OPTION_FIELDS = tuple(OPTION_TYPES)
COUNT_OPTIONS = tuple(f.name for f in pb.Options.DESCRIPTOR.fields if f.cpp_type in _UNSIGNED)
PROGRESS_FIELDS = tuple(f.name for f in pb.ProgressEvent.DESCRIPTOR.fields)


class ClientError(Exception):
    """Base of every error a client raises; str() is a message a person can act on."""


class ServerUnavailable(ClientError):
    """No server answers at the address."""


class ServerLost(ClientError):
    """The server answered, then the connection ended before the job did (it crashed or was
    stopped): unlike ServerUnavailable, starting it and sending the job again is a new job."""


class JobFailed(ClientError):
    """The server refused or failed the job. `code` is the gRPC status name
    ("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", ...)."""

    def __init__(self, message: str, code: str = "UNKNOWN") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class JobCancelled(ClientError):
    """The job was cancelled (by the cancel callback, or on the server)."""


@dataclass
class JobEvent:
    """One event of a running job. `kind` is one of "queued" (position), "started" (device),
    "progress" (level, levels, iteration, iterations, step, total_steps, fraction, losses,
    elapsed, eta), "preview" (preview: RGB u8 bytes, preview_width, preview_height) and
    "finished". level and iteration are 0-based, as in the engine; step counts the
    iterations done over the whole job. In a job of several frames, frame (0-based) of
    frames says which frame a progress, preview or finished event is about; step,
    total_steps, fraction, elapsed and eta then cover the whole sequence."""

    kind: str
    position: int = 0
    job_id: str = ""
    device: str = ""
    level: int = 0
    levels: int = 0
    iteration: int = 0
    iterations: int = 0
    step: int = 0
    total_steps: int = 0
    fraction: float = 0.0
    losses: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0
    eta: float | None = None
    preview: bytes | None = None
    preview_width: int = 0
    preview_height: int = 0
    frame: int = 0
    frames: int = 1


@dataclass
class JobResult:
    """The finished job: pixels in the content's layout, and the engine's figures."""

    pixels: bytes
    width: int
    height: int
    channels: int
    sample_type: str
    stats: dict[str, str] = field(default_factory=dict)


def option_message(options: Mapping[str, Any] | None) -> pb.Options:
    """The Options message; raises ValueError for unknown names and negative counts."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTION_FIELDS))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)}; known: {', '.join(OPTION_FIELDS)}"
        )
    message = pb.Options()
    for name, value in options.items():
        if value is None:
            continue
        value = OPTION_TYPES[name](value)
        if name in COUNT_OPTIONS and value < 0:
            raise ValueError(f"option {name} must not be negative, got {value}")
        setattr(message, name, value)
    return message


@dataclass
class JobRequest:
    """Everything one job sends: the layer, its mask, and the styles or a style model."""

    pixels: bytes | bytearray | memoryview
    width: int
    height: int
    channels: int
    sample_type: str
    # (encoded image file, weight), or (the name of a painting of the server's gallery, weight)
    styles: Sequence[tuple[bytes | str, float]] = ()
    mask: bytes | bytearray | memoryview | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    style_names: Sequence[str] = ()
    model: str = ""
    # An animation: `pixels` holds this many frames back to back (frame 0 first), styled in
    # order as one moving painting (stylize_frames), or each alone with `independent`.
    frames: int = 1
    independent: bool = False

    def spec(self) -> pb.JobSpec:
        """The JobSpec message, after checking that the sizes add up (ValueError if not)."""
        if not isinstance(self.frames, int) or self.frames < 1:
            raise ValueError(f"frames must be a whole number of at least 1, got {self.frames!r}")
        if self.sample_type not in SAMPLE_TYPES:
            raise ValueError(f"sample_type must be one of u8, u16, f32; got {self.sample_type!r}")
        if self.model and self.styles:
            raise ValueError("give style images or a style model, not both")
        if not self.model and not self.styles:
            raise ValueError("give at least one style image, or a style model")
        frame = self.width * self.height * self.channels * SAMPLE_BYTES[self.sample_type]
        if _size(self.pixels) != frame * self.frames:
            frames = f"{self.frames} frames of " if self.frames > 1 else ""
            raise ValueError(
                f"{_size(self.pixels)} pixel bytes, but {frames}{self.width}x{self.height}x"
                f"{self.channels} {self.sample_type} needs {frame * self.frames}"
            )
        if self.mask is not None and _size(self.mask) != self.width * self.height:
            raise ValueError(
                f"the mask has {_size(self.mask)} bytes; a {self.width}x{self.height} u8 mask "
                f"needs {self.width * self.height}"
            )
        return job_spec(
            self.width, self.height, self.channels, self.sample_type, self.styles,
            self.mask is not None, self.options, self.style_names, self.model,
            self.frames, self.independent,
        )  # fmt: skip

    def messages(self, chunk_bytes: int = CHUNK_BYTES) -> Iterator[pb.StylizeRequest]:
        """JobSpec, the data as Chunks (content, mask, each style), then Submit.

        The checks run when the first message is taken, before anything is sent."""
        yield pb.StylizeRequest(spec=self.spec())
        yield from _chunks(pb.STREAM_CONTENT, self.pixels, 0, chunk_bytes)
        if self.mask is not None:
            yield from _chunks(pb.STREAM_MASK, self.mask, 0, chunk_bytes)
        for index, (data, _weight) in enumerate(self.styles):
            if not isinstance(data, str):  # a gallery painting is named, not sent
                yield from _chunks(pb.STREAM_STYLE, data, index, chunk_bytes)
        yield pb.StylizeRequest(submit=pb.Submit())

    def checked_messages(
        self, chunk_bytes: int = CHUNK_BYTES, cancel: Callable[[], bool] | None = None
    ) -> Iterator[pb.StylizeRequest]:
        """messages(), with the request's checks and a first look at `cancel` done now, in
        the caller's thread, before anything is sent (ValueError, JobCancelled)."""
        messages = self.messages(chunk_bytes)
        first = next(messages)
        if cancel is not None and cancel():
            raise JobCancelled("the job was cancelled before it was sent")
        return itertools.chain([first], messages)


def job_spec(
    width: int,
    height: int,
    channels: int,
    sample_type: str,
    styles: Sequence[tuple[bytes | str, float]],
    has_mask: bool,
    options: Mapping[str, Any] | None,
    style_names: Sequence[str] = (),
    model: str = "",
    frames: int = 1,
    independent: bool = False,
) -> pb.JobSpec:
    """The JobSpec message of a job (a style given as a str names a gallery painting); a job
    of one frame is exactly the message of a server that knows no frames."""
    names = list(style_names)
    return pb.JobSpec(
        width=width,
        height=height,
        channels=channels,
        sample_type=SAMPLE_TYPES[sample_type],
        has_mask=has_mask,
        styles=[
            pb.StyleSpec(weight=float(weight), gallery=data)
            if isinstance(data, str)
            else pb.StyleSpec(
                weight=float(weight),
                byte_size=_size(data),
                name=names[i] if i < len(names) else "",
            )
            for i, (data, weight) in enumerate(styles)
        ],
        options=option_message(options),
        model=model,
        frames=frames if frames > 1 else 0,
        independent=independent and frames > 1,
    )


def _size(data) -> int:
    return memoryview(data).nbytes


def _chunks(stream: int, data, index: int, chunk_bytes: int) -> Iterator[pb.StylizeRequest]:
    view = memoryview(data).cast("B")
    for offset in range(0, len(view), chunk_bytes):
        yield pb.StylizeRequest(
            chunk=pb.Chunk(
                stream=stream,
                style_index=index,
                offset=offset,
                data=bytes(view[offset : offset + chunk_bytes]),
            )
        )


CANCEL_MESSAGE = pb.StylizeRequest(cancel=pb.Cancel())


class ClientBase:
    """What both clients share: where the server is, the deadlines, the context manager, the
    one-answer calls, and the front of stylize (the request checked, and cancel asked once,
    in the caller's thread before anything is sent). A transport implements _stylize and
    _call (one request, one reply, errors mapped to ClientError)."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        timeout: float | None = None,
        *,
        connect_timeout: float = 5.0,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.address = address
        self.timeout = timeout  # the whole stylize call's deadline (None: none)
        self.connect_timeout = connect_timeout  # info and list_models answer within this
        self.chunk_bytes = chunk_bytes

    def close(self) -> None:
        """Release the connection (a transport that keeps one overrides this)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def info(self) -> ServerInfo:
        """The server's versions, device, weights and limits."""
        return info_from_message(self._call("GetInfo", pb.GetInfoRequest()))

    def list_models(self) -> list[StyleModel]:
        """The trained style networks in the server's style library, sorted by name."""
        return models_from_message(self._call("ListModels", pb.ListModelsRequest()))

    def gallery(self) -> list[GalleryPainting]:
        """The server's style gallery, with thumbnails, in the gallery's order."""
        reply = self._call("ListGallery", pb.ListGalleryRequest())
        return [
            GalleryPainting(p.name, p.title, p.artist, p.year, p.kind, p.thumbnail_png)
            for p in reply.paintings
        ]

    def estimate(
        self,
        width: int,
        height: int,
        *,
        styles: Sequence[tuple[bytes | str, float]] = (),
        options: Mapping[str, Any] | None = None,
        model: str = "",
        frames: int = 1,
        independent: bool = False,
    ) -> JobEstimate:
        """What a job on a width x height layer would take on this server, before any
        pixel is sent (styles and options as JobRequest takes them; frames of an animation,
        all of them). A job the server would refuse comes back with the reason in
        `refused`; ValueError for unknown options."""
        spec = job_spec(
            width, height, 3, "u8", styles, False, options, (), model, frames, independent
        )
        reply = self._call("Estimate", spec)
        return JobEstimate(
            reply.seconds,
            reply.measured_jobs,
            reply.work_width,
            reply.work_height,
            reply.refused,
            reply.fits_work_size,
        )

    def _call(self, method: str, request):
        raise NotImplementedError

    def stylize(
        self,
        request: JobRequest,
        on_event: Callable[[JobEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        *,
        poll_interval: float = 0.1,
    ) -> JobResult:
        """Run one job on the server and return its result.

        on_event gets every JobEvent and cancel is asked about ten times a second, both in
        the caller's thread; when cancel() returns True the job is cancelled on the server
        and JobCancelled is raised. Raises ServerUnavailable (nothing answers), ServerLost
        (it answered, then went away), JobFailed (with .code), JobCancelled, or ValueError
        for a request that does not add up (checked before anything is sent).
        """
        if request.frames > 1:
            raise ValueError(
                f"a job of {request.frames} frames returns one result per frame: run it with "
                "stylize_frames"
            )
        reader = ResultReader(on_event)
        messages = request.checked_messages(self.chunk_bytes, cancel)
        self._stylize(messages, reader, cancel, poll_interval)
        return reader.result()

    def stylize_frames(
        self,
        request: JobRequest,
        on_frame: Callable[[int, JobResult], None],
        on_event: Callable[[JobEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        *,
        poll_interval: float = 0.1,
    ) -> None:
        """Run a job of `request.frames` frames (an animation) on the server.

        on_frame(index, result) is called in the caller's thread as soon as each frame's
        result has arrived, in order, while the server paints the next ones; on_event and
        cancel as in stylize, which raises the same errors. Returns once every frame was
        handed to on_frame (JobFailed if the server ended the job short of one)."""
        reader = ResultReader(on_event, on_frame, request.frames)
        messages = request.checked_messages(self.chunk_bytes, cancel)
        self._stylize(messages, reader, cancel, poll_interval)
        reader.check_all_frames()

    def _stylize(self, messages, reader: ResultReader, cancel, poll_interval) -> None:
        """Send the messages and hand every message of the reply to `reader`, until the
        call ends well (else raise the ClientError of its end)."""
        raise NotImplementedError


def event_from_message(message: pb.StylizeEvent) -> JobEvent | None:
    """A JobEvent for the events a caller sees (None for result chunks and failures)."""
    kind = message.WhichOneof("event")
    if kind == "queued":
        return JobEvent("queued", position=message.queued.position, job_id=message.queued.job_id)
    if kind == "started":
        s = message.started
        return JobEvent("started", job_id=s.job_id, device=s.device)
    if kind == "progress":
        p = message.progress
        fields = {name: getattr(p, name) for name in PROGRESS_FIELDS}
        fields.update(losses=dict(p.losses), eta=p.eta if p.eta > 0 else None)
        fields.update(frames=max(1, p.frames))
        return JobEvent("progress", **fields)
    if kind == "preview":
        v = message.preview
        return JobEvent(
            "preview", preview=v.rgb, preview_width=v.width, preview_height=v.height,
            frame=v.frame, frames=max(1, v.frames),
        )  # fmt: skip
    if kind == "finished":
        f = message.finished
        return JobEvent("finished", frame=f.frame, frames=max(1, f.frames))
    return None


class ResultReader:
    """Reads a job's event stream: hands the caller its events (on_event) and, as each
    frame's result is complete, that result (on_frame(index, result); without on_frame the
    last one is kept for result()). Both are called in the thread that calls take; none
    once `stopped` (the caller cancelled)."""

    def __init__(
        self,
        on_event: Callable[[JobEvent], None] | None = None,
        on_frame: Callable[[int, JobResult], None] | None = None,
        frames: int = 1,
    ) -> None:
        self.on_event = on_event
        self.on_frame = on_frame
        self.frames = frames
        self.header: pb.Finished | None = None
        self.parts: list[bytes] = []
        self.received = 0
        self.complete = 0  # frames whose result arrived whole
        self.last: JobResult | None = None
        self.answered = False  # the server sent something: a later disconnect is a loss
        self.stopped = False

    def take(self, message: pb.StylizeEvent) -> None:
        """Take one message of the server's stream."""
        self.answered = True
        which = message.WhichOneof("event")
        if which == "finished":
            if message.finished.frame != self.complete or self._partial():
                raise JobFailed(
                    f"the server sent frame {message.finished.frame}'s result while frame "
                    f"{self.complete}'s was due",
                    "INTERNAL",
                )
            self.header, self.parts, self.received = message.finished, [], 0
        elif which == "result_chunk":
            chunk = message.result_chunk
            if not self._partial() or chunk.offset != self.received:
                raise JobFailed("the server sent result bytes out of order", "INTERNAL")
            self.parts.append(chunk.data)
            self.received += len(chunk.data)
        event = event_from_message(message)
        if self.on_event is not None and event is not None and not self.stopped:
            self.on_event(event)
        if self.header is not None and self.received >= self.header.byte_size:
            self._frame_done()

    def _partial(self) -> bool:
        """A frame's header came and its bytes are still arriving."""
        return self.header is not None and self.received < self.header.byte_size

    def _frame_done(self) -> None:
        header = self.header
        if self.received != header.byte_size:
            raise JobFailed(
                f"the server sent {self.received} of {header.byte_size} result bytes", "INTERNAL"
            )
        result = JobResult(
            pixels=b"".join(self.parts),
            width=header.width,
            height=header.height,
            channels=header.channels,
            sample_type=SAMPLE_NAMES.get(header.sample_type, "u8"),
            stats=dict(header.stats),
        )
        self.header, self.parts, self.received = None, [], 0
        self.complete += 1
        if self.on_frame is None:
            self.last = result
        elif not self.stopped:
            self.on_frame(self.complete - 1, result)

    def result(self) -> JobResult:
        """The finished job, once the stream ended well (JobFailed if it is incomplete)."""
        if self._partial():
            raise JobFailed(
                f"the server sent {self.received} of {self.header.byte_size} result bytes",
                "INTERNAL",
            )
        if self.last is None:
            raise JobFailed("the server ended the job without a result", "INTERNAL")
        return self.last

    def check_all_frames(self) -> None:
        """JobFailed unless every frame's result arrived whole (once the stream ended well)."""
        if self.complete != self.frames or self._partial():
            raise JobFailed(
                f"the server ended the job after {self.complete} of {self.frames} frames",
                "INTERNAL",
            )


def unavailable(address: str, detail: str = "") -> ServerUnavailable:
    """ "Nothing answers at `address`", with the command that starts a server there."""
    start = START_COMMAND if address == DEFAULT_ADDRESS else f"{START_COMMAND} --address {address}"
    detail = f" ({detail})" if detail else ""
    return ServerUnavailable(
        f"no Neural Style server answers at {address}{detail}; start it with: {start}"
    )


def lost(address: str, detail: str = "") -> ServerLost:
    """ "It answered, then went away", with where to look."""
    detail = f" ({detail})" if detail else ""
    return ServerLost(
        f"the Neural Style server at {address} stopped answering during the job{detail}: it "
        "crashed or was stopped; see `nst-server status` and the server's log, then send the "
        "job again"
    )


def error_for_status(
    code: str,
    details: str,
    address: str,
    timeout: float | None = None,
    *,
    answered: bool = False,
) -> ClientError:
    """The error for a call that ended with gRPC status `code` (its name) and `details`;
    `answered`: the server had sent something on this call before."""
    if code == "UNAVAILABLE":
        return lost(address, details) if answered else unavailable(address, details)
    if code == "CANCELLED":
        return JobCancelled(f"the job was cancelled ({details})")
    if code == "DEADLINE_EXCEEDED":
        return JobFailed(
            f"the job did not finish within the {timeout} s deadline; it was cancelled on the "
            "server (try a smaller size or the draft quality)",
            code,
        )
    if code == "UNAUTHENTICATED":
        return JobFailed(f"the server refused the access token: {details}", code)
    return JobFailed(details, code)
