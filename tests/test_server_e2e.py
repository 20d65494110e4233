"""nst-server end to end with the real engine on tiny images (CPU): the server started the way
a user starts it (`nst-server serve` on a free loopback port, and on a unix socket), results
equal to the local engine's for the same seed, ordered progress, cancel and disconnect,
concurrent clients, health and reflection, hostile requests, and the daemon's
start/status/stop. The client-side scenarios run on both clients: grpcio
(nst_proto.client, the `nst` command's) and grpclib (nst_proto.pure_client, the plug-in's)."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nst_proto import style_pb2 as pb
from nst_proto.client import StyleClient
from nst_proto.job import JobCancelled, JobFailed, JobRequest

import nst_engine
from nst_engine.images import load_image

# Slow: real servers with the real engine, started as a user starts them.
pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
STYLE_BYTES = (EXAMPLES / "starry_night.jpg").read_bytes()
ITERATIONS = 3
TRANSPORTS = {"grpcio": "nst_proto.client", "grpclib": "nst_proto.pure_client"}


@pytest.fixture(params=sorted(TRANSPORTS))
def transport(request):
    """Each client's StyleClient class: grpcio's and the plug-in's pure-Python one."""
    return importlib.import_module(TRANSPORTS[request.param]).StyleClient


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(address: str) -> str | None:
    channel = grpc.insecure_channel(address)
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=2
        )
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    except grpc.RpcError:
        return None
    finally:
        channel.close()


def wait_healthy(address: str, proc: subprocess.Popen, log: Path, limit: float = 120) -> None:
    started = time.monotonic()
    while health(address) != "SERVING":
        assert proc.poll() is None, f"the server exited: {log.read_text()}"
        assert time.monotonic() - started < limit, f"no health answer: {log.read_text()}"
        time.sleep(0.2)


