"""The plug-in's transport as GIMP's own Python runs it: the installed plug-in folder (its
vendor.zip made from the shipped wheels) under every Python 3.10+ on this machine, each
started without site-packages (-S -E) and refusing any compiled module from the vendored
packages, talking to a real server: GetInfo, ListModels, a job through and back, a refused
job, nothing listening.

Windows' and macOS' GIMPs bring a Python that cannot load PyPI's compiled wheels (an MSYS2
build, 3.12-3.13; a 3.10 framework build): this is the property that makes one vendored
folder work there, checked here on Linux interpreters (the real GIMPs are in tests/gimp/)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from nst_server.app import StyleServer
from nst_server.engine import WorkspaceEngine
from nst_server.gimp_install import GimpInstallation, install

STYLE = Path(__file__).resolve().parent.parent / "examples" / "starry_night.jpg"

PROBE = r"""
import importlib.abc, importlib.machinery, json, sys
PLUGIN, ADDRESS, DOWN, STYLE = sys.argv[1:5]
VENDOR = PLUGIN + "/vendor.zip"

class NoCompiledVendor(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        origin = getattr(spec, "origin", None) or ""
        compiled = origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
        if origin.startswith(VENDOR) and compiled:
            raise ImportError("a compiled module from vendor.zip: " + origin)
        return None

sys.meta_path.insert(0, NoCompiledVendor())
sys.path.insert(0, PLUGIN)
import neural_style_core as core
t = core.load_transport(PLUGIN)
from google.protobuf.internal import api_implementation
import google.protobuf
out = {"python": "%d.%d" % sys.version_info[:2], "protobuf": api_implementation.Type(),
       "protobuf_from": google.protobuf.__file__}
with t.StyleClient(ADDRESS, 60) as client:
    out["device"] = client.info().device
    out["models"] = client.list_models()
    pixels = bytes(range(256)) * (64 * 48 * 3 // 256)
    events = []
    result = client.stylize(
        t.JobRequest(pixels, 64, 48, 3, "u8", styles=[(open(STYLE, "rb").read(), 1.0)],
                     options={"strength": 0.7}),
        on_event=events.append)
    out["echo"] = result.pixels == pixels and (result.width, result.height) == (64, 48)
    out["events"] = [e.kind for e in events]
    try:
        client.stylize(t.JobRequest(pixels, 64, 48, 3, "u8", styles=[(b"", 1.0)]))
    except t.JobFailed as exc:
        out["refused"] = exc.code
try:
    t.StyleClient(DOWN).info()
except t.ServerUnavailable as exc:
    out["down"] = str(exc)
vendor_compiled = [m.__name__ for m in list(sys.modules.values())
                   if str(getattr(m, "__file__", "")).startswith(VENDOR)
                   and str(m.__file__).endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))]
out["vendor_compiled"] = vendor_compiled
print(json.dumps(out))
"""


def interpreters() -> list[str]:
    """This Python, and every other CPython 3.10+ found (pyenv's, and on PATH)."""
    found = {sys.executable}
    root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    for path in glob.glob(f"{root}/versions/3.*/bin/python3.*"):
        if path.rsplit("python", 1)[1].replace(".", "").isdigit():
            found.add(path)
    for minor in range(10, 16):
        path = shutil.which(f"python3.{minor}")
        if path:
            found.add(path)
    usable = {}
    for path in sorted(found):
        try:
            version = subprocess.run(
                [path, "-S", "-E", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
        except OSError:
            continue
        if version and tuple(map(int, version.split("."))) >= (3, 10):
            usable.setdefault(version, path)
    return [usable[v] for v in sorted(usable, key=lambda v: tuple(map(int, v.split("."))))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def echo_server():
    """The real server with an engine that returns the content (the wire is under test)."""

    class Echo(WorkspaceEngine):  # the real adapter's checks and errors, no painting
        def __call__(self, work, progress, cancel):
            return work.content, {"device": "echo"}

    server = StyleServer(f"127.0.0.1:{free_port()}", device="cpu", engine=Echo("cpu"), warm=False)
    server.start()
    yield server.address
    server.stop(grace=1)


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gimp") / "3.2"
    return install(GimpInstallation("linux", "3.2", folder), log=lambda _: None)


@pytest.mark.parametrize("python", interpreters(), ids=lambda p: Path(p).name)
def test_the_installed_transport_runs_in_a_bare_python(python, plugin, echo_server):
    down = f"127.0.0.1:{free_port()}"
    proc = subprocess.run(
        [python, "-S", "-E", "-c", PROBE, str(plugin), echo_server, down, str(STYLE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    print(f"{python}: {out['python']}, protobuf {out['protobuf']}")
    assert out["protobuf"] == "python" and out["vendor_compiled"] == []
    assert out["protobuf_from"].startswith(str(plugin / "vendor.zip"))
    assert out["device"] == "cpu" and out["models"] == []
    assert out["echo"] and out["events"] == ["queued", "started", "finished"]
    assert out["refused"] == "INVALID_ARGUMENT"
    assert f"no Neural Style server answers at {down}" in out["down"]
    assert f"nst-server start --address {down}" in out["down"]


def test_more_than_one_python_was_tried():
    """The point is GIMP's Pythons differ: on a machine with only one, say so loudly."""
    found = interpreters()
    print("Pythons for the transport test:", found)
    if len(found) < 2:
        pytest.skip(f"only one Python 3.10+ here ({found}); the transport ran on it alone")
    assert len(found) >= 2


def test_a_large_layer_goes_through_the_pure_transport_unchanged(plugin, echo_server):
    """12 MB of 16-bit RGBA each way in 1 MiB chunks, in this process's Python."""
    env = {**os.environ, "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}
    code = (
        "import sys, numpy as np; sys.path.insert(0, sys.argv[1]); "
        "import neural_style_core as core; t = core.load_transport(sys.argv[1]); "
        "px = np.random.default_rng(1).integers(0, 65535, (1000, 1500, 4), np.uint16).tobytes(); "
        "r = t.StyleClient(sys.argv[2], 120).stylize("
        "t.JobRequest(px, 1500, 1000, 4, 'u16', styles=[(open(sys.argv[3], 'rb').read(), 1)])); "
        "print(r.pixels == px, r.sample_type, len(r.pixels))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(plugin), echo_server, str(STYLE)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["True", "u16", str(1500 * 1000 * 4 * 2)]
