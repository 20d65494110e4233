"""The layer rule, on the source and at run time: data flows GIMP -> plug-in -> client ->
proto -> server -> engine, and no layer reaches past its neighbour.

- the engine imports nothing of gRPC, the contract, the server or GIMP;
- the plug-in imports nothing of torch, numpy, Pillow, the engine or the server, nor grpcio
  (its transport is the pure-Python client);
- the contract package imports nothing of the engine or the server, nor numpy, torch or
  Pillow; its parts copied into GIMP import no grpcio;
- the scheduler (server/jobs.py) imports no gRPC and no protobuf message, and of the engine
  only its value types: the rest is the engine adapter's (server/engine.py), which imports
  nothing of gRPC or the contract.
Imports inside functions count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GRPC = ("grpc", "grpc_health", "grpc_reflection", "grpc_tools", "grpclib")
HEAVY = ("torch", "torchvision", "numpy", "PIL", "tifffile", "png")
PURE_PROTO = ("__init__.py", "info.py", "job.py", "pure_client.py", "style_pb2.py", "style_grpc.py")

RULES = [
    ("the engine", sorted((REPO / "nst_engine").rglob("*.py")),
     (*GRPC, "nst_proto", "nst_server", "gi")),
    ("the plug-in", sorted((REPO / "gimp_plugin").rglob("*.py")),
     (*HEAVY, "nst_engine", "nst_server", "grpc")),
    ("the contract", sorted((REPO / "proto").glob("*.py")),
     (*HEAVY, "nst_engine", "nst_server")),
    ("the contract's GIMP copy", [REPO / "proto" / name for name in PURE_PROTO],
     ("grpc", "grpc_health", "grpc_reflection")),
    ("the scheduler", [REPO / "server" / "jobs.py"],
     (*GRPC, "nst_proto.style_pb2", "nst_proto.job", "nst_proto.client", "torch", "PIL")),
    ("the engine adapter", [REPO / "server" / "engine.py"], (*GRPC, "nst_proto")),
]  # fmt: skip


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every absolute import in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def forbidden(module: str, names: tuple[str, ...]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in names)


@pytest.mark.parametrize(("layer", "files", "names"), RULES, ids=[rule[0] for rule in RULES])
def test_each_layer_imports_only_its_neighbours(layer, files, names):
    assert files, layer
    violations = [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in files
        for line, module in imported(path)
        if forbidden(module, names)
    ]
    assert violations == [], f"{layer}: " + "; ".join(violations)


def test_the_scheduler_reaches_the_engine_only_through_its_adapter():
    """Of nst_engine the scheduler imports only the value types (no torch behind them)."""
    engine_parts = {
        module
        for _, module in imported(REPO / "server" / "jobs.py")
        if forbidden(module, ("nst_engine",))
    }
    assert engine_parts <= {"nst_engine.options", "nst_engine.errors"}, engine_parts


def test_the_rule_sees_a_violation(tmp_path):
    """The check itself: an engine file importing grpc lazily is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import grpc.aio\n    from nst_proto import job\n")
    modules = [module for _, module in imported(bad)]
    assert [m for m in modules if forbidden(m, (*GRPC, "nst_proto"))] == ["grpc.aio", "nst_proto"]


def test_the_servers_command_line_loads_no_torch():
    """`nst-server start` checks its address before the daemon loads the engine: the
    command line and the server's modules import torch only when an engine is built."""
    code = (
        "import sys\n"
        "import nst_server.cli, nst_server.app, nst_server.service, nst_server.wire\n"
        "print('torch' in sys.modules)\n"
    )
    assert python_prints(code) == "False"


def test_running_the_engine_loads_no_transport():
    """At run time: the engine's command line and a whole job import no gRPC or server."""
    code = (
        "import sys, numpy as np\n"
        "import nst_engine, nst_engine.cli\n"
        "from nst_engine.options import StyleOptions\n"
        "nst_engine.stylize(np.full((40, 40, 3), 128, np.uint8), np.zeros((40, 40, 3), np.uint8),"
        " options=StyleOptions(iterations=1, device='cpu'))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'grpc', 'grpclib', 'nst_proto', 'nst_server', 'gi'}))\n"
    )
    assert python_prints(code) == "[]"


def python_prints(code: str) -> str:
    """What `code` prints, run in a fresh interpreter (its imports are its own)."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def engine_imports(path: Path) -> list[str]:
    """The nst_engine modules a file of the engine imports, relative imports resolved."""
    package = list(path.relative_to(REPO).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            found.append(".".join([*base, *([node.module] if node.module else [])]))
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [module for module in found if module.startswith("nst_engine")]


def test_fast_mode_does_not_import_the_api():
    """fast/ sits below api: applying a model (nst_engine/instant.py) imports both, and
    neither imports it back, so there is no import circle."""
    fast = sorted((REPO / "nst_engine" / "fast").glob("*.py"))
    back = [
        f"{path.relative_to(REPO)} imports {module}"
        for path in fast
        for module in engine_imports(path)
        if forbidden(module, ("nst_engine.api", "nst_engine.instant"))
    ]
    assert back == []
    # the check resolves relative imports, as the one it replaces was written
    assert "nst_engine.api" in engine_imports(REPO / "nst_engine" / "instant.py")


def test_the_painting_modules_do_not_import_the_evaluation():
    """Measuring and judging sit above painting: nst_engine/evaluation/ imports the engine,
    and no engine module imports it back, but the `nst` command's bench handler."""
    engine = sorted((REPO / "nst_engine").rglob("*.py"))
    painting = [p for p in engine if "evaluation" not in p.parts and p.name != "cli.py"]
    back = [
        f"{path.relative_to(REPO)} imports {module}"
        for path in painting
        for module in engine_imports(path)
        if forbidden(module, ("nst_engine.evaluation",))
    ]
    assert back == []
    assert "nst_engine.evaluation" in engine_imports(REPO / "nst_engine" / "cli.py")
