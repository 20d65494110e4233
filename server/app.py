"""Building and running the gRPC server: the style service, grpc.health.v1, reflection, the
loopback-only rule, TLS and the access token, and a graceful shutdown."""

from __future__ import annotations

import errno
import hmac
import logging
import os
import platform
import signal
import socket
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from nst_proto import DEFAULT_ADDRESS, SERVICE_NAME
from nst_proto import style_pb2 as pb
from nst_proto.access import is_loopback

from . import __version__
from .jobs import Engine, Limits, Scheduler
from .library import StyleLibrary
from .service import StyleService, add_to_server
from .speed import SpeedRecord

log = logging.getLogger("nst_server")


class ConfigError(Exception):
    """The server cannot start as configured; the message says what to change."""


@dataclass
class Security:
    cert_file: Path | None = None
    key_file: Path | None = None
    token: str | None = None

    @property
    def tls(self) -> bool:
        return self.cert_file is not None and self.key_file is not None


def split_address(address: str) -> tuple[str, int | None]:
    """("host", port) of "host:port" / "[v6]:port", or ("unix:/path", None)."""
    if address.startswith("unix:") or address.startswith("unix-abstract:"):
        return address, None
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"address {address!r} is not HOST:PORT or unix:/path")
    return host.strip("[]"), int(port)


def check_bind(address: str, security: Security) -> None:
    """Refuse a non-loopback address unless TLS and an access token are both configured."""
    host, port = split_address(address)  # a malformed address: ConfigError
    if is_loopback(address):
        return
    try:
        socket.getaddrinfo(host, port)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {address}: {host!r} is not a host name or address of this "
            f"machine ({exc.strerror or exc}); use 127.0.0.1:PORT"
        ) from None
    missing = [
        what
        for what, ok in (
            ("TLS (--tls-cert and --tls-key)", security.tls),
            ("an access token (--token-file or NST_SERVER_TOKEN)", security.token),
        )
        if not ok
    ]
    if missing:
        raise ConfigError(
            f"refusing to listen on {address}: it is reachable from other machines, and "
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not configured. "
            "Use 127.0.0.1:PORT or unix:/path for this machine only, or configure both."
        )


class TokenInterceptor(grpc.ServerInterceptor):
    """Every call must carry `authorization: Bearer <token>`."""

    def __init__(self, token: str) -> None:
        self.expected = f"Bearer {token}".encode()

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid access token is required")

        self.deny_unary = grpc.unary_unary_rpc_method_handler(deny)
        self.deny_stream = grpc.stream_stream_rpc_method_handler(deny)

    def intercept_service(self, continuation, handler_call_details):
        metadata = dict(handler_call_details.invocation_metadata or ())
        given = str(metadata.get("authorization", "")).encode()
        if hmac.compare_digest(given, self.expected):
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        if handler is not None and handler.request_streaming:
            return self.deny_stream
        return self.deny_unary


def server_device(device: str) -> str:
    """The device the server runs its jobs on, as a string ("cpu", "cuda:0")."""
    from nst_engine.devices import resolve_device
    from nst_engine.errors import InputError

    try:
        return str(resolve_device(device))
    except InputError as exc:
        raise ConfigError(f"--device {device}: {exc}") from None


def speed_key(device: str) -> str:
    """What the speed record is kept under: the device and its model (another GPU or CPU
    behind the same name measures anew)."""
    import torch

    from nst_engine.devices import device_name

    return f"{device}: {device_name(torch.device(device))}"


def static_info(device: str, extractor: str = "vgg19") -> dict[str, Any]:
    import google.protobuf
    import torch

    import nst_engine

    gpu_name, gpu_memory = "", 0
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(device))
        gpu_name, gpu_memory = props.name, int(props.total_memory)
    elif device == "mps":  # unified memory: the Apple GPU shares the machine's RAM
        from nst_engine.devices import device_name
        from nst_engine.memory import total_ram_bytes

        gpu_name, gpu_memory = device_name(torch.device("mps")), total_ram_bytes()
    weights = extractor
    if extractor == "vgg19":
        from nst_engine import features

        weights = (
            f"vgg19: Oxford VGG-19 ({features.EMBEDDED_WEIGHTS_FILE} from "
            f"{features.EMBEDDED_WEIGHTS_PACKAGE}, sha256 {features.EMBEDDED_WEIGHTS_SHA256[:16]})"
        )
    from nst_engine import gallery
    from nst_engine.options import METHODS, QUALITY_PRESETS

    return {
        "server_version": __version__,
        "engine_version": nst_engine.__version__,
        "torch_version": torch.__version__,
        "grpc_version": grpc.__version__,
        "protobuf_version": google.protobuf.__version__,
        "python_version": platform.python_version(),
        "device": device,
        "gpu_name": gpu_name,
        "gpu_memory_bytes": gpu_memory,
        "weights": weights,
        "gallery": gallery.names(),
        "methods": list(METHODS),
        "qualities": list(QUALITY_PRESETS),
    }


