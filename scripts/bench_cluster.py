#!/usr/bin/env python3
"""What the Ray cluster path adds to one small job, against a direct nst-server, and what
the Ray processes weigh.

    python scripts/bench_cluster.py [--size 128] [--iterations 10] [--jobs 5]

Both paths run the real engine on the CPU with one thread (Ray gives a CPU replica as many
threads as its CPUs, one here; the direct server is held to the same, so the figure is the
path's and not the thread count's): a direct `nst-server serve` in a process of its own, and
`nst-server serve --cluster auto` as this process (a new local Ray, Serve's gRPC proxy, one
CPU replica). Each path runs one job to warm up (the first loads the network and the style
targets), then the timed jobs alternate between the paths, so a change in the machine's load
falls on both. Printed: the median whole job per path and the difference (the cluster path's
cost, warm), the median GetInfo round trip per path, the time from nothing to a ready
cluster, and the resident memory of every Ray process by role (psutil).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROLES = ("ServeReplica", "ServeController", "ProxyActor", "gcs_server", "raylet")


def _job(size: int, iterations: int):
    import numpy as np
    from nst_proto.job import JobRequest

    from nst_engine import gallery

    height, width = size * 3 // 4, size
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], -1).astype(np.uint8)
    painting = gallery.names()[0]
    return JobRequest(image.tobytes(), width, height, 3, "u8", styles=[(painting, 1.0)],
                      options={"iterations": iterations, "size": size})  # fmt: skip


def _timed_job(address: str, request) -> float:
    from nst_proto.client import StyleClient

    tic = time.perf_counter()
    with StyleClient(address, 600) as client:
        client.stylize(request)
    return time.perf_counter() - tic


def _info_round_trip(address: str, calls: int = 20) -> float:
    from nst_proto.client import StyleClient

    with StyleClient(address, 60) as client:
        client.info()
        times = []
        for _ in range(calls):
            tic = time.perf_counter()
            client.info()
            times.append(time.perf_counter() - tic)
    return statistics.median(times)


def _start_direct(address: str) -> subprocess.Popen:
    from nst_proto.client import StyleClient

    command = [sys.executable, "-m", "nst_server", "serve", "--address", address,
               "--device", "cpu", "--log-level", "WARNING"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with StyleClient(address) as client:
        client.wait_ready(120)
    return proc


def _start_cluster(port: int) -> float:
    from nst_server import cluster
    from nst_server.jobs import Limits
    from nst_server.ray_replica import ReplicaSettings

    tic = time.perf_counter()
    cluster.connect("auto")
    cluster.deploy(ReplicaSettings(limits=Limits()), cluster.placement("cpu", 1), port)
    return time.perf_counter() - tic


def ray_memory() -> dict[str, float]:
    """Resident MB of this process's Ray processes (a local Ray is its children), by role."""
    import psutil

    by_role: dict[str, float] = defaultdict(float)
    for child in psutil.Process().children(recursive=True):
        try:
            command = " ".join(child.cmdline())
            rss = child.memory_info().rss / 2**20
        except psutil.Error:
            continue
        if "nst_server" in command and "serve" in command:
            continue  # the direct server
        role = next((r for r in ROLES if r in command), None)
        if role is None:  # Ray's Python helpers by their script, the rest by their name
            scripts = [Path(a).name for a in child.cmdline()[1:3] if a.endswith(".py")]
            role = scripts[0] if scripts else child.name()
        by_role[role] += rss
    return dict(by_role)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128, help="the job's long side (128)")
    parser.add_argument("--iterations", type=int, default=10, help="the job's iterations (10)")
    parser.add_argument("--jobs", type=int, default=5, help="timed jobs per path (5)")
    args = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"  # before Ray starts: its workers inherit it
    import psutil
    from nst_server.cluster import free_port, undeploy

    request = _job(args.size, args.iterations)
    direct = f"127.0.0.1:{free_port()}"
    server = _start_direct(direct)
    try:
        port = free_port()
        ready = _start_cluster(port)
        via_ray = f"127.0.0.1:{port}"
        try:
            times: dict[str, list[float]] = {"direct": [], "cluster": []}
            for address in (direct, via_ray):
                _timed_job(address, request)  # warm-up
            for _ in range(args.jobs):
                times["direct"].append(_timed_job(direct, request))
                times["cluster"].append(_timed_job(via_ray, request))
            info = {"direct": _info_round_trip(direct), "cluster": _info_round_trip(via_ray)}
            memory = ray_memory()
            direct_mb = psutil.Process(server.pid).memory_info().rss / 2**20
        finally:
            undeploy(stop_ray=True)
    finally:
        server.terminate()
        server.wait(30)
    job = {path: statistics.median(values) for path, values in times.items()}
    print(f"one job: {request.width}x{request.height}, {args.iterations} iterations, CPU, "
          f"1 thread; median of {args.jobs} warm jobs per path")  # fmt: skip
    for path in ("direct", "cluster"):
        spread = ", ".join(f"{t:.2f}" for t in times[path])
        print(f"  {path:8} job {job[path]:.3f} s ({spread})   GetInfo {info[path] * 1e3:.1f} ms")
    fastest = {path: min(values) for path, values in times.items()}
    print(f"  the cluster path adds {job['cluster'] - job['direct']:+.3f} s to a job's median "
          f"({fastest['cluster'] - fastest['direct']:+.3f} s between the fastest jobs), "
          f"{(info['cluster'] - info['direct']) * 1e3:+.1f} ms to a one-answer call (target: "
          f"under 1 s)")  # fmt: skip
    print(f"cluster ready (local Ray, Serve, one replica) in {ready:.1f} s")
    print("resident memory of the Ray processes:")
    for role, mb in sorted(memory.items(), key=lambda item: -item[1]):
        print(f"  {role:22} {mb:7.0f} MB")
    print(f"  {'total':22} {sum(memory.values()):7.0f} MB")
    print(f"  (the direct nst-server, for comparison: {direct_mb:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
