"""The Python client of the nst.v1 style service, used by the GIMP plug-in and `nst stylize
--server`.

It imports only the standard library, grpc, protobuf and the generated stubs beside it (no
numpy, torch or PIL), so it runs inside GIMP's own Python.

    from nst_proto.client import StyleClient, JobEvent, ServerUnavailable, JobFailed
    with StyleClient("127.0.0.1:50051") as client:      # or "unix:/run/user/1000/nst.sock"
        print(client.info().device)
        result = client.stylize(pixels, width, height, 4, "u16",
                                styles=[(open("starry.jpg", "rb").read(), 1.0)],
                                mask=None, options={"strength": 0.6, "size": 512},
                                on_event=print, cancel=lambda: False)
        result.pixels  # bytes, same layout as the input: rows top to bottom, channels
                       # interleaved, little-endian samples

Pixels: width*height*channels samples of sample_type "u8", "u16" or "f32" (little-endian).
Mask: None, or width*height bytes, one u8 per pixel: 0 keeps the pixel exactly, 255 styles
it fully, values between blend (a feathered selection).
Options (all optional): method ("proposed" | "gatys"), strength (0..1), size (long side the
styling is computed at), quality ("draft" | "normal" | "high"), preserve_color (bool), seed
(int >= 0), iterations (int >= 1), pooling ("avg" | "max"), preview_max_side (int: ask for
Preview events), preview_interval (seconds between previews).

A job can name a trained fast-mode style network from the server's style library instead of
sending style images: `client.list_models()` lists them (id, name, PNG thumbnail, training
size), and `client.stylize(pixels, width, height, 4, "u8", styles=[], model="starry")`
applies one in a single pass (of the options, only size and preserve_color apply).

on_event and cancel are called in the caller's thread: on_event for every JobEvent, cancel
about ten times a second; when cancel() returns True the job is cancelled on the server and
JobCancelled is raised.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from . import PROTOCOL
from . import style_pb2 as pb
from . import style_pb2_grpc as pb_grpc

DEFAULT_ADDRESS = "127.0.0.1:50051"
CHUNK_BYTES = 1 << 20  # 1 MiB of data per message, far below gRPC's 4 MiB default
MAX_MESSAGE_BYTES = 8 << 20
START_COMMAND = "nst-server start"

SAMPLE_TYPES = {"u8": pb.SAMPLE_TYPE_U8, "u16": pb.SAMPLE_TYPE_U16, "f32": pb.SAMPLE_TYPE_F32}
SAMPLE_NAMES = {v: k for k, v in SAMPLE_TYPES.items()}
SAMPLE_BYTES = {"u8": 1, "u16": 2, "f32": 4}
OPTION_FIELDS = (
    "method",
    "strength",
    "size",
    "quality",
    "preserve_color",
    "seed",
    "iterations",
    "pooling",
    "preview_max_side",
    "preview_interval",
)


class ClientError(Exception):
    """Base of every error this client raises; str() is a message a person can act on."""


class ServerUnavailable(ClientError):
    """No server answers at the address."""


class JobFailed(ClientError):
    """The server refused or failed the job. `code` is the gRPC status name
    ("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", ...)."""

    def __init__(self, message: str, code: str = "UNKNOWN") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class JobCancelled(ClientError):
    """The job was cancelled (by the cancel callback, or on the server)."""


Cancelled = JobCancelled


@dataclass
class JobEvent:
    """One event of a running job. `kind` is one of "queued" (position), "started" (device),
    "progress" (level, levels, iteration, iterations, step, total_steps, fraction, losses,
    elapsed, eta), "preview" (preview: RGB u8 bytes, preview_width, preview_height) and
    "finished". level and iteration are 0-based, as in the engine; step counts the
    iterations done over the whole job."""

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


@dataclass
class StyleResult:
    """The finished job: pixels in the content's layout, and the engine's figures."""

    pixels: bytes
    width: int
    height: int
    channels: int
    sample_type: str
    stats: dict[str, str] = field(default_factory=dict)


@dataclass
class ServerInfo:
    protocol: str
    server_version: str
    engine_version: str
    torch_version: str
    grpc_version: str
    protobuf_version: str
    python_version: str
    device: str
    gpu_name: str
    gpu_memory_bytes: int
    weights: str
    limits: dict[str, int]
    methods: list[str]
    qualities: list[str]
    queued: int
    busy: bool
    uptime_seconds: float
    pid: int
    model_folder: str = ""


@dataclass
class StyleModel:
    """A trained fast-mode style network in the server's style library."""

    id: str  # what stylize(model=...) names
    name: str
    thumbnail_png: bytes
    training_size: int
    strength: float
    steps: int


