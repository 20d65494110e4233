"""The committed nst.v1 stubs match the .proto, and the client package stands alone (stdlib,
grpc and protobuf only), as the GIMP plug-in needs it; the packages install both ways."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nst_proto
from nst_proto import generate

PROTO_DIR = Path(nst_proto.__file__).resolve().parent


def test_committed_stubs_equal_freshly_generated_ones(tmp_path):
    written = generate.generate(tmp_path, PROTO_DIR)
    assert {p.name for p in written} == set(generate.OUTPUTS)
    for name in generate.OUTPUTS:
        fresh, committed = (tmp_path / name).read_text(), (PROTO_DIR / name).read_text()
        assert fresh == committed, f"{name} is stale: run python -m nst_proto.generate"
    assert "from . import style_pb2 as" in (PROTO_DIR / "style_pb2_grpc.py").read_text()


def test_an_edited_proto_is_detected(tmp_path):
    root = tmp_path / "proto"
    shutil.copytree(PROTO_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    source = root / generate.PROTO
    source.write_text(
        source.read_text().replace("uint32 pid = 18;", "uint32 pid = 18;\n  int32 x = 99;")
    )
    assert generate.differences(root) == ["style_pb2.py", "style_pb2.pyi"]
    assert generate.differences(PROTO_DIR) == []


def test_client_imports_nothing_but_stdlib_grpc_and_protobuf(tmp_path):
    """A copy of the package, alone on the path (as in GIMP's plug-in folder)."""
    shutil.copytree(PROTO_DIR, tmp_path / "nst_proto", ignore=shutil.ignore_patterns("__pycache__"))
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import nst_proto.client as c;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('numpy', 'torch', 'PIL', 'nst_engine', 'nst_server'));"
        "print(c.__file__); print(bad); "
        "print(c.StyleClient.__name__, c.JobEvent('queued', position=2).position)"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code, str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    where, bad, names = proc.stdout.splitlines()
    assert where.startswith(str(tmp_path)), "the copy is the one imported"
    assert bad == "[]"
    assert names == "StyleClient 2"


def test_a_regular_install_ships_both_packages_and_the_proto(tmp_path):
    """`pip install .` (not editable) into a target dir holds nst_server and nst_proto."""
    repo = tmp_path / "src"  # a copy: the build leaves nothing in the working tree
    source = PROTO_DIR.parent
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (source / name).is_file():
            repo.mkdir(exist_ok=True)
            shutil.copy(source / name, repo / name)
    for name in ("nst_engine", "server", "proto", "gimp_plugin", "examples"):
        shutil.copytree(source / name, repo / name, ignore=skip)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(tmp_path / "site"), str(repo)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    site = tmp_path / "site"
    for path in (
        "nst_proto/client.py",
        "nst_proto/style_pb2.py",
        "nst_proto/style_pb2_grpc.py",
        "nst_proto/nst/v1/style.proto",
        "nst_server/cli.py",
        "nst_server/service.py",
        "nst_engine/examples/chelsea.png",
        "nst_gimp_plugin/vendor/wheels.txt",
    ):
        assert (site / path).is_file(), path
    check = subprocess.run(
        [sys.executable, "-c",
         "import sys; sys.path.insert(0, sys.argv[1]); import nst_server.cli, nst_proto.client;"
         "print(nst_server.cli.__file__)", str(site)],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().startswith(str(site))
