"""Fixtures for the tests inside a real GIMP 3: each test runs in GIMP 3.0.4 (a Debian trixie
root) and in GIMP 3.2 (a Debian sid root), both built by scripts/build_gimp_root.sh and cached.
The plug-in is installed the way a user installs it: a fresh home folder in which GIMP has run
once, then `nst-server install-gimp-plugin` with no flags. The real server runs on a free
loopback port.

When the machine cannot build a root (not root, no debootstrap/apt, no network to the Debian
mirror) the tests are skipped with the reason, shown by pytest -ra. NST_SKIP_GIMP_TESTS=1 skips
them on purpose; NST_GIMP_SUITES=trixie (or sid) runs one GIMP only; NST_GIMP_KEEP=1 keeps the
work folders inside the roots for debugging.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from gimp_helpers import (
    REPO,
    SUITES,
    GimpRoot,
    RootUnavailable,
    _report,
    free_port,
    nst_server_command,
)

CHOSEN_SUITES = [
    suite for suite in os.environ.get("NST_GIMP_SUITES", ",".join(SUITES)).split(",") if suite
]


@pytest.fixture(scope="session", params=CHOSEN_SUITES)
def gimp_root(request) -> GimpRoot:
    if os.environ.get("NST_SKIP_GIMP_TESTS"):
        pytest.skip("GIMP 3 tests skipped: NST_SKIP_GIMP_TESTS is set")
    started = time.monotonic()
    try:
        root = GimpRoot.ensure(request.param, log=_report)
        version = root.version
    except RootUnavailable as exc:
        _report(f"skipping: {exc}")
        pytest.skip(f"GIMP 3 root ({request.param}) unavailable: {exc}")
    _report(
        f"GIMP {version} (Python {root.python_version}) in {root.path} ready "
        f"({time.monotonic() - started:.1f} s)"
    )
    yield root
    if os.environ.get("NST_GIMP_KEEP"):
        _report(f"kept the work folders (NST_GIMP_KEEP): {[str(p) for p in root.workdirs]}")
    else:
        root.cleanup()


@pytest.fixture(scope="session")
def installed(gimp_root):
    """The plug-in as a user installs it: GIMP has run once in a fresh home, then the real
    `nst-server install-gimp-plugin`, with no flags, finds that GIMP's folder."""
    started = time.monotonic()
    home = gimp_root.new_home("home")
    _report(f"GIMP {gimp_root.version} made its folder in a fresh home in "
            f"{time.monotonic() - started:.1f} s")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "GIMP3_DIRECTORY")}
    env["HOME"] = str(home.host)
    cmd = [*nst_server_command(), "install-gimp-plugin"]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    _report(
        f"installer: {' '.join(cmd)} (HOME={home.host}) -> exit {proc.returncode} in "
        f"{time.monotonic() - started:.1f} s:\n{proc.stdout}{proc.stderr}"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = f".config/GIMP/{gimp_root.minor}"
    yield {
        "home": home,
        "home_in": home.inside,
        "config_host": home.host / config,
        "config_in": f"{home.inside}/{config}",
        "plugin_dir": home.host / config / "plug-ins" / "neural_style",
        "output": proc.stdout,
    }
    shutil.rmtree(home.host, ignore_errors=True)


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


@pytest.fixture(scope="module")
def gui_root(gimp_root):
    """The GIMP root with the GUI tools (Xvfb, xdotool) for the tests that drive GIMP's
    window; skipped with the reason where they cannot be installed."""
    try:
        GimpRoot.ensure(gimp_root.suite, gui=True, log=_report)
    except RootUnavailable as exc:
        pytest.skip(f"GUI tools for the GIMP root unavailable: {exc}")
    return gimp_root