def _option_message(options: dict[str, Any] | None) -> pb.Options:
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
        if name in ("method", "quality", "pooling"):
            setattr(message, name, str(value))
        elif name in ("strength", "preview_interval"):
            setattr(message, name, float(value))
        elif name == "preserve_color":
            message.preserve_color = bool(value)
        else:
            value = int(value)
            if value < 0:
                raise ValueError(f"option {name} must not be negative, got {value}")
            setattr(message, name, value)
    return message


def job_requests(
    pixels: bytes,
    width: int,
    height: int,
    channels: int,
    sample_type: str,
    styles: Iterable[tuple[bytes, float]],
    mask: bytes | None = None,
    options: dict[str, Any] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    style_names: Iterable[str] = (),
    model: str = "",
) -> Iterator[pb.StylizeRequest]:
    """The request messages of one job, up to and including Submit (checks sizes first).

    `model` names a style network of the server's library; then `styles` must be empty.
    """
    if sample_type not in SAMPLE_TYPES:
        raise ValueError(f"sample_type must be one of u8, u16, f32; got {sample_type!r}")
    styles = [(bytes(data), float(weight)) for data, weight in styles]
    if model and styles:
        raise ValueError("give style images or a style model, not both")
    if not model and not styles:
        raise ValueError("give at least one style image, or a style model")
    names = list(style_names)
    expected = width * height * channels * SAMPLE_BYTES[sample_type]
    pixels = memoryview(pixels).cast("B")
    if len(pixels) != expected:
        raise ValueError(
            f"{len(pixels)} pixel bytes, but {width}x{height}x{channels} {sample_type} needs "
            f"{expected}"
        )
    if mask is not None:
        mask = memoryview(mask).cast("B")
        if len(mask) != width * height:
            raise ValueError(
                f"the mask has {len(mask)} bytes; a {width}x{height} u8 mask needs {width * height}"
            )
    spec = pb.JobSpec(
        width=width,
        height=height,
        channels=channels,
        sample_type=SAMPLE_TYPES[sample_type],
        has_mask=mask is not None,
        styles=[
            pb.StyleSpec(weight=w, byte_size=len(d), name=names[i] if i < len(names) else "")
            for i, (d, w) in enumerate(styles)
        ],
        options=_option_message(options),
        model=model,
    )
    yield pb.StylizeRequest(spec=spec)

    def chunks(stream: int, data, index: int = 0) -> Iterator[pb.StylizeRequest]:
        for offset in range(0, len(data), chunk_bytes):
            yield pb.StylizeRequest(
                chunk=pb.Chunk(
                    stream=stream,
                    style_index=index,
                    offset=offset,
                    data=bytes(data[offset : offset + chunk_bytes]),
                )
            )

    yield from chunks(pb.STREAM_CONTENT, pixels)
    if mask is not None:
        yield from chunks(pb.STREAM_MASK, mask)
    for index, (data, _weight) in enumerate(styles):
        yield from chunks(pb.STREAM_STYLE, data, index)
    yield pb.StylizeRequest(submit=pb.Submit())


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
        return JobEvent(
            "progress",
            level=p.level,
            levels=p.levels,
            iteration=p.iteration,
            iterations=p.iterations,
            step=p.step,
            total_steps=p.total_steps,
            fraction=p.fraction,
            losses=dict(p.losses),
            elapsed=p.elapsed,
            eta=p.eta if p.eta > 0 else None,
        )
    if kind == "preview":
        v = message.preview
        return JobEvent("preview", preview=v.rgb, preview_width=v.width, preview_height=v.height)
    if kind == "finished":
        return JobEvent("finished")
    return None


