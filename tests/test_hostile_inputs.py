"""Hostile input, as a careless user and as an attacker send it, through the `nst` command
and through the server: each case gets one line a person can act on, before any work, at a
bounded cost in memory, and the server serves the next job after it. The bombs are built here
in a few KB: they declare a huge image and hold almost nothing (scripts/hostile_inputs.py
measures the same cases with real, fully valid bombs)."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nst_proto.job import JobRequest, ServerLost
from nst_server.service import UNARY_METHODS
from PIL import Image
from repo_scripts import load_script
from test_server_e2e import (
    EXAMPLES,
    STYLE_BYTES,
    free_port,
    health,
    nst_server,
    serving,
    wait_healthy,
)

from nst_engine.errors import InputError
from nst_engine.images import load_image, read_header, save_image

# The measuring script's bomb maker and its capped `nst` run, the same cases in both.
_hostile = load_script("hostile_inputs")
png_bomb, run_cli = _hostile.png_bomb, _hostile.run_cli

# The bound: a 20000x20000 16-bit bomb refused with the process under 300 MB above
# its idle size.
BOUND_MB = 300


def jpeg_bomb(width: int, height: int) -> bytes:
    """A real JPEG of 64x64 whose frame header says width x height."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


BOMBS = {
    "16-bit PNG 20000x20000": png_bomb(20000, 20000, depth=16, samples=4, rows=1),
    "8-bit PNG 60000x60000": png_bomb(60000, 60000, rows=1),
    "8-bit PNG 12000x12000": png_bomb(12000, 12000, rows=1),
    "JPEG 60000x60000": jpeg_bomb(60000, 60000),
    "JPEG 12000x12000": jpeg_bomb(12000, 12000),
}


