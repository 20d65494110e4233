"""Helpers for the tests inside a real GIMP 3 (used by conftest.py and the test modules; a
module of its own so that `import` never picks up tests/conftest.py instead)."""

from __future__ import annotations

import json
import shutil
import socket
import sys
import time
from pathlib import Path

import numpy as np
from repo_scripts import load_script

REPO = Path(__file__).resolve().parents[2]
_gimp_root = load_script("gimp_root")  # the roots are built by the project's script
SUITES, GimpRoot, RootUnavailable = (
    _gimp_root.SUITES,
    _gimp_root.GimpRoot,
    _gimp_root.RootUnavailable,
)

HERE = Path(__file__).resolve().parent
BATCH_STYLIZE = HERE / "batch_stylize.py"


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


def run_stylize(
    root: GimpRoot, installed: dict, params: dict, files: dict[str, Path], timeout: float = 300
) -> tuple[dict, object, object]:
    """Run tests/gimp/batch_stylize.py in headless GIMP; return (result, batch, workdir).

    The plug-in's trace of what it did to the image during the job (neural_style_core.trace)
    is in result["trace"]."""
    work = root.workdir("stylize")
    for key, src in files.items():
        host, inside = work.path(src.name)
        shutil.copy(src, host)
        params[key] = inside
    params["dir"] = work.inside
    script_host, script_in = work.path("run.py")
    script_host.write_text(f"PARAMS = {params!r}\n" + BATCH_STYLIZE.read_text())
    trace_host, trace_in = work.path("trace.jsonl")
    batch = root.batch(
        installed["home_in"], script_in, timeout=timeout, env={"NST_PLUGIN_TRACE": trace_in}
    )
    result_path = work.host / "result.json"
    assert result_path.is_file(), (
        f"GIMP wrote no result (exit {batch.returncode}):\n" + batch.output[-3000:]
    )
    result = json.loads(result_path.read_text())
    lines = trace_host.read_text().splitlines() if trace_host.is_file() else []
    result["trace"] = [json.loads(line) for line in lines]
    _report(
        f"GIMP batch exit {batch.returncode} in {batch.seconds:.1f} s: status "
        f"{result['status']}, layers {[layer['name'] for layer in result['layers']]}"
    )
    return result, batch, work


def wait_file(path: Path, timeout: float, proc) -> dict:
    """The JSON a GIMP script writes to `path`, once it is there; fails when GIMP (`proc`)
    exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file():
            time.sleep(0.2)  # written in one call, but give the writer its close
            return json.loads(path.read_text())
        if proc.poll() is not None:
            raise AssertionError(f"GIMP exited ({proc.returncode}) before writing {path.name}")
        time.sleep(0.3)
    raise AssertionError(f"no {path.name} after {timeout} s")


def load_raw(path: Path, shape: tuple[int, ...], dtype) -> np.ndarray:
    return np.fromfile(path, dtype=dtype).reshape(shape)


def colour_distance(pixels: np.ndarray, style: np.ndarray) -> float:
    """Distance between colour statistics (mean and covariance of RGB in [0, 1])."""
    a = pixels.reshape(-1, pixels.shape[-1])[:, :3] / float(np.iinfo(pixels.dtype).max)
    b = style.reshape(-1, style.shape[-1])[:, :3] / float(np.iinfo(style.dtype).max)
    return float(np.linalg.norm(a.mean(0) - b.mean(0)) + np.linalg.norm(np.cov(a.T) - np.cov(b.T)))
