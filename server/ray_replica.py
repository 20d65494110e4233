"""One replica of the nst.v1 service on Ray Serve: the single server's StyleService, Scheduler
and engine in a Serve deployment, so every replica runs jobs exactly as `nst-server serve`.

Ray Serve's gRPC proxy calls a deployment's methods by the RPC's name with protobuf messages
(a gRPCInputStream for a streaming request) and takes an async generator for a streaming
reply. StyleReplica's methods are made from the contract's descriptor (style.proto's
StyleService, and grpc.health.v1's Check so that health checks and `nst-server status` work
through the proxy): a method added to style.proto and to StyleService passes through with no
edit here. Each call runs StyleService's synchronous method in a thread of its own, with
ReplicaContext standing in for grpcio's servicer context (abort, is_active, callbacks), and
the messages cross between the thread and Ray's event loop through queues. A client that
goes away reaches the replica as asyncio.CancelledError: the context goes inactive, its
callbacks run (the job is cancelled) and the request stream ends.

This module is imported only under `nst-server ... --cluster` (by the driver and by every
replica), never by the single-machine server.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import importlib
import logging
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2
from nst_proto import SERVICE_NAME
from nst_proto import style_pb2 as pb

from . import ray_grpc  # noqa: F401 - how the contract's messages cross Ray (pickle)
from .jobs import Limits

log = logging.getLogger("nst_server")
_END = object()  # the end of a request stream or of a reply stream


def token_digest(token: str | None) -> str | None:
    """What the replicas keep of the access token (its SHA-256): deployment arguments are
    visible to whoever can read the Ray cluster's state."""
    return None if token is None else hashlib.sha256(f"Bearer {token}".encode()).hexdigest()


@dataclass(frozen=True)
class ReplicaSettings:
    """What every replica is built from (the driver's `nst-server serve` options)."""

    device: str = "cpu"  # "cpu", or "auto" on a GPU replica (Ray gives it one GPU)
    limits: Limits = field(default_factory=Limits)
    models: str | None = None  # the style library: the same path on every node
    engine: str | None = None  # "module:Class" built with the device; None: WorkspaceEngine
    token_sha256: str | None = None  # every call but health checks must carry the token
    warm: bool = True


