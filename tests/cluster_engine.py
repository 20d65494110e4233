"""The engine the Ray cluster tests give their replicas (NST_CLUSTER_ENGINE=
"cluster_engine:TimedEngine", this folder on the workers' PYTHONPATH): the fake engine's
answer (255 - x), after a time each job asks for (10 ms an iteration), with the pid of each
process that starts a job left in a folder, so a test can kill the replica that runs it."""

from __future__ import annotations

import os
import time
from pathlib import Path

from fake_engine import FakeEngine

from nst_engine.errors import Cancelled


class TimedEngine(FakeEngine):
    """A job takes 10 ms per iteration of its options, looking at cancel as the engine does;
    its process's pid is written to $NST_TEST_PID_DIR/<pid> (when set) as it starts."""

    def __init__(self) -> None:
        super().__init__(hold=False)

    def __call__(self, work, progress, cancel):
        folder = os.environ.get("NST_TEST_PID_DIR")
        if folder:
            Path(folder, str(os.getpid())).write_text(str(time.time()))
        deadline = time.monotonic() + 0.01 * work.options.iterations
        while time.monotonic() < deadline:
            if cancel():
                raise Cancelled("the job was cancelled")
            time.sleep(0.02)
        return super().__call__(work, progress, cancel)


def serve(address: str) -> None:
    """`python tests/cluster_engine.py ADDRESS`: an nst-server with this engine, in a process
    of its own (that a test may kill), until SIGTERM."""
    from nst_server.app import StyleServer, serve_forever
    from nst_server.jobs import Limits

    server = StyleServer(address, device="cpu", limits=Limits(max_queue=2), engine=TimedEngine(),
                         warm=False)  # fmt: skip
    serve_forever(server)


if __name__ == "__main__":
    import sys

    serve(sys.argv[1])