class _Requests:
    """The request stream: the job's messages, then open until the job ends (so a Cancel can
    still be sent)."""

    def __init__(self, messages: Iterator[pb.StylizeRequest]) -> None:
        self.messages = messages
        self.extra: queue.Queue = queue.Queue()

    def __iter__(self):
        yield from self.messages
        while True:
            item = self.extra.get()
            if item is None:
                return
            yield item

    def cancel(self) -> None:
        self.extra.put(pb.StylizeRequest(cancel=pb.Cancel()))

    def close(self) -> None:
        self.extra.put(None)


class StyleClient:
    """A connection to nst-server. `address` is "host:port" or "unix:/path".

    timeout: overall deadline of a stylize call in seconds (None: none).
    connect_timeout: the deadline of the info call (a stylize call fails at once with
    ServerUnavailable when nothing listens at the address).
    token / root_certificates: for a server on another machine (TLS and an access token);
    root_certificates are the PEM bytes of the CA (or the server's self-signed certificate).
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        timeout: float | None = None,
        *,
        connect_timeout: float = 5.0,
        token: str | None = None,
        root_certificates: bytes | None = None,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.chunk_bytes = chunk_bytes
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        if token is not None or root_certificates is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            if token is not None:
                credentials = grpc.composite_channel_credentials(
                    credentials, grpc.access_token_call_credentials(token)
                )
            self.channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self.channel = grpc.insecure_channel(address, options=options)
        self.stub = pb_grpc.StyleServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> StyleClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unavailable(self, detail: str = "") -> ServerUnavailable:
        start = START_COMMAND
        if self.address != DEFAULT_ADDRESS:
            start += f" --address {self.address}"
        detail = f" ({detail})" if detail else ""
        return ServerUnavailable(
            f"no Neural Style server answers at {self.address}{detail}; start it with: {start}"
        )

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the server accepts connections, else raise ServerUnavailable."""
        timeout = self.connect_timeout if timeout is None else timeout
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise self._unavailable(f"no answer within {timeout:g} s") from None

    def _error(self, exc: grpc.RpcError) -> ClientError:
        code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
        details = (exc.details() if hasattr(exc, "details") else None) or str(exc)
        if code == grpc.StatusCode.UNAVAILABLE:
            return self._unavailable(details)
        if code == grpc.StatusCode.CANCELLED:
            return JobCancelled(f"the job was cancelled ({details})")
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return JobFailed(
                f"the job did not finish within the {self.timeout} s deadline; it was "
                "cancelled on the server (try a smaller size or the draft quality)",
                code.name,
            )
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return JobFailed(f"the server refused the access token: {details}", code.name)
        return JobFailed(details, code.name)

    def info(self) -> ServerInfo:
        """The server's versions, device, weights and limits."""
        try:
            reply = self.stub.GetInfo(pb.GetInfoRequest(), timeout=self.connect_timeout + 25)
        except grpc.RpcError as exc:
            raise self._error(exc) from None
        limits = {f.name: v for f, v in reply.limits.ListFields()}
        return ServerInfo(
            protocol=reply.protocol,
            server_version=reply.server_version,
            engine_version=reply.engine_version,
            torch_version=reply.torch_version,
            grpc_version=reply.grpc_version,
            protobuf_version=reply.protobuf_version,
            python_version=reply.python_version,
            device=reply.device,
            gpu_name=reply.gpu_name,
            gpu_memory_bytes=reply.gpu_memory_bytes,
            weights=reply.weights,
            limits=limits,
            methods=list(reply.methods),
            qualities=list(reply.qualities),
            queued=reply.queued,
            busy=reply.busy,
            uptime_seconds=reply.uptime_seconds,
            pid=reply.pid,
            model_folder=reply.model_folder,
        )

    def list_models(self) -> list[StyleModel]:
        """The trained style networks in the server's style library, sorted by name."""
        try:
            reply = self.stub.ListModels(pb.ListModelsRequest(), timeout=self.connect_timeout + 25)
        except grpc.RpcError as exc:
            raise self._error(exc) from None
        return [
            StyleModel(m.id, m.name, m.thumbnail_png, m.training_size, m.strength, m.steps)
            for m in reply.models
        ]

    def stylize(
        self,
        pixels: bytes,
        width: int,
        height: int,
        channels: int,
        sample_type: str,
        styles: Iterable[tuple[bytes, float]],
        mask: bytes | None = None,
        options: dict[str, Any] | None = None,
        on_event: Callable[[JobEvent], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        *,
        style_names: Iterable[str] = (),
        poll_interval: float = 0.1,
        model: str = "",
    ) -> StyleResult:
        """Run one job on the server and return its result (see the module's docstring).

        Raises ServerUnavailable, JobFailed (with .code), JobCancelled, or ValueError for
        arguments that do not add up (checked before anything is sent).
        """
        messages = job_requests(
            pixels,
            width,
            height,
            channels,
            sample_type,
            styles,
            mask,
            options,
            self.chunk_bytes,
            style_names,
            model,
        )
        first = next(messages)  # runs the argument checks now, in the caller's thread
        if cancel is not None and cancel():
            raise JobCancelled("the job was cancelled before it was sent")
        requests = _Requests(_chain(first, messages))
        call = self.stub.Stylize(iter(requests), timeout=self.timeout)
        inbox: queue.Queue = queue.Queue()

        def read() -> None:
            try:
                for message in call:
                    inbox.put(("event", message))
                inbox.put(("end", None))
            except grpc.RpcError as exc:
                inbox.put(("error", exc))
            except Exception as exc:  # noqa: BLE001 - handed to the caller's thread
                inbox.put(("error", exc))

        reader = threading.Thread(target=read, name="nst-client-reader", daemon=True)
        reader.start()
        header: pb.Finished | None = None
        parts: list[bytes] = []
        received = 0
        cancelled_at: float | None = None
        try:
            while True:
                try:
                    kind, item = inbox.get(timeout=poll_interval)
                except queue.Empty:
                    if cancelled_at is None and cancel is not None and cancel():
                        cancelled_at = time.monotonic()
                        requests.cancel()
                    elif cancelled_at is not None and time.monotonic() - cancelled_at > 2.0:
                        call.cancel()  # the server did not confirm in time: drop the call
                    continue
                if kind == "end":
                    break
                if kind == "error":
                    if cancelled_at is not None:
                        raise JobCancelled("the job was cancelled") from None
                    if isinstance(item, grpc.RpcError):
                        raise self._error(item) from None
                    raise JobFailed(f"the connection failed: {item}", "UNKNOWN") from item
                message: pb.StylizeEvent = item
                which = message.WhichOneof("event")
                if which == "finished":
                    header = message.finished
                elif which == "result_chunk":
                    if header is None or message.result_chunk.offset != received:
                        raise JobFailed("the server sent result bytes out of order", "INTERNAL")
                    parts.append(message.result_chunk.data)
                    received += len(message.result_chunk.data)
                if on_event is not None and cancelled_at is None:
                    event = event_from_message(message)
                    if event is not None:
                        on_event(event)
                if cancelled_at is None and cancel is not None and cancel():
                    cancelled_at = time.monotonic()
                    requests.cancel()
        except BaseException:
            call.cancel()
            raise
        finally:
            requests.close()
        if cancelled_at is not None:
            raise JobCancelled("the job was cancelled")
        if header is None:
            raise JobFailed("the server ended the job without a result", "INTERNAL")
        pixels_out = b"".join(parts)
        if len(pixels_out) != header.byte_size:
            raise JobFailed(
                f"the server sent {len(pixels_out)} of {header.byte_size} result bytes", "INTERNAL"
            )
        return StyleResult(
            pixels=pixels_out,
            width=header.width,
            height=header.height,
            channels=header.channels,
            sample_type=SAMPLE_NAMES.get(header.sample_type, "u8"),
            stats=dict(header.stats),
        )


def _chain(first, rest: Iterator) -> Iterator:
    yield first
    yield from rest


__all__ = [
    "DEFAULT_ADDRESS",
    "PROTOCOL",
    "Cancelled",
    "ClientError",
    "JobCancelled",
    "JobEvent",
    "JobFailed",
    "ServerInfo",
    "ServerUnavailable",
    "StyleClient",
    "StyleResult",
    "job_requests",
]
