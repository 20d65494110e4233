"""Fixtures for the tests inside a real GIMP 3.0.4 (a Debian trixie root, see
scripts/build_gimp_root.sh): the root, the plug-in installed by the real installer into a
fresh GIMP config dir, and the real server on a free loopback port.

When the machine cannot build the root (not root, no debootstrap/apt, no network to the Debian
mirror) the tests are skipped with the reason, shown by pytest -ra. NST_SKIP_GIMP_TESTS=1 skips
them on purpose.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
from gimp_root import GimpRoot, RootUnavailable  # noqa: E402

HERE = Path(__file__).resolve().parent
BATCH_STYLIZE = HERE / "batch_stylize.py"
GIMPRC = '(config-version "3.0.4")\n(show-welcome-dialog no)\n(color-profile-policy keep)\n'


def _report(message: str) -> None:
    print(f"[gimp-tests] {message}", file=sys.stderr, flush=True)


def nst_server_command() -> list[str]:
    found = shutil.which("nst-server")
    beside = Path(sys.executable).with_name("nst-server")
    if beside.is_file():
        return [str(beside)]
    return [found] if found else [sys.executable, "-m", "nst_server"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def gimp_root() -> GimpRoot:
    if os.environ.get("NST_SKIP_GIMP_TESTS"):
        pytest.skip("GIMP 3 tests skipped: NST_SKIP_GIMP_TESTS is set")
    started = time.monotonic()
    try:
        root = GimpRoot.ensure(log=_report)
    except RootUnavailable as exc:
        _report(f"skipping: {exc}")
        pytest.skip(f"GIMP 3 root unavailable: {exc}")
    _report(f"GIMP 3 root {root.path} ready ({time.monotonic() - started:.1f} s)")
    return root


@pytest.fixture(scope="session")
def installed(gimp_root):
    """The real `nst-server install-gimp-plugin` into a fresh GIMP config dir in the root."""
    work = gimp_root.workdir("install")
    cfg_host, cfg_in = work.path("config")
    cfg_host.mkdir()
    (cfg_host / "gimprc").write_text(GIMPRC)
    cmd = [*nst_server_command(), "install-gimp-plugin", "--gimp-config-dir", str(cfg_host)]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - started
    _report(f"installer: {' '.join(cmd)} -> exit {proc.returncode} in {seconds:.1f} s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield {"work": work, "config_host": cfg_host, "config_in": cfg_in,
           "plugin_dir": cfg_host / "plug-ins" / "neural_style", "output": proc.stdout}
    shutil.rmtree(work.host, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    """The real server (`nst-server serve`) on a free loopback port; stopped at the end."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    port = free_port()
    address = f"127.0.0.1:{port}"
    log_path = REPO / ".cache" / f"gimp-test-server-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [*nst_server_command(), "serve", "--address", address]
    log = open(log_path, "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    started = time.monotonic()
    try:
        channel = grpc.insecure_channel(address)
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if proc.poll() is not None:
                pytest.fail(f"nst-server serve exited {proc.returncode}: {log_path.read_text()}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.RpcError:
                pass
            if time.monotonic() - started > 180:
                pytest.fail(f"nst-server serve did not become healthy: {log_path.read_text()}")
            time.sleep(0.3)
        channel.close()
        _report(f"server {' '.join(cmd)} healthy after {time.monotonic() - started:.1f} s")
        yield {"address": address, "log": log_path, "proc": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def run_stylize(root: GimpRoot, installed: dict, params: dict, files: dict[str, Path],
                timeout: float = 300) -> tuple[dict, object, object]:
    """Run tests/gimp/batch_stylize.py in headless GIMP; return (result, batch, workdir)."""
    work = root.workdir("stylize")
    for key, src in files.items():
        host, inside = work.path(src.name)
        shutil.copy(src, host)
        params[key] = inside
    params["dir"] = work.inside
    script_host, script_in = work.path("run.py")
    script_host.write_text(f"PARAMS = {params!r}\n" + BATCH_STYLIZE.read_text())
    batch = root.batch(installed["config_in"], script_in, timeout=timeout)
    result_path = work.host / "result.json"
    assert result_path.is_file(), f"GIMP wrote no result (exit {batch.returncode}):\n" + \
        batch.output[-3000:]
    result = json.loads(result_path.read_text())
    _report(f"GIMP batch exit {batch.returncode} in {batch.seconds:.1f} s: status "
            f"{result['status']}, layers {[layer['name'] for layer in result['layers']]}")
    return result, batch, work


def load_raw(path: Path, shape: tuple[int, ...], dtype) -> np.ndarray:
    return np.fromfile(path, dtype=dtype).reshape(shape)


def colour_distance(pixels: np.ndarray, style: np.ndarray) -> float:
    """Distance between colour statistics (mean and covariance of RGB in [0, 1])."""
    a = pixels.reshape(-1, pixels.shape[-1])[:, :3] / float(np.iinfo(pixels.dtype).max)
    b = style.reshape(-1, style.shape[-1])[:, :3] / float(np.iinfo(style.dtype).max)
    return float(np.linalg.norm(a.mean(0) - b.mean(0)) + np.linalg.norm(np.cov(a.T) - np.cov(b.T)))
