"""nst-server's transport, limits and security with a fake engine injected (fast): a full
queue refused at once and a Cancel on the request stream, as a client sees them, 32 MiB
images moved in chunks both ways, the loopback rule, TLS with an access token. The scheduler
itself is tested without gRPC in test_scheduler.py; the real engine end to end in
test_server_e2e.py."""

from __future__ import annotations

import subprocess
import sys
import threading

import grpc
import numpy as np
import pytest
from fake_engine import WAIT, FakeEngine
from nst_proto.access import is_loopback
from nst_proto.client import StyleClient
from nst_proto.job import JobCancelled, JobFailed, JobRequest, ServerUnavailable
from nst_server.app import ConfigError, Security, StyleServer
from nst_server.jobs import Limits
from test_scheduler import STYLE


@pytest.fixture()
def fake():
    return FakeEngine(hold=False)


@pytest.fixture()
def server(fake):
    srv = StyleServer(
        "127.0.0.1:0", device="cpu", limits=Limits(max_queue=1), engine=fake, warm=False
    )
    srv.start()
    yield srv
    for call in fake.calls:  # nothing left waiting on a gate
        call.gate.set()
    srv.stop(grace=1)


def grey(width=48, height=40, channels=3, dtype=np.uint8, value=10) -> np.ndarray:
    return np.full((height, width, channels), value, dtype=dtype)


def run_job(address, image, iterations=5, on_event=None, cancel=None, **options):
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
        return client.stylize(request, on_event=on_event, cancel=cancel)


class Background:
    """A job run by a client in a thread of its own; `queued` is set when the server queued
    it, `outcome` holds its result or error once `thread` ends."""

    def __init__(self, address: str, cancel=None) -> None:
        self.queued = threading.Event()
        self.outcome = None

        def on_event(event) -> None:
            if event.kind == "queued":
                self.queued.set()

        def run() -> None:
            try:
                self.outcome = run_job(address, grey(), on_event=on_event, cancel=cancel)
            except (JobFailed, JobCancelled) as exc:
                self.outcome = exc

        self.thread = threading.Thread(target=run)
        self.thread.start()

    def wait(self):
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        return self.outcome


def test_a_full_queue_is_refused_at_once_with_resource_exhausted(server, fake):
    fake.hold = True
    running = Background(server.address)
    call = fake.next_call()
    waiting = Background(server.address)
    assert waiting.queued.wait(WAIT)
    with pytest.raises(JobFailed) as refused:  # one runs, one waits: the queue (1) is full
        run_job(server.address, grey(), iterations=1)
    assert refused.value.code == "RESOURCE_EXHAUSTED"
    assert "queue is full" in str(refused.value)
    call.finish()
    fake.next_call().finish()
    assert running.wait().width == 48 and waiting.wait().width == 48
    assert len(fake.calls) == 2


def test_cancel_on_the_request_stream_while_queued_and_while_running(server, fake):
    fake.hold = True
    stop_running = threading.Event()
    running = Background(server.address, cancel=stop_running.is_set)
    fake.next_call()
    queued = threading.Event()

    def on_event(event) -> None:
        if event.kind == "queued":
            queued.set()

    with pytest.raises(JobCancelled):  # cancelled by its client as soon as it is queued
        run_job(server.address, grey(), on_event=on_event, cancel=queued.is_set)
    stop_running.set()  # the running one: the engine sees the cancel and stops
    assert isinstance(running.wait(), JobCancelled)
    assert len(fake.calls) == 1, "the cancelled waiting job must never reach the engine"


def test_32_mib_of_rgba16_travels_in_chunks_both_ways(server, fake):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 65536, size=(2048, 2048, 4), dtype=np.uint16)  # 32 MiB
    result = run_job(server.address, image, iterations=1)
    assert (result.width, result.height, result.channels, result.sample_type) == (
        2048,
        2048,
        4,
        "u16",
    )
    back = np.frombuffer(result.pixels, "<u2").reshape(image.shape)
    assert np.array_equal(back, 65535 - image)


def test_float32_and_grey_alpha_keep_their_layout(server):
    image = np.linspace(0, 1, 64 * 33 * 2, dtype=np.float32).reshape(33, 64, 2)
    result = run_job(server.address, image, iterations=1)
    assert (result.channels, result.sample_type) == (2, "f32")
    assert np.allclose(np.frombuffer(result.pixels, "<f4").reshape(image.shape), 1 - image)


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