@pytest.fixture(scope="module")
def idle_mb() -> int:
    """Peak RSS of `nst --version`, which imports what `nst stylize` imports."""
    return run_cli(["--version"], cap_gb=6)["peak_mb"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    for name, data in BOMBS.items():
        (folder / f"{name.replace(' ', '_')}.bin").write_bytes(data)
    save_image(folder / "rgba16.png", np.full((48, 64, 4), 40000, np.uint16))
    (folder / "notes.png").write_text("not an image at all\n")
    return folder


def bomb(files: Path, name: str) -> str:
    return str(files / f"{name.replace(' ', '_')}.bin")


def one_line_refusal(result: dict, idle: int) -> str:
    assert result["status"] == "exit 1", result
    assert not result["traceback"] and result["stderr_lines"] == 1, result
    assert result["peak_mb"] - idle < BOUND_MB, result
    return result["says"]


def test_bombs_are_refused_from_their_few_bytes_of_header(files):
    for name, data in BOMBS.items():
        assert len(data) < 4096, name
        with pytest.raises(InputError, match="over the limit|declares more than"):
            load_image(data)
    header = read_header(BOMBS["16-bit PNG 20000x20000"], max_pixels=10**12)
    assert (header.width, header.height, header.samples, header.sample_bytes) == (
        20000,
        20000,
        4,
        2,
    )
    assert header.decoded_bytes == 3_200_000_000


@pytest.mark.parametrize("name", ["16-bit PNG 20000x20000", "8-bit PNG 60000x60000",
                                  "JPEG 60000x60000"])  # fmt: skip
def test_a_content_bomb_is_one_line_and_costs_no_memory(files, idle_mb, name, tmp_path):
    result = run_cli(["stylize", bomb(files, name), str(EXAMPLES / "starry_night.jpg"),
                      "-o", str(tmp_path / "o.png")], cap_gb=6)  # fmt: skip
    says = one_line_refusal(result, idle_mb)
    assert "over the limit of 67,108,864" in says or "declares more than" in says, says


def test_the_limit_is_on_the_file_as_given_not_after_size(files, idle_mb, tmp_path):
    for name in ("8-bit PNG 12000x12000", "JPEG 12000x12000"):
        result = run_cli(["stylize", bomb(files, name), str(EXAMPLES / "starry_night.jpg"),
                          "-o", str(tmp_path / "o.png"), "--size", "512"], cap_gb=6)  # fmt: skip
        assert "12000x12000 = 144,000,000 pixels, over the limit" in one_line_refusal(
            result, idle_mb
        )


def test_style_and_mask_bombs_are_refused_too(files, idle_mb, tmp_path):
    content, out = str(EXAMPLES / "chelsea.png"), str(tmp_path / "o.png")
    style_bomb = run_cli(["stylize", content, bomb(files, "16-bit PNG 20000x20000"), "-o", out],
                         cap_gb=6)  # fmt: skip
    assert "20000x20000" in one_line_refusal(style_bomb, idle_mb)
    mask_bomb = run_cli(["stylize", content, str(EXAMPLES / "starry_night.jpg"), "-o", out,
                         "--mask", bomb(files, "8-bit PNG 60000x60000")], cap_gb=6)  # fmt: skip
    assert "60000x60000" in one_line_refusal(mask_bomb, idle_mb)


def test_a_file_larger_than_its_image_may_be_is_not_read(tmp_path, idle_mb):
    huge = tmp_path / "huge.png"
    with huge.open("wb") as fh:
        fh.truncate(2 * 2**30)  # 2 GiB, sparse: costs no disk
    result = run_cli(["stylize", str(huge), str(EXAMPLES / "starry_night.jpg"),
                      "-o", str(tmp_path / "o.png")], cap_gb=6)  # fmt: skip
    says = one_line_refusal(result, idle_mb)
    assert "a file of 2.0 GiB, over the limit of 1.0 GiB" in says and "not read" in says


def test_an_unwritable_output_is_refused_before_the_work(tmp_path, idle_mb):
    content, style = str(EXAMPLES / "chelsea.png"), str(EXAMPLES / "starry_night.jpg")
    if Path("/proc").is_dir():
        proc = run_cli(["stylize", content, style, "-o", "/proc/a.png"], cap_gb=6)
        assert "cannot write into /proc" in one_line_refusal(proc, idle_mb)
        assert proc["peak_mb"] - idle_mb < 50, "nothing was loaded, let alone computed"
    folder = run_cli(["stylize", content, style, "-o", str(tmp_path)], cap_gb=6)
    assert "unsupported output type" in one_line_refusal(folder, idle_mb)
    (tmp_path / "a.png").mkdir()
    is_dir = run_cli(["stylize", content, style, "-o", str(tmp_path / "a.png")], cap_gb=6)
    assert "is a folder" in one_line_refusal(is_dir, idle_mb)


def test_what_the_output_type_cannot_hold_is_said_before_the_work(files, tmp_path):
    out = tmp_path / "o.jpg"
    proc = subprocess.run(
        [sys.executable, "-m", "nst_server.frontend", "stylize", str(files / "rgba16.png"),
         str(EXAMPLES / "starry_night.jpg"), "-o", str(out), "--iterations", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("nst: warning")]
    assert any("lose the alpha channel (JPEG has none)" in line for line in warnings), warnings
    assert any("16-bit samples are stored as 8-bit (JPEG)" in line for line in warnings)
    written = load_image(out)
    assert written.shape == (48, 64, 3) and written.dtype == np.uint8


def test_plain_mistakes_read_plainly(files, idle_mb, tmp_path):
    out = str(tmp_path / "o.png")
    text = run_cli(["stylize", str(files / "notes.png"), str(EXAMPLES / "starry_night.jpg"),
                    "-o", out], cap_gb=6)  # fmt: skip
    says = one_line_refusal(text, idle_mb)
    assert "not an image this program can read" in says and "<_io" not in says
    nothing = run_cli(["stylize", str(EXAMPLES / "chelsea.png"), "-o", out], cap_gb=6)
    assert "give a STYLE image after the content" in one_line_refusal(nothing, idle_mb)


# -- the server ------------------------------------------------------------------------------


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`nst-server serve` as a user runs it, logging to a file as the daemon does."""
    folder = tmp_path_factory.mktemp("hostile-server")
    with serving(folder, "--log-file", str(folder / "server.log")) as served:
        yield {**served, "log": folder / "server.log"}


def job_messages(style: bytes, iterations: int = 2) -> list:
    return list(
        JobRequest(bytes(64 * 48 * 3), 64, 48, 3, "u8", styles=[(style, 1.0)],
                   options={"iterations": iterations}).messages()
    )  # fmt: skip


def valid_job() -> list[bytes]:
    return serialized(job_messages(STYLE_BYTES))


def call(address: str, method: str, requests, timeout: float = 60) -> tuple[str, str]:
    with grpc.insecure_channel(address) as channel:
        if method == "Stylize":
            rpc = channel.stream_stream("/nst.v1.StyleService/Stylize")
        else:
            rpc = channel.unary_unary(f"/nst.v1.StyleService/{method}")
        try:
            answer = rpc(requests, timeout=timeout)
            if method == "Stylize":
                list(answer)
            return "OK", ""
        except grpc.RpcError as exc:
            return exc.code().name, exc.details() or ""


def serialized(messages) -> list[bytes]:
    return [m.SerializeToString() for m in messages]


def test_style_bombs_over_grpc_are_refused_before_the_queue_at_no_memory(server):
    pid = server["proc"].pid
    for name in ("16-bit PNG 20000x20000", "8-bit PNG 60000x60000", "JPEG 60000x60000"):
        before = rss_mb(pid)
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak starts from here
        tic = time.monotonic()
        status, details = call(server["address"], "Stylize",
                               iter(serialized(job_messages(BOMBS[name]))))  # fmt: skip
        seconds = time.monotonic() - tic
        assert status == "INVALID_ARGUMENT", (name, details)
        assert details.startswith("style image 1 ") and "over the limit of 67,108,864" in details
        assert seconds < 2, f"{name}: refused after {seconds:.1f} s"
        assert rss_mb(pid, "VmHWM") - before < BOUND_MB, name
        assert rss_mb(pid) - before < 50, f"{name}: the server kept memory after refusing"
    # and the next valid job runs
    status, details = call(
        server["address"], "Stylize", iter(serialized(job_messages(STYLE_BYTES)))
    )
    assert status == "OK", details
    log = server["log"].read_text()
    assert log.count("refused before it started: INVALID_ARGUMENT: style image 1 ") == 3


def test_bytes_that_are_no_message_get_invalid_argument_and_one_log_line(server):
    for method, request in (
        ("Stylize", iter([b"\xff\xfe garbage", b"\x08" * 10])),
        ("GetInfo", b"\x12\x34"),
        ("ListModels", b"\xff"),
        ("ListGallery", b"\xff"),
        ("Estimate", b"\x0a\xff"),
    ):
        size = server["log"].stat().st_size
        status, details = call(server["address"], method, request)
        assert status == "INVALID_ARGUMENT", (method, details)
        assert "the bytes sent are not a valid" in details
        time.sleep(0.2)
        added = server["log"].read_text()[size:].splitlines()
        assert len(added) == 1 and "Traceback" not in added[0], added
    assert health(server["address"]) == "SERVING"


RAW_BYTES = st.binary(max_size=64)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(["Stylize", *UNARY_METHODS]),
    messages=st.lists(RAW_BYTES, min_size=1, max_size=4),
)
def test_fuzzed_bytes_on_every_rpc_never_give_internal(server, method, messages):
    request = iter(messages) if method == "Stylize" else messages[0]
    status, details = call(server["address"], method, request, timeout=10)
    assert status not in ("INTERNAL", "UNKNOWN"), details
    assert server["proc"].poll() is None


def test_the_server_is_healthy_and_serves_after_the_fuzzing(server):
    assert health(server["address"]) == "SERVING"
    status, details = call(
        server["address"], "Stylize", iter(serialized(job_messages(STYLE_BYTES)))
    )
    assert status == "OK", details
    assert "Traceback" not in server["log"].read_text()


def test_a_stalled_upload_is_dropped():
    from nst_server.app import StyleServer
    from nst_server.jobs import Limits

    srv = StyleServer(
        f"127.0.0.1:{free_port()}", device="cpu", engine=lambda *a: (a[0], {}), warm=False,
        limits=Limits(upload_idle_seconds=1.0),
    )  # fmt: skip
    srv.start()
    try:
        messages = serialized(job_messages(STYLE_BYTES))

        def stalls():
            yield from messages[:2]  # the spec and the content, then nothing
            time.sleep(30)

        tic = time.monotonic()
        status, details = call(srv.address, "Stylize", stalls(), timeout=30)
        assert status == "ABORTED" and "the upload stalled" in details, details
        assert time.monotonic() - tic < 5
        assert srv.scheduler.status() == (0, False)
    finally:
        srv.stop(grace=1)


def test_an_address_grpc_cannot_listen_on_is_named_as_such():
    from nst_server.app import ConfigError, StyleServer

    with pytest.raises(ConfigError, match="gRPC does not take '0x7f000001' as a host"):
        StyleServer(f"0x7f000001:{free_port()}", device="cpu", warm=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ConfigError, match="the port is already in use"):
            StyleServer(f"127.0.0.1:{taken.getsockname()[1]}", device="cpu", warm=False)


def test_client_commands_find_the_running_daemon(tmp_path):
    env = {**os.environ, "NST_STATE_DIR": str(tmp_path / "state"),
           "NST_MODELS": str(tmp_path / "models")}  # fmt: skip
    env.pop("NST_SERVER_ADDRESS", None)
    address = f"127.0.0.1:{free_port()}"
    started = nst_server("start", "--address", address, "--no-warm-up", env=env)
    assert started.returncode == 0, started.stderr
    try:
        models = nst_server("models", env=env)
        assert models.returncode == 0, models.stderr
        assert f"style library {tmp_path / 'models'}" in models.stdout
        out = tmp_path / "out.png"
        stylize = subprocess.run(
            [sys.executable, "-m", "nst_server.frontend", "stylize", str(EXAMPLES / "chelsea.png"),
             str(EXAMPLES / "starry_night.jpg"), "-o", str(out), "--size", "48",
             "--iterations", "1", "--server"],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert stylize.returncode == 0, stylize.stderr
        assert load_image(out).shape[:2] == (32, 48)
    finally:
        nst_server("stop", env=env)
    gone = nst_server("models", env=env)
    assert gone.returncode == 1 and "no Neural Style server answers at 127.0.0.1:50051" in (
        gone.stderr
    )


@pytest.mark.parametrize("transport", ["nst_proto.client", "nst_proto.pure_client"])
def test_a_server_that_dies_during_the_job_is_not_called_absent(tmp_path, transport):
    import importlib

    client_class = importlib.import_module(transport).StyleClient
    address, log = f"127.0.0.1:{free_port()}", tmp_path / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nst_server", "serve", "--address", address],
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    wait_healthy(address, proc, log)
    progress = threading.Event()

    def on_event(event):
        if event.kind == "progress":
            progress.set()

    def kill_on_progress():
        progress.wait(120)
        proc.send_signal(signal.SIGKILL)

    threading.Thread(target=kill_on_progress, daemon=True).start()
    request = JobRequest(bytes(64 * 48 * 3), 64, 48, 3, "u8", styles=[(STYLE_BYTES, 1.0)],
                         options={"iterations": 500})  # fmt: skip
    try:
        with pytest.raises(ServerLost, match=f"server at {address} stopped answering during"):
            with client_class(address, 300) as client:
                client.stylize(request, on_event=on_event)
    finally:
        proc.kill()
        proc.wait(30)
    assert progress.is_set()


def test_the_server_log_rotates_at_its_size(tmp_path):
    import logging

    from nst_server.cli import setup_logging

    log = tmp_path / "server.log"
    setup_logging("INFO", log, max_bytes=2000)
    try:
        for index in range(400):
            logging.getLogger("nst_server").info("job %d refused: INVALID_ARGUMENT: ...", index)
    finally:
        for handler in logging.getLogger().handlers:
            handler.close()
        logging.getLogger().handlers.clear()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["server.log", "server.log.1", "server.log.2", "server.log.3"]
    assert all((tmp_path / name).stat().st_size <= 2000 for name in files)


def test_an_oversized_model_file_is_not_read(tmp_path):
    from nst_engine.fast import ModelFileError, load_model, read_model_info

    huge = tmp_path / "huge.nstmodel"
    with huge.open("wb") as fh:
        fh.truncate(300 * 2**20)
    for read in (load_model, read_model_info):
        with pytest.raises(ModelFileError, match="300 MiB, far more than a style model file"):
            read(huge)


def _tensor_file(header: object, body: bytes, length: int | None = None) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + body


@pytest.fixture(scope="module")
def model_header(tmp_path_factory) -> tuple[dict, bytes]:
    """A valid model file's header (as a dict) and its tensors' bytes."""
    from fast_models import random_style_model

    path = tmp_path_factory.mktemp("model") / "valid.nstmodel"
    random_style_model("Valid").save(path)
    data = path.read_bytes()
    length = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + length]), data[8 + length :]


def test_a_model_file_whose_header_lies_is_refused_in_one_line_before_its_tensors_are_read(
    tmp_path, model_header
):
    """Every lie about sizes is caught from the header alone: the checks never trust a
    length, and nothing is allocated for a tensor the file does not hold."""
    from nst_engine.fast import ModelFileError, list_models, load_model, read_model_info

    header, body = model_header
    name = next(k for k in header if k != "__metadata__")
    entry = header[name]
    begin, end = entry["data_offsets"]
    huge = {**entry, "shape": [2**20, 2**20]}  # 4 TiB in the bytes of a small tensor
    beyond = {**huge, "data_offsets": [begin, begin + 2**42]}  # a shape and range that agree
    odd = "the header entry of tensor"
    cases = {
        "short": (b"\x10\x00", "shorter than any header"),
        "huge header": (_tensor_file(header, body, length=2**40), "claims a header of"),
        "truncated header": (_tensor_file(header, body)[:500], "ends inside its"),
        "truncated body": (_tensor_file(header, body)[:-1], "file holds"),
        "longer body": (_tensor_file(header, body + b"\0" * 4), "file holds"),
        "not json": (struct.pack("<Q", 16) + b"{" + b"\xff" * 15, "not JSON"),
        "a list": (_tensor_file([], b""), "not a JSON object"),
        "lying size": (_tensor_file({**header, name: huge}, body), "bytes for F32"),
        "beyond the end": (_tensor_file({**header, name: beyond}, body), "overlap|file holds"),
        "lying shape": (
            _tensor_file({**header, name: {**entry, "shape": [1]}}, body),
            "bytes for F32",
        ),
        "overlap": (
            _tensor_file({**header, "extra": {**entry, "data_offsets": [begin, end]}}, body),
            "overlap or leave gaps",
        ),
        "bad entry": (_tensor_file({**header, name: {"dtype": "F32"}}, body), odd),
        "bad dtype": (_tensor_file({**header, name: {**entry, "dtype": "Q7"}}, body), odd),
        "bad metadata": (_tensor_file({**header, "__metadata__": {"a": 1}}, body), "strings"),
    }
    for case, (data, says) in cases.items():
        path = tmp_path / f"{case}.nstmodel"
        path.write_bytes(data)
        for read in (load_model, read_model_info):
            with pytest.raises(ModelFileError, match=says) as refused:
                read(path)
            assert "\n" not in str(refused.value) and str(path) in str(refused.value), case
    assert list_models(tmp_path) == []


def _model_file(metadata: dict, tensors: dict[str, tuple[str, list[int]]]) -> bytes:
    """A well-formed file of these (dtype, shape) tensors, all zero."""
    header, offset = {"__metadata__": metadata}, 0
    for name, (dtype, shape) in tensors.items():
        size = math.prod(shape) * {"F32": 4, "F16": 2}[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    return _tensor_file(header, bytes(offset))


def test_a_model_file_of_the_wrong_tensors_is_refused_by_name(tmp_path, model_header):
    from nst_engine.fast import ModelFileError, load_model, read_model_info

    header, _ = model_header
    metadata = header["__metadata__"]
    right = {k: (v["dtype"], v["shape"]) for k, v in header.items() if k != "__metadata__"}
    name = sorted(right)[0]
    cases = {
        "missing": ({k: v for k, v in right.items() if k != name}, rf"missing \['{name}'\]"),
        "extra": ({**right, "evil": ("F32", [1])}, r"unexpected \['evil'\]"),
        "float16": ({**right, name: ("F16", right[name][1])}, f"{name} is F16, not F32"),
        "shape": ({**right, name: ("F32", [2, 2])}, rf"{name} has shape \(2, 2\)"),
        "zeros": (right, "checksum"),  # the right tensors, but not the weights it was saved with
    }
    for case, (tensors, says) in cases.items():
        path = tmp_path / f"{case}.nstmodel"
        path.write_bytes(_model_file(metadata, tensors))
        with pytest.raises(ModelFileError, match=says):
            load_model(path)
        if case != "zeros":  # a listing checks the header, not the weights
            with pytest.raises(ModelFileError, match=says):
                read_model_info(path)
