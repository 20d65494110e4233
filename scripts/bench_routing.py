#!/usr/bin/env python3
"""How often two jobs sent at once land on the same replica of a two-replica cluster, with
Serve's default router and with the product's (nst_server.ray_router.FewestJobsRouter).

    python scripts/bench_routing.py [--trials 8] [--pause 11] [--router both]

A new local Ray (2 CPUs) with Serve and two CPU replicas running the tests' timed engine
(tests/cluster_engine.py: 10 ms an iteration, no network), once per router. Each trial sends
two 0.5 s jobs from two threads at the same moment and notes the replica that ran each, then
waits --pause seconds: over 10 s lets Serve's queue-length cache expire, as between two
artists' jobs. Printed per router: the trials whose two jobs shared a replica.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
ENGINE = "cluster_engine:TimedEngine"


def _same_replica(address: str, request) -> bool:
    from nst_proto.client import StyleClient

    replicas = {}

    def run(name: str) -> None:
        with StyleClient(address, 60) as client:
            replicas[name] = client.stylize(request).stats["replica"]

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return replicas["a"] == replicas["b"]


def measure(router: str, trials: int, pause: float) -> int:
    """Trials (of `trials`) whose two jobs ran on the same replica."""
    from nst_server import cluster, ray_router
    from nst_server.jobs import Limits
    from nst_server.ray_replica import ReplicaSettings
    from test_cluster_service import request

    if router == "default":  # what cluster.deploy names, replaced by Serve's own
        from ray.serve._private.request_router.pow_2_router import (
            PowerOfTwoChoicesRequestRouter,
        )

        ray_router.FewestJobsRouter = PowerOfTwoChoicesRequestRouter
    cluster.connect("auto", num_cpus=2)
    try:
        port = cluster.free_port()
        settings = ReplicaSettings(limits=Limits(max_queue=2), engine=ENGINE, warm=False,
                                   models=tempfile.mkdtemp())  # fmt: skip
        cluster.deploy(settings, cluster.placement("cpu", 2), port)
        same = 0
        for _ in range(trials):
            time.sleep(pause)
            same += _same_replica(f"127.0.0.1:{port}", request(iterations=50))
        return same
    finally:
        cluster.undeploy(stop_ray=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--pause", type=float, default=11.0, help="seconds before each trial")
    parser.add_argument("--router", choices=("default", "fewest", "both"), default="both")
    args = parser.parse_args()
    sys.path.insert(0, str(TESTS))
    path = filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])
    os.environ["PYTHONPATH"] = os.pathsep.join(path)  # the replicas import the engine
    os.environ["NST_CLUSTER_ENGINE"] = ENGINE
    os.environ.setdefault("NST_TEST_PID_DIR", tempfile.mkdtemp())
    if args.router == "both":  # one process per router: each needs a Ray of its own
        for router in ("default", "fewest"):
            argv = [sys.executable, __file__, "--trials", str(args.trials), "--pause",
                    str(args.pause), "--router", router]  # fmt: skip
            subprocess.run(argv, check=True)
        return 0
    same = measure(args.router, args.trials, args.pause)
    print(f"{args.router} router: two jobs at once shared a replica in {same} of "
          f"{args.trials} trials ({args.pause:g} s idle before each)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
