"""Regenerate the committed stubs from nst/v1/style.proto with grpcio-tools (messages and the
grpcio stubs) and grpclib's protoc plugin (the pure-Python stubs of nst_proto.pure_client).

    python -m nst_proto.generate            # rewrite the stubs in place
    python -m nst_proto.generate --check    # exit 1 when they differ from the .proto

protoc names modules after the .proto's path (nst/v1/style_pb2.py); the stubs are committed
flat in this package (style_pb2.py, style_pb2.pyi, style_pb2_grpc.py, style_grpc.py) with the
service modules' imports made package-relative, so they work as `nst_proto` and when copied
into GIMP's plug-in folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = "nst/v1/style.proto"
OUTPUTS = ("style_pb2.py", "style_pb2.pyi", "style_pb2_grpc.py", "style_grpc.py")
# Per service module: (absolute import protoc writes, its package-relative form).
RELATIVE_IMPORTS = {
    "style_pb2_grpc.py": [("from nst.v1 import style_pb2 as", "from . import style_pb2 as")],
    "style_grpc.py": [
        ("import nst.v1.style_pb2\n", "from . import style_pb2\n"),
        ("nst.v1.style_pb2.", "style_pb2."),
    ],
}


def _grpclib_plugin(folder: Path) -> Path:
    """An executable that runs grpclib's protoc plugin with this Python."""
    script = folder / "protoc-gen-grpclib_python"
    run = "from grpclib.plugin.main import main; main()"  # the module has no __main__ guard
    script.write_text(f"#!/bin/sh\nexec '{sys.executable}' -c '{run}'\n")
    script.chmod(0o755)
    return script


def generate(out_dir: Path, proto_root: Path = HERE) -> list[Path]:
    """Run protoc on the .proto under `proto_root`; write the fixed stubs into `out_dir`."""
    from grpc_tools import protoc  # only needed here, not at run time

    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        include = Path(protoc.__file__).parent / "_proto"
        code = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{proto_root}",
                f"-I{include}",
                f"--plugin=protoc-gen-grpclib_python={_grpclib_plugin(Path(tmp))}",
                f"--python_out={tmp}",
                f"--pyi_out={tmp}",
                f"--grpc_python_out={tmp}",
                f"--grpclib_python_out={tmp}",
                str(proto_root / PROTO),
            ]
        )
        if code != 0:
            raise RuntimeError(f"protoc failed with status {code} on {proto_root / PROTO}")
        written = []
        for name in OUTPUTS:
            text = (Path(tmp) / "nst" / "v1" / name).read_text()
            for absolute, relative in RELATIVE_IMPORTS.get(name, []):
                if absolute not in text:
                    raise RuntimeError(f"{name}: expected the text {absolute!r}")
                text = text.replace(absolute, relative)
            target = out_dir / name
            target.write_text(text)
            written.append(target)
    return written


def differences(proto_root: Path = HERE) -> list[str]:
    """Names of committed stubs that differ from freshly generated ones."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), proto_root)
        return [
            name
            for name in OUTPUTS
            if not (proto_root / name).is_file()
            or (Path(tmp) / name).read_text() != (proto_root / name).read_text()
        ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nst_proto.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        stale = differences()
        if stale:
            print(f"stale stubs: {', '.join(stale)}; run python -m nst_proto.generate")
            return 1
        print("stubs match the .proto")
        return 0
    for path in generate(HERE):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
