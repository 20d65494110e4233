"""`nst-server serve --cluster ADDRESS`: the nst.v1 service on a Ray cluster, through Ray
Serve's gRPC proxy (see docs/cluster.md).

The process that runs this is the driver: it joins the cluster (`auto`: a new local Ray
instance of its own), starts Serve's gRPC proxy on the port of --address with nst.v1 and
grpc.health.v1 registered, deploys StyleReplica (nst_server.ray_replica: one replica per GPU,
or the given number on CPUs), and then waits for SIGTERM or SIGINT, as `nst-server serve`
does; on the way out it deletes the application (and Serve, if nothing else runs on it),
and a local Ray instance ends with it. Ray is imported here only, and only under --cluster.

Back-pressure is the single server's, per replica: each replica's scheduler refuses a job
beyond its queue with RESOURCE_EXHAUSTED and reports the job's true place in its own queue;
in front of them, Serve's router gives RESOURCE_EXHAUSTED once every replica is at its
max_ongoing_requests and max_queued_requests calls wait for one. Each call goes to the replica
with the fewest calls in hand (nst_server.ray_router), so jobs spread over idle replicas.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .app import ConfigError, Security, split_address
from .jobs import Limits
from .ray_replica import SERVICER_FUNCTIONS, ReplicaSettings, StyleReplica, token_digest

log = logging.getLogger("nst_server")
APP_NAME = "nst"
# Calls beside a replica's jobs (GetInfo, Estimate, health checks) that it takes at once.
UNARY_SLACK = 8


@dataclass(frozen=True)
class Placement:
    """How many replicas, and what each one takes of a node."""

    replicas: int
    num_cpus: float
    num_gpus: float

    def describe(self) -> str:
        if self.num_gpus:
            return f"{self.replicas} GPU replica(s), one GPU each"
        return f"{self.replicas} CPU replica(s), {self.num_cpus:g} CPU each"


def connect(cluster: str, num_cpus: int | None = None) -> None:
    """Join the Ray cluster at `cluster` ("auto": start a new local instance)."""
    import ray

    try:
        if cluster == "auto":
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                     log_to_driver=False)  # fmt: skip
        else:
            ray.init(address=cluster, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"cannot join the Ray cluster at {cluster}: {exc}") from None


def placement(device: str, replicas: int | None) -> Placement:
    """One replica per GPU of the cluster (unless --device cpu); else `replicas` (default 1)
    on CPUs, each taking a share of the CPUs that leaves room for Serve's own actors (on a
    2-CPU machine, two replicas take 0.66 CPU each)."""
    import ray

    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), float(resources.get("CPU", 1))
    if replicas is not None and replicas < 1:
        raise ConfigError(f"--replicas must be at least 1, got {replicas}")
    if device != "cpu" and gpus:
        return Placement(replicas or gpus, 1.0, 1.0)
    count = replicas or 1
    return Placement(count, min(1.0, int(100 * cpus / (count + 1)) / 100) or 0.01, 0.0)


def deploy(
    settings: ReplicaSettings, where: Placement, port: int, http_port: int | None = None
) -> None:
    """Start Serve's proxies (gRPC on `port` of every node; HTTP on loopback only) and run
    the application; returns once every replica is ready."""
    from ray import serve
    from ray.serve.config import HTTPOptions, RequestRouterConfig, gRPCOptions

    from .ray_router import FewestJobsRouter

    serve.start(
        http_options=HTTPOptions(host="127.0.0.1", port=http_port or free_port()),
        grpc_options=gRPCOptions(port=port, grpc_servicer_functions=SERVICER_FUNCTIONS),
    )
    limits = settings.limits
    deployment = serve.deployment(
        StyleReplica,
        name="StyleReplica",
        num_replicas=where.replicas,
        ray_actor_options={"num_cpus": where.num_cpus, "num_gpus": where.num_gpus},
        max_ongoing_requests=limits.max_queue + 1 + UNARY_SLACK,
        max_queued_requests=limits.max_queue,
        request_router_config=RequestRouterConfig(request_router_class=FewestJobsRouter),
        health_check_period_s=2,
        graceful_shutdown_timeout_s=5,  # `nst-server stop`: running jobs get 5 s, as alone
    )
    serve.run(deployment.bind(settings), name=APP_NAME, blocking=False)


def undeploy(stop_ray: bool) -> None:
    """Delete the application, Serve too when nothing else runs on it, then leave Ray."""
    import ray
    from ray import serve

    try:
        serve.delete(APP_NAME)
        if not serve.status().applications:
            serve.shutdown()
    finally:
        if stop_ray:
            ray.shutdown()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check_security(address: str, security: Security) -> int:
    """The proxy's port; TLS is refused (Ray Serve's gRPC proxy has none), and a missing
    token is warned about, since the proxy listens on every interface of every node."""
    if security.tls:
        raise ConfigError(
            "Ray Serve's gRPC proxy has no TLS: drop --tls-cert/--tls-key and put a TLS proxy "
            "in front of the cluster (docs/cluster.md), or run single servers"
        )
    _, port = split_address(address)
    if port is None or port == 0:
        raise ConfigError(f"--cluster needs --address HOST:PORT with a port, not {address}")
    if security.token is None:
        log.warning(
            "Ray Serve's gRPC proxy listens on port %d of every interface of every node, "
            "with no access token: anyone who reaches the port can run jobs (set "
            "--token-file or NST_SERVER_TOKEN, and firewall the port)",
            port,
        )
    return port


def settings_for(args, security: Security, engine: str | None = None) -> ReplicaSettings:
    from .ray_replica import library_folder

    return ReplicaSettings(
        device="cpu" if args.device == "cpu" else "auto",
        limits=Limits(max_queue=max(0, args.max_queue), max_pixels=args.max_pixels),
        models=library_folder(args.models),
        engine=engine or os.environ.get("NST_CLUSTER_ENGINE") or None,
        token_sha256=token_digest(security.token),
        warm=not args.no_warm_up,
    )


def serve_cluster(args, security: Security, on_ready: Callable[[dict], None]) -> int:
    """Run the service on the cluster until SIGTERM or SIGINT (`nst-server stop`)."""
    port = check_security(args.address, security)
    connect(args.cluster)
    done = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: done.set())
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        where = placement(args.device, args.replicas)
        tic = time.monotonic()
        deploy(settings_for(args, security), where, port)
        log.info(
            "nst.v1 on the Ray cluster %s: %s, gRPC proxy on port %d of every node; "
            "ready in %.1f s",
            args.cluster, where.describe(), port, time.monotonic() - tic,
        )  # fmt: skip
        on_ready({"cluster": args.cluster, "replicas": where.replicas})
        while not done.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        undeploy(stop_ray=True)
    return 0
