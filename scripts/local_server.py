"""A server for a script to talk to: the one given, else `nst-server serve` on a free port
for the script's run (used by screenshot_gimp.py and first_look.py)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def local_server(address: str | None, log: Callable[[str], None] = print) -> Iterator[str]:
    """Yield `address`, or start `nst-server serve` on a free port, wait until it answers,
    yield its address and stop it afterwards."""
    if address:
        yield address
        return
    from nst_proto.client import StyleClient

    address = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nst_server", "serve", "--address", address],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        StyleClient(address).wait_ready(120)
        log(f"nst-server serve on {address}")
        yield address
    finally:
        proc.terminate()
        proc.wait(60)