@contextlib.contextmanager
def serving(folder: Path, *args: str) -> Iterator[dict]:
    """`nst-server serve` on a free loopback port, as a user runs it, with `args`; its output
    in folder/serve.log. Yields its address, process and log."""
    address = f"127.0.0.1:{free_port()}"
    log = folder / "serve.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nst_server", "serve", "--address", address, *args],
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_healthy(address, proc, log)
        yield {"address": address, "proc": proc, "log": log}
    finally:
        proc.terminate()
        proc.wait(60)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`nst-server serve` on a free loopback port, as a user runs it."""
    with serving(tmp_path_factory.mktemp("server"), "--max-queue", "3") as served:
        yield served
    assert served["proc"].returncode == 0, served["log"].read_text()


@pytest.fixture(scope="module")
def content() -> np.ndarray:
    from nst_engine.arrays import resized

    return resized(load_image(EXAMPLES / "chelsea.png"), 64)  # 64x43 RGB u8


def stylize(
    address,
    image,
    *,
    options=None,
    events=None,
    on_event=None,
    cancel=None,
    mask=None,
    timeout=None,
    chunk=None,
    client=StyleClient,
):
    sample = {"uint8": "u8", "uint16": "u16", "float32": "f32"}[image.dtype.name]
    request = JobRequest(
        image.tobytes(),
        image.shape[1],
        image.shape[0],
        image.shape[2],
        sample,
        [(STYLE_BYTES, 1.0)],
        mask=mask,
        options={"iterations": ITERATIONS, "seed": 7, **(options or {})},
    )
    with client(address, timeout, chunk_bytes=chunk or 1 << 20) as connection:
        return connection.stylize(
            request, on_event=events.append if events is not None else on_event, cancel=cancel
        )


def as_array(result) -> np.ndarray:
    dtype = {"u8": "<u1", "u16": "<u2", "f32": "<f4"}[result.sample_type]
    return np.frombuffer(result.pixels, dtype).reshape(result.height, result.width, result.channels)


def local(image, mask=None, **options) -> np.ndarray:
    opts = nst_engine.StyleOptions(iterations=ITERATIONS, seed=7, device="cpu", **options)
    style = load_image(STYLE_BYTES)
    return nst_engine.stylize(image, [style], mask=mask, options=opts).image


def test_server_result_equals_local_engine_and_progress_is_ordered(server, content, transport):
    events = []
    tic = time.perf_counter()
    result = stylize(server["address"], content, events=events, client=transport)
    remote_seconds = time.perf_counter() - tic
    tic = time.perf_counter()
    expected = local(content)
    local_seconds = time.perf_counter() - tic
    print(
        f"64x43, {ITERATIONS} iterations: server {remote_seconds:.2f} s, "
        f"local {local_seconds:.2f} s"
    )
    image = as_array(result)
    assert image.shape == content.shape and result.sample_type == "u8"
    assert np.array_equal(image, expected), np.abs(image.astype(int) - expected).max()
    assert np.abs(image.astype(int) - content).mean() > 2, "the result must differ from the content"

    kinds = [e.kind for e in events]
    assert kinds[0] == "queued" and kinds[1] == "started" and kinds[-1] == "finished"
    progress = [e for e in events if e.kind == "progress"]
    assert kinds[2:-1] == ["progress"] * len(progress)
    assert [p.step for p in progress] == list(range(1, ITERATIONS + 1))
    assert all(p.total_steps == ITERATIONS for p in progress)
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all({"style", "content", "total"} <= set(p.losses) for p in progress)
    assert all(np.isfinite(list(p.losses.values())).all() for p in progress)
    elapsed = [p.elapsed for p in progress]
    assert elapsed == sorted(elapsed)
    assert result.stats["outcome"] == "done" and result.stats["iterations"] == str(ITERATIONS)
    log = server["log"].read_text()
    assert "outcome=done" in log and "64x43x3 u8" in log and "method=proposed" in log


def test_unix_socket_rgba16_with_mask_and_preview(tmp_path, content, transport):
    """An in-process server on a unix socket with the real engine; 16-bit RGBA with a mask."""
    from nst_server.app import StyleServer
    from nst_server.jobs import Limits

    path = tmp_path / "nst.sock"
    srv = StyleServer(f"unix:{path}", device="cpu", limits=Limits(result_chunk_bytes=4096))
    srv.start()
    try:
        rgba = np.concatenate(
            [content.astype(np.uint16) * 257, np.full((*content.shape[:2], 1), 40000, np.uint16)],
            axis=2,
        )
        mask = np.zeros(content.shape[:2], np.uint8)
        mask[:, 16:] = 255
        events = []
        result = stylize(
            f"unix:{path}",
            rgba,
            mask=mask.tobytes(),
            events=events,
            options={"preview_max_side": 32, "preview_interval": 0},
            chunk=3000,  # many chunks both ways: 22 KiB up, result in 4 KiB pieces
            client=transport,
        )
        image = as_array(result)
        assert result.sample_type == "u16" and image.shape == rgba.shape
        assert np.array_equal(image[:, :16], rgba[:, :16]), "unmasked pixels must be untouched"
        assert np.array_equal(image[..., 3], rgba[..., 3]), "alpha is carried through"
        assert np.abs(image[:, 16:, :3].astype(int) - rgba[:, 16:, :3]).mean() > 300
        assert np.array_equal(image, local(rgba, mask=mask.astype(np.float32) / 255))
        previews = [e for e in events if e.kind == "preview"]
        assert previews and max(previews[0].preview_width, previews[0].preview_height) == 32
        assert (
            len(previews[0].preview) == previews[0].preview_width * previews[0].preview_height * 3
        )
    finally:
        srv.stop(grace=1)
    assert not path.exists(), "the socket file is removed on stop"


def _busy(address) -> bool:
    with StyleClient(address) as client:
        return client.info().busy


def test_cancel_stops_the_job_within_an_iteration_and_the_next_runs(server, content, transport):
    events, flag = [], threading.Event()

    def on_event(event):
        events.append((time.monotonic(), event))
        if event.kind == "progress" and event.step == 2:
            flag.set()

    with pytest.raises(JobCancelled):
        stylize(
            server["address"], content, options={"iterations": 500, "seed": 1},
            on_event=on_event, cancel=flag.is_set, client=transport,
        )  # fmt: skip
    cancelled_at = time.monotonic()
    steps = [e.elapsed for _, e in events if e.kind == "progress"]
    iteration = steps[1] - steps[0]
    while _busy(server["address"]):
        assert time.monotonic() - cancelled_at < 3 * iteration + 2, "the job did not stop"
        time.sleep(0.05)
    assert "outcome=CANCELLED" in server["log"].read_text()
    assert as_array(stylize(server["address"], content)).shape == content.shape


def test_a_deadline_cancels_the_job_on_the_server(server, content, transport):
    tic = time.monotonic()
    with pytest.raises(JobFailed) as late:
        stylize(
            server["address"], content, options={"iterations": 500}, timeout=2.5, client=transport
        )
    assert late.value.code == "DEADLINE_EXCEEDED" and "deadline" in str(late.value)
    assert time.monotonic() - tic < 5
    while _busy(server["address"]):
        assert time.monotonic() - tic < 10, "the job outlived its deadline"
        time.sleep(0.05)
    assert "deadline passed" in server["log"].read_text()


def test_client_disconnect_stops_the_job_and_the_next_runs(server, content, tmp_path, transport):
    script = tmp_path / "client.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from {transport.__module__} import StyleClient
            from nst_proto.job import JobRequest
            data = open({str(EXAMPLES / "starry_night.jpg")!r}, "rb").read()
            def show(event):
                print(event.kind, flush=True)
            StyleClient({server["address"]!r}).stylize(
                JobRequest(bytes(64 * 43 * 3), 64, 43, 3, "u8", [(data, 1.0)],
                           options={{"iterations": 500}}),
                on_event=show)
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.strip() == "progress":
                break
        assert _busy(server["address"])
        proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
    finally:
        proc.kill()
        proc.wait()
    while _busy(server["address"]):
        assert time.monotonic() - killed_at < 10, "the job did not stop after the disconnect"
        time.sleep(0.05)
    assert "client disconnected" in server["log"].read_text()
    assert as_array(stylize(server["address"], content)).shape == content.shape


def test_concurrent_clients_are_queued_and_all_answered(server, content):
    spans, results, positions = {}, {}, {}

    def run(i):
        events = []
        results[i] = stylize(server["address"], content, events=events, options={"seed": i})
        started = next(e for e in events if e.kind == "started")
        positions[i] = [e.position for e in events if e.kind == "queued"]
        spans[i] = (events.index(started), started)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    tic = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert sorted(results) == [0, 1, 2], "every client gets its answer"
    assert sorted(p[0] for p in positions.values()) == [0, 1, 2], positions
    images = [as_array(results[i]) for i in range(3)]
    assert not np.array_equal(images[0], images[1]), "different seeds, different results"
    print(f"3 concurrent jobs in {time.monotonic() - tic:.1f} s")


def test_health_and_reflection_answer(server):
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    address = server["address"]
    channel = grpc.insecure_channel(address)
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "nst.v1.StyleService"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        db = ProtoReflectionDescriptorDatabase(channel)
        services = set(db.get_services())
        assert {"nst.v1.StyleService", "grpc.health.v1.Health"} <= services
        fd = db.FindFileContainingSymbol("nst.v1.StyleService")
        assert fd.name == "nst/v1/style.proto" and fd.package == "nst.v1"
        methods = [m.name for m in fd.service[0].method]
        assert methods == ["Stylize", "GetInfo", "ListModels", "ListGallery", "Estimate"]
    finally:
        channel.close()
    with StyleClient(address) as client:
        info = client.info()
    assert info.protocol == "nst.v1" and info.device == "cpu" and "vgg19" in info.weights
    assert info.limits["max_queue"] == 3 and info.limits["chunk_bytes"] == 1 << 20
    assert info.pid == server["proc"].pid and "proposed" in info.methods


BAD_REQUESTS = [
    ({"width": 64, "height": 43, "channels": 3, "bytes": 100}, "INVALID_ARGUMENT", "bytes"),
    ({"styles": []}, "INVALID_ARGUMENT", "no style image"),
    ({"method": "picasso"}, "INVALID_ARGUMENT", "unknown method 'picasso'"),
    ({"width": 100000, "height": 100000}, "INVALID_ARGUMENT", "over the server's limit"),
    ({"style": b"not an image at all"}, "INVALID_ARGUMENT", "style image 1"),
    ({"strength": float("nan")}, "INVALID_ARGUMENT", "strength must be between 0 and 1"),
    ({"channels": 7}, "INVALID_ARGUMENT", "channels must be"),
]


def _raw_job(width=64, height=43, channels=3, bytes=None, styles=None, style=STYLE_BYTES, **opt):  # noqa: A002
    size = width * height * channels if bytes is None else bytes
    styles = [style] if styles is None else styles
    options = pb.Options(iterations=2, **opt)
    spec = pb.JobSpec(
        width=width,
        height=height,
        channels=channels,
        sample_type=pb.SAMPLE_TYPE_U8,
        styles=[pb.StyleSpec(weight=1, byte_size=len(s)) for s in styles],
        options=options,
    )
    yield pb.StylizeRequest(spec=spec)
    if size <= 64 * 43 * 3:
        yield pb.StylizeRequest(chunk=pb.Chunk(stream=pb.STREAM_CONTENT, data=b"\0" * size))
    for i, s in enumerate(styles):
        yield pb.StylizeRequest(chunk=pb.Chunk(stream=pb.STREAM_STYLE, style_index=i, data=s))
    yield pb.StylizeRequest(submit=pb.Submit())


def _call(address, requests, timeout=20):
    from nst_proto import style_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        stub = style_pb2_grpc.StyleServiceStub(channel)
        try:
            events = list(stub.Stylize(requests, timeout=timeout))
            return "OK", "", events
        except grpc.RpcError as exc:
            return exc.code().name, exc.details() or "", []


@pytest.mark.parametrize(("fields", "code", "words"), BAD_REQUESTS)
def test_bad_requests_get_actionable_invalid_argument(server, fields, code, words):
    status, details, _ = _call(server["address"], _raw_job(**fields))
    assert (status, words in details) == (code, True), details
    assert f"{code}: " in server["log"].read_text() and words in server["log"].read_text()


requests_strategy = st.lists(
    st.one_of(
        st.builds(
            lambda w, h, c, t, weights, opts: pb.StylizeRequest(
                spec=pb.JobSpec(
                    width=w,
                    height=h,
                    channels=c,
                    sample_type=t,
                    styles=[pb.StyleSpec(weight=x, byte_size=n) for x, n in weights],
                    options=opts,
                )
            ),  # fmt: skip
            st.integers(0, 2**32 - 1),
            st.integers(0, 2**32 - 1),
            st.integers(0, 2**32 - 1),
            st.integers(0, 5),
            st.lists(st.tuples(st.floats(allow_nan=True), st.integers(0, 2**64 - 1)), max_size=3),
            st.builds(
                pb.Options,
                method=st.text(max_size=20),
                strength=st.floats(),
                size=st.integers(0, 2**32 - 1),
                quality=st.sampled_from(["", "draft", "ultra", "\x00"]),
                seed=st.integers(0, 2**64 - 1),
                iterations=st.integers(0, 2**32 - 1),
                preview_max_side=st.integers(0, 2**32 - 1),
                preview_interval=st.floats(),
            ),
        ),
        st.builds(
            lambda s, i, o, d: pb.StylizeRequest(
                chunk=pb.Chunk(stream=s, style_index=i, offset=o, data=d)
            ),
            st.integers(0, 5),
            st.integers(0, 2**32 - 1),
            st.integers(0, 2**64 - 1),
            st.binary(max_size=64),
        ),
        st.just(pb.StylizeRequest(submit=pb.Submit())),
        st.just(pb.StylizeRequest(cancel=pb.Cancel())),
        st.just(pb.StylizeRequest()),
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(requests=requests_strategy)
def test_fuzzed_requests_never_crash_the_server(server, requests):
    status, details, _ = _call(server["address"], iter(requests), timeout=10)
    assert status in {"INVALID_ARGUMENT", "CANCELLED", "DEADLINE_EXCEEDED", "OK"}, details
    assert server["proc"].poll() is None


def test_garbage_bytes_and_the_next_valid_request(server, content):
    with grpc.insecure_channel(server["address"]) as channel:
        raw = channel.stream_stream("/nst.v1.StyleService/Stylize")
        with pytest.raises(grpc.RpcError):
            list(raw(iter([b"\xff\xfe garbage", b"\x08" * 10]), timeout=10))
        raw_info = channel.unary_unary("/nst.v1.StyleService/GetInfo")
        with pytest.raises(grpc.RpcError):
            raw_info(b"\x12\x34", timeout=10)  # a truncated field
        assert raw_info(b"\x08\x01", timeout=10)  # an unknown field is ignored: it answers
    assert server["proc"].poll() is None and health(server["address"]) == "SERVING"
    result = stylize(server["address"], content)
    assert np.array_equal(as_array(result), local(content))


def nst_server(*args, env, timeout=180):
    return subprocess.run(
        [sys.executable, "-m", "nst_server", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def test_daemon_start_status_stop_as_a_user_would(tmp_path, content):
    env = {**os.environ, "NST_STATE_DIR": str(tmp_path / "state")}
    address = f"127.0.0.1:{free_port()}"
    status = nst_server("status", env=env)
    assert status.returncode == 3 and "not running" in status.stdout

    tic = time.monotonic()
    started = nst_server("start", "--address", address, env=env)
    assert started.returncode == 0, started.stderr
    assert "nst-server started (pid" in started.stdout and address in started.stdout
    assert health(address) == "SERVING", "start returns once health answers"
    pid = int(started.stdout.split("(pid ")[1].split(")")[0])
    print(f"nst-server start: {time.monotonic() - tic:.1f} s")
    assert (tmp_path / "state" / "server.json").is_file()
    assert (tmp_path / "state" / "server.log").is_file()

    status = nst_server("status", env=env)
    assert status.returncode == 0 and f"running (pid {pid}) on {address}" in status.stdout
    assert "device cpu" in status.stdout

    again = nst_server("start", "--address", address, env=env)
    assert again.returncode == 0 and "already running" in again.stdout
    other = nst_server("start", "--address", f"127.0.0.1:{free_port()}", env=env)
    assert other.returncode == 1 and "already running" in other.stderr

    # the port taken: a second state dir, the same port
    env2 = {**os.environ, "NST_STATE_DIR": str(tmp_path / "state2")}
    taken = nst_server("start", "--address", address, env=env2)
    assert taken.returncode == 1 and "already in use" in taken.stderr, taken.stderr

    # a job running when the daemon stops is cancelled; nothing is left behind
    outcome = {}

    def long_job():
        try:
            stylize(address, content, options={"iterations": 500})
        except (JobCancelled, JobFailed) as exc:
            outcome["error"] = exc

    job = threading.Thread(target=long_job)
    job.start()
    while not _busy(address):
        time.sleep(0.1)
    tic = time.monotonic()
    stopped = nst_server("stop", env=env)
    assert stopped.returncode == 0 and f"(pid {pid}) stopped" in stopped.stdout
    assert time.monotonic() - tic < 30
    job.join(30)
    assert "error" in outcome, "the running job ends when the server stops"
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert not (tmp_path / "state" / "server.json").exists()
    assert health(address) is None
    log = (tmp_path / "state" / "server.log").read_text()
    assert "shutting down" in log and "stopped" in log
    status = nst_server("status", env=env)
    assert status.returncode == 3
    assert nst_server("stop", env=env).stdout.strip() == "nst-server is not running"


def test_stylize_remote_is_the_local_path_through_the_server(server, content):
    """nst_server.remote.stylize_remote, what `nst stylize --server` runs: the prepared job's
    style bytes as read, same image, engine Progress objects, and the engine's error types."""
    from nst_server.remote import stylize_remote

    from nst_engine.errors import InputError, NSTError
    from nst_engine.prepared import Style, prepare_job

    seen = []
    options = nst_engine.StyleOptions(iterations=ITERATIONS, seed=7)
    job = prepare_job(content, [EXAMPLES / "starry_night.jpg"], None, options)
    assert job.styles[0].data == STYLE_BYTES  # read once, sent as read
    image, stats = stylize_remote(server["address"], job, seen.append)
    assert np.array_equal(image, local(content)) and image.flags.writeable
    assert stats["iterations"] == ITERATIONS and stats["device"] == "cpu"
    assert [p.step for p in seen] == [1, 2, 3] and seen[-1].fraction == 1.0
    assert all(isinstance(p, nst_engine.Progress) for p in seen)

    # Bytes the server cannot decode (a prepared job always decodes them first).
    junk = dataclasses.replace(
        job, styles=(Style("junk.png", b"\x89PNG\r\n\x1a\n but not really", content),)
    )
    with pytest.raises(InputError, match="the server refused the job: style image 1"):
        stylize_remote(server["address"], junk)
    with pytest.raises(NSTError, match="nst-server start --address 127.0.0.1:9"):
        stylize_remote("127.0.0.1:9", junk)


def test_nst_stylize_server_writes_the_same_file_as_the_local_path(server, tmp_path):
    common = [
        "-m", "nst_server.frontend", "stylize", str(EXAMPLES / "chelsea.png"),
        str(EXAMPLES / "starry_night.jpg"), "--size", "64", "--iterations", "3", "--seed", "7",
    ]  # fmt: skip
    remote = subprocess.run(
        [
            sys.executable,
            *common,
            "-o",
            str(tmp_path / "remote.png"),
            "--server",
            server["address"],
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert remote.returncode == 0, remote.stderr
    here = subprocess.run(
        [sys.executable, *common, "-o", str(tmp_path / "local.png"), "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert here.returncode == 0, here.stderr
    assert np.array_equal(load_image(tmp_path / "remote.png"), load_image(tmp_path / "local.png"))
