"""Fixtures for the tests inside a real GIMP 3.0.4 (a Debian trixie root, see
scripts/build_gimp_root.sh): the root, the plug-in installed by the real installer into a
fresh GIMP config dir, and the real server on a free loopback port.

When the machine cannot build the root (not root, no debootstrap/apt, no network to the Debian
mirror) the tests are skipped with the reason, shown by pytest -ra. NST_SKIP_GIMP_TESTS=1 skips
them on purpose; NST_GIMP_KEEP=1 keeps the work folders inside the root for debugging.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from gimp_helpers import (
    GIMPRC,
    REPO,
    GimpRoot,
    RootUnavailable,
    _report,
    free_port,
    nst_server_command,
)


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
    yield root
    if os.environ.get("NST_GIMP_KEEP"):
        _report(f"kept the work folders (NST_GIMP_KEEP): {[str(p) for p in root.workdirs]}")
    else:
        root.cleanup()


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
    yield {
        "work": work,
        "config_host": cfg_host,
        "config_in": cfg_in,
        "plugin_dir": cfg_host / "plug-ins" / "neural_style",
        "output": proc.stdout,
    }
    shutil.rmtree(work.host, ignore_errors=True)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The real server (`nst-server serve`) on a free loopback port, with a style library
    holding one small network named "tiny"; stopped at the end."""
    import grpc
    from fast_models import random_style_model
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    models = tmp_path_factory.mktemp("models")
    random_style_model("Tiny swirls").save(models / "tiny.nstmodel")
    port = free_port()
    address = f"127.0.0.1:{port}"
    log_path = REPO / ".cache" / f"gimp-test-server-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [*nst_server_command(), "serve", "--address", address, "--models", str(models)]
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
