"""StyleClient on grpcio: the client of the nst.v1 style service used by the `nst` command
(`nst stylize --server`) and the server's own tools (`nst-server status`, `models`).

The GIMP plug-in uses nst_proto.pure_client instead, the same class on grpclib: pure Python,
so one copy runs in every GIMP's own Python. Both build and read messages through
nst_proto.job, so they behave alike (the tests run the same scenarios on both).

    from nst_proto.client import StyleClient
    from nst_proto.job import JobRequest
    with StyleClient("127.0.0.1:50051") as client:      # or "unix:/run/user/1000/nst.sock"
        print(client.info().device)
        result = client.stylize(JobRequest(pixels, width, height, 4, "u16",
                                           styles=[(starry_bytes, 1.0)]),
                                on_event=print, cancel=lambda: False)

on_event and cancel are called in the caller's thread: on_event for every JobEvent, cancel
about ten times a second; when cancel() returns True the job is cancelled on the server and
JobCancelled is raised. An animation is one job: stylize_frames(request with frames=N,
on_frame) hands each frame's result to on_frame(index, result) as soon as it arrives.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

import grpc

from . import CHUNK_BYTES, DEFAULT_ADDRESS, MAX_MESSAGE_BYTES, PROTOCOL
from . import style_pb2 as pb
from . import style_pb2_grpc as pb_grpc
from .job import (
    CANCEL_MESSAGE,
    ClientBase,
    ClientError,
    GalleryPainting,
    JobCancelled,
    JobEstimate,
    JobEvent,
    JobFailed,
    JobRequest,
    JobResult,
    ResultReader,
    ServerInfo,
    ServerLost,
    ServerUnavailable,
    StyleModel,
    error_for_status,
    unavailable,
)


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
        self.extra.put(CANCEL_MESSAGE)

    def close(self) -> None:
        self.extra.put(None)


class StyleClient(ClientBase):
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
        super().__init__(address, timeout, connect_timeout=connect_timeout, chunk_bytes=chunk_bytes)
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

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the server accepts connections, else raise ServerUnavailable."""
        timeout = self.connect_timeout if timeout is None else timeout
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise unavailable(self.address, f"no answer within {timeout:g} s") from None

    def _error(self, exc: grpc.RpcError, answered: bool = False) -> ClientError:
        code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
        details = (exc.details() if hasattr(exc, "details") else None) or str(exc)
        return error_for_status(code.name, details, self.address, self.timeout, answered=answered)

    def _call(self, method: str, request):
        try:
            return getattr(self.stub, method)(request, timeout=self.connect_timeout + 25)
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def _stylize(self, messages, reader: ResultReader, cancel, poll_interval) -> None:
        requests = _Requests(messages)
        call = self.stub.Stylize(iter(requests), timeout=self.timeout)
        inbox: queue.Queue = queue.Queue()

        def read() -> None:
            try:
                for message in call:
                    inbox.put(("event", message))
                inbox.put(("end", None))
            except Exception as exc:  # noqa: BLE001 - handed to the caller's thread
                inbox.put(("error", exc))

        thread = threading.Thread(target=read, name="nst-client-reader", daemon=True)
        thread.start()
        cancelled_at: float | None = None
        try:
            while True:
                try:
                    kind, item = inbox.get(timeout=poll_interval)
                except queue.Empty:
                    if cancelled_at is None and cancel is not None and cancel():
                        cancelled_at = time.monotonic()
                        reader.stopped = True
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
                        raise self._error(item, reader.answered) from None
                    raise JobFailed(f"the connection failed: {item}", "UNKNOWN") from item
                reader.take(item)
                if cancelled_at is None and cancel is not None and cancel():
                    cancelled_at = time.monotonic()
                    reader.stopped = True
                    requests.cancel()
        except BaseException:
            call.cancel()
            raise
        finally:
            requests.close()
        if cancelled_at is not None:
            raise JobCancelled("the job was cancelled")


__all__ = [
    "DEFAULT_ADDRESS",
    "PROTOCOL",
    "ClientError",
    "GalleryPainting",
    "JobCancelled",
    "JobEvent",
    "JobFailed",
    "JobEstimate",
    "JobRequest",
    "ServerInfo",
    "ServerLost",
    "ServerUnavailable",
    "StyleClient",
    "StyleModel",
    "JobResult",
]