class StyleServer:
    """A running server: grpc.Server, its scheduler and health servicer."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        device: str = "auto",
        limits: Limits | None = None,
        security: Security | None = None,
        engine: Engine | None = None,
        warm: bool = True,
        models: str | os.PathLike | None = None,
        speed_file: str | os.PathLike | None = None,
    ) -> None:
        """`models` is the style library folder (created if missing); None serves none.
        `speed_file` keeps the measured speed across restarts (None: in memory only); with
        `warm`, a server that has measured nothing yet calibrates itself once it listens."""
        self.security = security or Security()
        check_bind(address, self.security)
        self.limits = limits or Limits()
        self.device = server_device(device)
        self.requested_address = address
        library = None
        if models is not None:
            library = StyleLibrary(models)
            try:
                library.ensure_folder()
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the style library {library.folder}: {exc}"
                ) from None
        info = static_info(self.device)
        speed = SpeedRecord(speed_key(self.device), Path(speed_file) if speed_file else None)
        if engine is None:
            from .engine import WorkspaceEngine  # torch: not for the commands that only check

            engine = WorkspaceEngine(self.device)
        self.scheduler = Scheduler(self.limits, self.device, engine, library, speed)
        self.service = StyleService(self.scheduler, self.limits, lambda: info)
        self.health = health.HealthServicer()
        interceptors = [TokenInterceptor(self.security.token)] if self.security.token else []
        self.server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=self.limits.max_queue + 12, thread_name_prefix="nst-rpc"
            ),
            interceptors=interceptors,
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", self.limits.max_message_bytes),
                ("grpc.max_send_message_length", self.limits.max_message_bytes),
            ],
            maximum_concurrent_rpcs=self.limits.max_queue + 10,
        )
        add_to_server(self.service, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = (
            pb.DESCRIPTOR.services_by_name["StyleService"].full_name,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, self.server)
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        self.address = self._bind(address)
        self.warm = warm
        self.stopped = threading.Event()

    def _bind(self, address: str) -> str:
        host, port = split_address(address)
        if port is None:
            path = address.split(":", 1)[1]
            if os.path.exists(path):
                if _socket_answers(path):
                    raise ConfigError(f"{path} is in use by another server")
                os.unlink(path)  # a stale socket left by a server that died
        try:
            if self.security.tls:
                credentials = grpc.ssl_server_credentials(
                    [(self.security.key_file.read_bytes(), self.security.cert_file.read_bytes())]
                )
                bound = self.server.add_secure_port(address, credentials)
            else:
                bound = self.server.add_insecure_port(address)
        except RuntimeError as exc:
            bound = 0
            reason = str(exc)
        else:
            reason = ""
        if not bound:
            raise ConfigError(f"cannot listen on {address}: {why_not_bound(host, port, reason)}")
        if port == 0:
            return f"{host}:{bound}" if ":" not in host else f"[{host}]:{bound}"
        return address

    def _set_health(self, status) -> None:
        self.health.set("", status)
        self.health.set(SERVICE_NAME, status)

    def start(self) -> None:
        self.server.start()
        if self.warm:
            self.scheduler.engine.warm_up()
            self.scheduler.request_calibration()
        self._set_health(health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "nst-server %s listening on %s (device %s, queue %d, pid %d)",
            __version__,
            self.address,
            self.device,
            self.limits.max_queue,
            os.getpid(),
        )

    def stop(self, grace: float = 5.0) -> None:
        """Refuse new jobs, cancel the running and waiting ones, end every call, then exit."""
        if self.stopped.is_set():
            return
        self.stopped.set()
        self.health.enter_graceful_shutdown()
        self.scheduler.close()
        self.server.stop(grace).wait(grace + 5)
        self.scheduler.join(timeout=grace + 30)
        _, port = split_address(self.address)
        if port is None:
            path = self.address.split(":", 1)[1]
            try:
                os.unlink(path)
            except OSError:
                pass
        log.info("nst-server on %s stopped", self.address)

    def wait(self) -> None:
        self.server.wait_for_termination()


def why_not_bound(host: str, port: int | None, grpc_reason: str = "") -> str:
    """Why gRPC could not listen, found by trying the same with a plain socket."""
    if port is None:
        return f"the socket file cannot be made ({grpc_reason or 'see its folder'})"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"{host!r} is not a host name or address of this machine ({exc.strerror or exc})"
    family, _, _, _, where = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(where)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    "the port is already in use; is another nst-server running (`nst-server "
                    "status`)? Pick another port with --address 127.0.0.1:PORT"
                )
            return f"{exc.strerror or exc}; use --address 127.0.0.1:PORT"
    return (
        f"gRPC does not take {host!r} as a host to listen on (the system reads it as "
        f"{where[0]}); write it as an IP address such as {where[0]}, or as localhost"
    )


def _socket_answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        try:
            sock.connect(path)
            return True
        except OSError:
            return False


def serve_forever(server: StyleServer, on_ready: Callable[[], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully."""
    done = threading.Event()

    def handle(signum, _frame) -> None:
        log.info("signal %d: shutting down", signum)
        done.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        if on_ready is not None:
            on_ready()
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