@pytest.mark.parametrize("transport", ["grpcio", "pure"])
def test_tls_with_token_every_call_needs_the_token(tmp_path, fake, transport):
    """Both clients (`nst`'s grpcio and the plug-in's pure one) talk TLS and send the token,
    read as nst_proto.access reads it, on one-answer calls and on a job's stream."""
    from nst_proto import pure_client
    from nst_proto.access import read_access

    client_class = {"grpcio": StyleClient, "pure": pure_client.StyleClient}[transport]
    key, cert = self_signed(tmp_path)
    (tmp_path / "token").write_text("s3cret-token\n")
    srv = StyleServer(
        "127.0.0.1:0",
        device="cpu",
        engine=fake,
        warm=False,
        security=Security(cert, key, "s3cret-token"),
    )
    srv.start()
    try:
        access = read_access(tmp_path / "token", cert)
        with client_class(srv.address, 30, **access.client_arguments()) as client:
            assert client.info().protocol == "nst.v1"
            request = JobRequest(grey().tobytes(), 48, 40, 3, "u8", [(STYLE, 1.0)],
                                 options={"iterations": 3})  # fmt: skip
            assert len(client.stylize(request).pixels) == 48 * 40 * 3
        wrong = {"token": "wrong", "root_certificates": cert.read_bytes()}
        with client_class(srv.address, **wrong) as client:
            with pytest.raises(JobFailed) as denied:
                client.info()
            assert denied.value.code == "UNAUTHENTICATED"
        # plain text to a TLS port: no answer that pretends to work
        with client_class(srv.address, connect_timeout=1) as client:
            with pytest.raises((ServerUnavailable, JobFailed)):
                client.info()
        # TLS that does not trust the server's certificate: refused, not sent the token
        with client_class(srv.address, connect_timeout=1, token="s3cret-token") as client:
            with pytest.raises((ServerUnavailable, JobFailed)):
                client.info()
    finally:
        srv.stop(grace=1)


def test_nst_stylize_server_over_tls_with_a_token_file(tmp_path, fake, capsys):
    from nst_server import frontend
    from PIL import Image

    key, cert = self_signed(tmp_path)
    (tmp_path / "token").write_text("s3cret-token\n")
    Image.fromarray(grey(value=90)).save(tmp_path / "in.png")
    Image.fromarray(grey(value=200)).save(tmp_path / "style.png")
    srv = StyleServer("127.0.0.1:0", device="cpu", engine=fake, warm=False,
                      security=Security(cert, key, "s3cret-token"))  # fmt: skip
    srv.start()
    command = ["stylize", str(tmp_path / "in.png"), str(tmp_path / "style.png"), "--size", "48",
               "--iterations", "3", "--server", srv.address]  # fmt: skip
    try:
        written = tmp_path / "out.png"
        assert frontend.main([*command, "-o", str(written), "--token-file",
                              str(tmp_path / "token"), "--tls-ca", str(cert)]) == 0  # fmt: skip
        assert Image.open(written).size == (48, 40)
        refused = tmp_path / "refused.png"
        assert frontend.main([*command, "-o", str(refused), "--tls-ca", str(cert)]) == 1
        assert "a valid access token is required" in capsys.readouterr().err
        assert frontend.main([*command, "-o", str(refused), "--token-file", "nowhere"]) == 1
        assert "cannot read the token file nowhere" in capsys.readouterr().err
        assert not refused.exists()
    finally:
        srv.stop(grace=1)


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ({"token_file": "missing"}, "cannot read the token file"),
        ({"ca_file": "missing"}, "cannot read the certificate file"),
        ({"ca_file": "token"}, "holds no PEM certificate"),
    ],
)
def test_unreadable_credentials_are_one_line_errors(tmp_path, files, words):
    from nst_proto.access import read_access

    (tmp_path / "token").write_text("s3cret")
    paths = {key: tmp_path / name for key, name in files.items()}
    with pytest.raises(ValueError, match=words) as error:
        read_access(paths.get("token_file"), paths.get("ca_file"))
    assert "\n" not in str(error.value)


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