class Aborted(Exception):
    """ReplicaContext.abort: ends the call with `code` and `details`, as grpcio's abort."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class ReplicaContext:
    """What StyleService uses of grpcio's servicer context, for a call that came through Ray
    Serve: abort, is_active and add_callback (run once, when the call ends)."""

    def __init__(self, metadata: list[tuple[str, str]] | None = None) -> None:
        self.metadata = metadata or []
        self.active = True
        self.callbacks: list[Callable[[], None]] = []
        self.lock = threading.Lock()

    def abort(self, code: grpc.StatusCode, details: str):
        raise Aborted(code, details)

    def is_active(self) -> bool:
        return self.active

    def add_callback(self, callback: Callable[[], None]) -> bool:
        with self.lock:
            if self.active:
                self.callbacks.append(callback)
                return True
        callback()
        return True

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return self.metadata

    def end(self) -> None:
        """The call ended (finished, failed, or its client went away)."""
        with self.lock:
            self.active, callbacks, self.callbacks = False, self.callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - one callback's failure must not stop the others
                log.exception("a call's end callback failed")


def _build_engine(settings: ReplicaSettings, device: str):
    if settings.engine is None:
        from .engine import WorkspaceEngine

        return WorkspaceEngine(device)
    module, _, name = settings.engine.partition(":")
    return getattr(importlib.import_module(module), name)()


class ReplicaBase:
    """The state of one replica; the RPC methods are added by _with_rpcs."""

    def __init__(self, settings: ReplicaSettings) -> None:
        from .app import server_device, static_info
        from .jobs import Scheduler
        from .library import StyleLibrary
        from .service import StyleService
        from .speed import SpeedRecord

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        self.settings = settings
        device = server_device(settings.device)
        library = StyleLibrary(settings.models) if settings.models else None
        if library is not None and not library.folder.is_dir():
            log.warning(
                "the style library %s is not on this node: every replica must see the same "
                "folder (docs/cluster.md); this one lists the shipped models only",
                library.folder,
            )
        info = static_info(device)
        engine = _build_engine(settings, device)
        scheduler = Scheduler(settings.limits, device, engine, library, SpeedRecord(device))
        self.service = StyleService(scheduler, settings.limits, lambda: info)
        self.replica = _replica_id()
        if settings.warm:
            engine.warm_up()
            scheduler.request_calibration()
        log.info("nst.v1 replica %s ready (device %s, pid %d)", self.replica, device, os.getpid())

    def Check(self, request, grpc_context=None):  # noqa: N802 - grpc.health.v1's name
        """Health: SERVING for the whole server and for nst.v1 (no token needed)."""
        known = request.service in ("", SERVICE_NAME)
        status = "SERVING" if known else "SERVICE_UNKNOWN"
        return health_pb2.HealthCheckResponse(status=status)

    def _context(self, grpc_context) -> ReplicaContext:
        metadata = list(grpc_context.invocation_metadata()) if grpc_context is not None else []
        context = ReplicaContext(metadata)
        expected = self.settings.token_sha256
        if expected is not None:
            given = str(dict(metadata).get("authorization", ""))
            digest = hashlib.sha256(given.encode()).hexdigest()
            if not hmac.compare_digest(digest, expected):
                _fail(grpc_context, Aborted(grpc.StatusCode.UNAUTHENTICATED,
                                            "a valid access token is required"))  # fmt: skip
        return context

    def _stamped(self, message):
        """The replica that ran a job, in its Finished stats (a cluster spreads jobs)."""
        if isinstance(message, pb.StylizeEvent) and message.HasField("finished"):
            message.finished.stats["replica"] = self.replica
            message.finished.stats["replica_pid"] = str(os.getpid())
        return message

    async def _unary(self, name: str, request, grpc_context, streaming_request: bool):
        context = self._context(grpc_context)
        method = getattr(self.service, name)
        requests = _SyncRequests(request) if streaming_request else None
        try:
            return await asyncio.to_thread(
                method, requests.iterate() if requests else request, context
            )
        except Aborted as exc:
            _fail(grpc_context, exc)
        finally:
            context.end()
            if requests is not None:
                requests.stop()

    async def _stream(self, name: str, request, grpc_context, streaming_request: bool):
        context = self._context(grpc_context)
        method = getattr(self.service, name)
        loop = asyncio.get_running_loop()
        replies: asyncio.Queue = asyncio.Queue()
        requests = _SyncRequests(request) if streaming_request else None

        def hand(item) -> None:
            if context.is_active():  # else the call is over and nobody reads
                loop.call_soon_threadsafe(replies.put_nowait, item)

        def run() -> None:
            try:
                for message in method(requests.iterate() if requests else request, context):
                    hand(message)
                hand(_END)
            except BaseException as exc:  # noqa: BLE001 - handed to the call's event loop
                hand(exc)

        threading.Thread(target=run, name=f"nst-call-{name}", daemon=True).start()
        try:
            while (message := await replies.get()) is not _END:
                if isinstance(message, Aborted):
                    _fail(grpc_context, message)
                if isinstance(message, BaseException):
                    raise message
                yield self._stamped(message)
        finally:  # normal end, failure, or asyncio.CancelledError: the client went away
            context.end()
            if requests is not None:
                requests.stop()


class _SyncRequests:
    """A gRPCInputStream (async) read by an asyncio task into a queue that the call's thread
    iterates: the bridge from Ray's event loop to StyleService's blocking reads."""

    def __init__(self, stream: AsyncIterator) -> None:
        self.inbox: queue.Queue = queue.Queue(maxsize=4)  # read ahead a few chunks at most
        self.stopped = threading.Event()
        self.task = asyncio.get_running_loop().create_task(self._pump(stream))

    async def _pump(self, stream: AsyncIterator) -> None:
        try:
            async for message in stream:
                await self._put(message)
        except Exception:  # noqa: BLE001 - the stream broke: the request stream just ends
            log.info("a request stream ended with an error", exc_info=True)
        await self._put(_END)

    async def _put(self, item) -> None:
        """Hand over one item when there is room, unless the call ended (nobody reads)."""
        while not self.stopped.is_set():
            try:
                self.inbox.put_nowait(item)
                return
            except queue.Full:
                await asyncio.sleep(0.005)

    def iterate(self) -> Iterator:
        while not self.stopped.is_set():
            try:
                message = self.inbox.get(timeout=0.5)
            except queue.Empty:
                continue
            if message is _END:
                return
            yield message

    def stop(self) -> None:
        self.stopped.set()
        self.task.cancel()


def _fail(grpc_context, exc: Aborted):
    """End the call with the status StyleService gave: Ray Serve's proxy keeps the code set
    on its context when the method then raises."""
    if grpc_context is not None:
        grpc_context.set_code(exc.code)
        grpc_context.set_details(exc.details)
    raise RuntimeError(exc.details)


def _replica_id() -> str:
    try:
        from ray import serve

        return serve.get_replica_context().replica_id.unique_id
    except Exception:  # noqa: BLE001 - outside a Serve replica (a unit test)
        return f"pid-{os.getpid()}"


def _rpc(name: str, client_streaming: bool, server_streaming: bool) -> Callable:
    """The deployment method for one RPC: an async generator for a streaming reply, a
    coroutine for one reply, as Ray Serve's proxy expects."""
    if server_streaming:

        async def rpc(self, request, grpc_context=None):
            async for message in self._stream(name, request, grpc_context, client_streaming):
                yield message

    else:

        async def rpc(self, request, grpc_context=None):
            return await self._unary(name, request, grpc_context, client_streaming)

    rpc.__name__ = rpc.__qualname__ = name
    return rpc


def _with_rpcs(base: type) -> type:
    methods: dict[str, Any] = {}
    for method in pb.DESCRIPTOR.services_by_name["StyleService"].methods:
        methods[method.name] = _rpc(method.name, method.client_streaming, method.server_streaming)
    cls = type("StyleReplica", (base,), methods)
    cls.__module__ = __name__
    return cls


# The deployment's class: by reference in Ray's pickles, so every replica builds it from the
# contract it has installed.
StyleReplica = _with_rpcs(ReplicaBase)

# What Ray Serve's gRPC proxy registers (grpc_servicer_functions): nst.v1 and grpc.health.v1.
SERVICER_FUNCTIONS = ["nst_server.ray_grpc.add_servicers"]


def library_folder(models: str | os.PathLike | None) -> str | None:
    """The style library's folder as every replica gets it: absolute, as given."""
    return None if models is None else str(Path(models).expanduser().resolve())
