"""nst-server's queue, limits, transport and security with a fake engine injected (fast, and
the only place a fake is used): one job at a time, a full queue refused at once, queue
positions, out-of-memory survived, 32 MiB images moved in chunks both ways, the loopback rule,
TLS with an access token. The real engine end to end is in test_server_e2e.py."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
from nst_proto.client import StyleClient
from nst_proto.job import JobCancelled, JobFailed, JobRequest, ServerUnavailable
from nst_server.app import ConfigError, Security, StyleServer, is_loopback
from nst_server.jobs import Limits
from PIL import Image

from nst_engine.errors import Cancelled
from nst_engine.options import Progress


def png_bytes(side: int = 40, colour=(200, 40, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(buffer, format="PNG")
    return buffer.getvalue()


STYLE = png_bytes()


class FakeEngine:
    """Sleeps `step` seconds per iteration, reports progress, honours cancel, returns 255-x.
    seed 666 raises CUDA out-of-memory."""

    def __init__(self, step: float = 0.05) -> None:
        self.step = step
        self.running = 0
        self.max_running = 0
        self.calls: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, content, styles, mask, options, progress, cancel):
        import torch

        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.calls.append(options)
        try:
            if options.get("seed") == 666:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
            total = options.get("iterations", 5)
            for i in range(total):
                time.sleep(self.step)
                if cancel():
                    raise Cancelled("the job was cancelled")
                progress(Progress(0, 1, i, total, {"style": 1.0 / (i + 1)}, 0.1 * i, i + 1, total))
            if content.dtype == np.float32:
                return 1.0 - content, {"device": "cpu", "outcome": "done"}
            top = np.iinfo(content.dtype).max
            return (top - content).astype(content.dtype), {"device": "cpu", "outcome": "done"}
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture()
def fake():
    return FakeEngine()


@pytest.fixture()
def server(fake, request):
    limits = getattr(request, "param", None) or Limits(max_queue=2)
    srv = StyleServer("127.0.0.1:0", device="cpu", limits=limits, engine=fake, warm=False)
    srv.start()
    yield srv
    srv.stop(grace=1)


def grey(width=48, height=40, channels=3, dtype=np.uint8, value=10) -> np.ndarray:
    return np.full((height, width, channels), value, dtype=dtype)


def run_job(address, image, iterations=5, events=None, cancel=None, **options):
    sample = {"uint8": "u8", "uint16": "u16", "float32": "f32"}[image.dtype.name]
    request = JobRequest(
        image.tobytes(),
        image.shape[1],
        image.shape[0],
        image.shape[2],
        sample,
        [(STYLE, 1.0)],
        options={"iterations": iterations, **options},
    )
    with StyleClient(address) as client:
        return client.stylize(
            request, on_event=events.append if events is not None else None, cancel=cancel
        )


def test_one_job_at_a_time_and_a_full_queue_is_refused_at_once(server, fake):
    fake.step = 0.15
    results, errors, positions = {}, {}, {}

    def worker(name):
        events = []
        try:
            results[name] = run_job(server.address, grey(), iterations=8, events=events)
        except JobFailed as exc:
            errors[name] = (exc.code, str(exc), time.monotonic())
        positions[name] = [e.position for e in events if e.kind == "queued"]

    threads = []
    for name in range(3):  # one runs, two wait: the queue (2) is then full
        threads.append(threading.Thread(target=worker, args=(name,)))
        threads[-1].start()
        time.sleep(0.3)
    tic = time.monotonic()
    with pytest.raises(JobFailed) as refused:
        run_job(server.address, grey(), iterations=1)
    assert refused.value.code == "RESOURCE_EXHAUSTED"
    assert "queue is full" in str(refused.value)
    assert time.monotonic() - tic < 1.0, "a full queue must answer at once"
    for t in threads:
        t.join(30)
    assert not errors and sorted(results) == [0, 1, 2]
    assert fake.max_running == 1
    assert positions == {0: [0], 1: [1], 2: [2, 1]}, "the third job moves up once"
    assert np.array_equal(np.frombuffer(results[2].pixels, np.uint8), np.full(48 * 40 * 3, 245))


def test_out_of_memory_fails_that_job_and_the_server_keeps_serving(server, fake):
    with pytest.raises(JobFailed) as failed:
        run_job(server.address, grey(), seed=666)
    assert failed.value.code == "RESOURCE_EXHAUSTED"
    assert "out of memory" in str(failed.value) and "lower the working size" in str(failed.value)
    result = run_job(server.address, grey(value=5), iterations=2)
    assert np.frombuffer(result.pixels, np.uint8).min() == 250


def test_32_mib_of_rgba16_travels_in_chunks_both_ways(server, fake):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 65536, size=(2048, 2048, 4), dtype=np.uint16)  # 32 MiB
    tic = time.monotonic()
    result = run_job(server.address, image, iterations=1)
    seconds = time.monotonic() - tic
    assert (result.width, result.height, result.channels, result.sample_type) == (
        2048,
        2048,
        4,
        "u16",
    )
    back = np.frombuffer(result.pixels, "<u2").reshape(image.shape)
    assert np.array_equal(back, 65535 - image)
    assert seconds < 30


def test_float32_and_grey_alpha_keep_their_layout(server):
    image = np.linspace(0, 1, 64 * 33 * 2, dtype=np.float32).reshape(33, 64, 2)
    result = run_job(server.address, image, iterations=1)
    assert (result.channels, result.sample_type) == (2, "f32")
    assert np.allclose(np.frombuffer(result.pixels, "<f4").reshape(image.shape), 1 - image)


def test_cancel_while_queued_and_while_running(server, fake):
    fake.step = 0.2
    outcome = {}

    def long_job():
        try:
            run_job(server.address, grey(), iterations=100)
        except JobCancelled:
            outcome["first"] = "cancelled"

    first = threading.Thread(target=long_job)
    first.start()
    time.sleep(0.5)
    flag = threading.Event()
    tic = time.monotonic()
    threading.Timer(0.5, flag.set).start()
    with pytest.raises(JobCancelled):
        run_job(server.address, grey(), iterations=5, cancel=flag.is_set)  # waits: cancelled
    assert time.monotonic() - tic < 3
    # the running one: cancelled by its client, stops within one iteration
    with StyleClient(server.address) as client:
        assert client.info().busy
    server.scheduler.running.cancel("cancelled by the test")
    first.join(5)
    assert outcome == {"first": "cancelled"}
    assert len(fake.calls) == 1, "the cancelled waiting job must never reach the engine"


def test_non_loopback_bind_is_refused_without_tls_and_token():
    assert is_loopback("127.0.0.1:1") and is_loopback("[::1]:1") and is_loopback("unix:/tmp/x")
    assert is_loopback("localhost:50051")
    assert not is_loopback("0.0.0.0:50051") and not is_loopback("[::]:50051")
    with pytest.raises(ConfigError, match="TLS .* and an access token"):
        StyleServer("0.0.0.0:0", device="cpu", warm=False)
    with pytest.raises(ConfigError, match="an access token"):
        StyleServer(
            "0.0.0.0:0",
            device="cpu",
            warm=False,
            security=Security(cert_file=__file__, key_file=__file__),
        )
    proc = subprocess.run(
        [sys.executable, "-m", "nst_server", "serve", "--address", "0.0.0.0:0", "--no-warm-up"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "refusing to listen on 0.0.0.0:0" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreachable_server_names_the_command_that_starts_it():
    with StyleClient("127.0.0.1:9", connect_timeout=0.5) as client:
        with pytest.raises(ServerUnavailable, match="nst-server start --address 127.0.0.1:9"):
            client.info()


def self_signed(folder) -> tuple:
    """A key and a certificate for localhost and 127.0.0.1, valid for a day."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / "key.pem", folder / "cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def test_tls_with_token_every_call_needs_the_token(tmp_path, fake):
    key, cert = self_signed(tmp_path)
    srv = StyleServer(
        "127.0.0.1:0",
        device="cpu",
        engine=fake,
        warm=False,
        security=Security(cert, key, "s3cret-token"),
    )
    srv.start()
    try:
        roots = cert.read_bytes()
        with StyleClient(srv.address, token="s3cret-token", root_certificates=roots) as client:
            assert client.info().protocol == "nst.v1"
        with StyleClient(srv.address, token="wrong", root_certificates=roots) as client:
            with pytest.raises(JobFailed) as denied:
                client.info()
            assert denied.value.code == "UNAUTHENTICATED"
        # plain text to a TLS port: no answer that pretends to work
        with StyleClient(srv.address, connect_timeout=1) as client:
            with pytest.raises((ServerUnavailable, JobFailed)):
                client.info()
    finally:
        srv.stop(grace=1)


def test_the_port_taken_is_a_clear_error():
    holder = grpc.server(futures_pool(), options=[("grpc.so_reuseport", 0)])
    port = holder.add_insecure_port("127.0.0.1:0")
    holder.start()
    try:
        with pytest.raises(ConfigError, match="already in use"):
            StyleServer(f"127.0.0.1:{port}", device="cpu", warm=False)
    finally:
        holder.stop(0)


def futures_pool():
    from concurrent import futures

    return futures.ThreadPoolExecutor(max_workers=1)
