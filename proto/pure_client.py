"""StyleClient on grpclib: the client of the nst.v1 style service in pure Python.

This is the GIMP plug-in's transport. grpcio is compiled for one Python version and platform,
and GIMP brings its own Python (3.13 in GIMP 3.0 on Debian, 3.14 in 3.2, 3.12 or 3.13 in the
Flatpak and on Windows, 3.10 on macOS); grpclib, h2 and protobuf's pure-Python runtime run in
any of them, so one vendored folder serves every GIMP. The class has the same methods and
raises the same errors as nst_proto.client.StyleClient (grpcio), which the `nst` command and
the server keep; both build and read the messages through nst_proto.job.

grpclib is asyncio-based; each call here runs its own event loop in the caller's thread, so
on_event and cancel are called in that thread, as with the grpcio client. Addresses are
"host:port", "[v6]:port" or "unix:/path". For a server on another machine, `token` and
`root_certificates` (nst_proto.access) as grpcio's client takes them: TLS through Python's
ssl module, the token in every call's metadata. In GIMP, set
PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python and MULTIDICT_NO_EXTENSIONS=1 before the first
import (the plug-in does): a compiled protobuf or multidict elsewhere on GIMP's path was built
for another Python or another version.
"""

from __future__ import annotations

import asyncio
import ssl
import time

from grpclib.client import Channel
from grpclib.config import Configuration
from grpclib.exceptions import GRPCError, StreamTerminatedError

from .job import (
    OPTION_TYPES,
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
    lost,
    unavailable,
)
from .style_grpc import StyleServiceStub

# HTTP/2 flow-control windows for what this client receives: a whole result chunk and more
# may be in flight, so a large result is not throttled to grpclib's 4 MiB default.
WINDOW_BYTES = 32 << 20


def channel_arguments(address: str) -> dict:
    """grpclib.Channel's keyword arguments for "host:port", "[v6]:port" or "unix:/path"."""
    if address.startswith("unix:"):
        path = address[len("unix:") :]
        if path.startswith("//"):  # unix:///abs/path, gRPC's other spelling
            path = path[2:]
        return {"path": path}
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"address {address!r} is not HOST:PORT or unix:/path")
    return {"host": host.strip("[]"), "port": int(port)}


class StyleClient(ClientBase):
    """A connection to nst-server; see nst_proto.client.StyleClient for the arguments.
    Nothing stays open between calls: each opens its connection and closes it."""

    def __init__(
        self,
        *args,
        token: str | None = None,
        root_certificates: bytes | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._where = channel_arguments(self.address)  # a bad address fails here, at once
        self._metadata = {"authorization": f"Bearer {token}"} if token is not None else None
        self._tls = None
        if token is not None or root_certificates is not None:  # a token only over TLS
            self._tls = tls_context(root_certificates)

    def _channel(self) -> Channel:
        config = Configuration(
            http2_connection_window_size=WINDOW_BYTES, http2_stream_window_size=WINDOW_BYTES
        )
        # inside the running loop: it binds to it
        return Channel(**self._where, config=config, ssl=self._tls)

    def _run(self, call, *args):
        """Run one call's coroutine to its end in a loop of its own; map transport errors."""
        try:
            return _run_in_new_loop(call(*args))
        except GRPCError as exc:
            raise error_for_status(
                exc.status.name, exc.message or "", self.address, self.timeout
            ) from None
        except TimeoutError:
            raise error_for_status("DEADLINE_EXCEEDED", "", self.address, self.timeout) from None
        except ConnectionRefusedError:
            raise unavailable(self.address, "connection refused") from None
        except (ConnectionError, StreamTerminatedError) as exc:
            raise unavailable(self.address, f"the connection ended: {exc}") from None
        except OSError as exc:
            raise unavailable(self.address, exc.strerror or str(exc)) from None

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the server answers, else raise ServerUnavailable."""
        timeout = self.connect_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.info()
                return
            except ClientError:
                if time.monotonic() > deadline:
                    raise unavailable(self.address, f"no answer within {timeout:g} s") from None
                time.sleep(0.2)

    def _call(self, method: str, request):
        return self._run(self._unary, method, request)

    async def _unary(self, method: str, request):
        channel = self._channel()
        try:
            call = getattr(StyleServiceStub(channel), method)
            reply = call(request, timeout=self.connect_timeout + 25, metadata=self._metadata)
            return await asyncio.wait_for(reply, self.connect_timeout + 30)
        finally:
            channel.close()

    def _stylize(self, messages, reader: ResultReader, cancel, poll_interval) -> None:
        self._run(self._stylize_async, messages, reader, cancel, poll_interval)

    async def _stylize_async(self, messages, reader: ResultReader, cancel, poll_interval) -> None:
        cancelled = cancel or (lambda: False)
        channel = self._channel()
        try:
            call = StyleServiceStub(channel).Stylize
            async with call.open(timeout=self.timeout, metadata=self._metadata) as stream:
                # The request side ends with Submit: grpcio's server resets a stream whose
                # client has not ended its side once it has answered, and grpclib then drops
                # what it has not read yet. So a cancel is a reset of the call (the server
                # cancels the job when its client goes), not a Cancel message.
                for message in messages:
                    if cancelled():
                        await stream.cancel()
                        raise JobCancelled("the job was cancelled while it was being sent")
                    await stream.send_message(message, end=message.HasField("submit"))
                receive = asyncio.ensure_future(stream.recv_message())
                while True:
                    done, _ = await asyncio.wait({receive}, timeout=poll_interval)
                    if cancelled():
                        receive.cancel()
                        await stream.cancel()
                        raise JobCancelled("the job was cancelled")
                    if not done:
                        continue
                    message = receive.result()
                    if message is None:
                        break
                    reader.take(message)
                    receive = asyncio.ensure_future(stream.recv_message())
                await stream.recv_trailing_metadata()
        except GRPCError as exc:
            raise error_for_status(
                exc.status.name,
                exc.message or "",
                self.address,
                self.timeout,
                answered=reader.answered,
            ) from None
        except (ConnectionError, StreamTerminatedError) as exc:
            if reader.answered:
                raise lost(self.address, str(exc)) from None
            raise
        finally:
            channel.close()


def tls_context(root_certificates: bytes | None) -> ssl.SSLContext:
    """TLS trusting `root_certificates` (PEM), or the system's authorities, speaking h2."""
    cadata = root_certificates.decode("ascii") if root_certificates is not None else None
    context = ssl.create_default_context(cadata=cadata)
    context.set_alpn_protocols(["h2"])
    return context


def _run_in_new_loop(coroutine):
    """asyncio.run without its SIGINT handler: on Python 3.11 restoring that handler formats
    the finished task, result included, which costs seconds for a 200 MB result."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        loop.run_until_complete(_settle(pending))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _settle(tasks) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


__all__ = [
    "OPTION_TYPES",
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
