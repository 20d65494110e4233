#!/usr/bin/env python3
"""Refresh the pure-Python wheels the GIMP plug-in's transport ships with.

    python scripts/update_plugin_wheels.py             # download PINS, rewrite wheels.txt
    python scripts/update_plugin_wheels.py --check     # exit 1 when a wheel or its hash differs

The plug-in talks to the server through nst_proto.pure_client (grpclib on h2, protobuf's
pure-Python runtime). These wheels ship in the package (gimp_plugin/vendor/) so that
`nst-server install-gimp-plugin` needs no network and one folder serves every GIMP's Python:
each must be `py3-none-any` and support Python 3.10 (macOS GIMP's), which is why multidict is
held at 6.x (7.x needs 3.11) and typing_extensions comes along (multidict needs it below 3.11).
wheels.txt records each file's version, SHA-256, licence and source; the installer checks the
hashes before it unpacks anything.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "gimp_plugin" / "vendor"
LOCK = VENDOR / "wheels.txt"
PINS = (
    "grpclib==0.4.9",
    "h2==4.4.1",
    "hpack==4.2.0",
    "hyperframe==6.1.0",
    "multidict==6.7.1",
    "typing_extensions==4.16.0",
    "protobuf==7.36.2",
)
HEADER = (
    "# The pure-Python wheels of the GIMP plug-in's transport (scripts/update_plugin_wheels.py).\n"
    "# file  sha256  licence  source\n"
)


def metadata(wheel: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(archive.read(name).decode())
    classifiers = [
        c.rsplit(" :: ", 1)[-1]
        for c in message.get_all("Classifier") or []
        if c.startswith("License :: OSI Approved")
    ]
    field = (message.get("License") or "").strip()
    licence = (
        message.get("License-Expression")
        or (field if field and "\n" not in field and len(field) < 40 else None)
        or (classifiers[0] if classifiers else "see_its_LICENSE")
    )
    return {"name": message["Name"], "version": message["Version"], "licence": licence}


def lock_lines(folder: Path) -> list[str]:
    lines = []
    for wheel in sorted(folder.glob("*.whl")):
        meta = metadata(wheel)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        source = f"https://pypi.org/project/{meta['name']}/{meta['version']}/"
        lines.append(f"{wheel.name}  {digest}  {meta['licence'].replace(' ', '_')}  {source}")
    return lines


def download(folder: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(folder)]
        + ["--only-binary=:all:", "--platform", "any", "--implementation", "py"]
        + ["--python-version", "3.10", *PINS],
        check=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare only, write nothing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        download(Path(tmp))
        fresh = lock_lines(Path(tmp))
        if args.check:
            same = (
                fresh == lock_lines(VENDOR) and LOCK.read_text() == HEADER + "\n".join(fresh) + "\n"
            )
            print("the vendored wheels match PINS" if same else "stale: run without --check")
            return 0 if same else 1
        for old in VENDOR.glob("*.whl"):
            old.unlink()
        for wheel in Path(tmp).glob("*.whl"):
            (VENDOR / wheel.name).write_bytes(wheel.read_bytes())
    LOCK.write_text(HEADER + "\n".join(lock_lines(VENDOR)) + "\n")
    print(f"wrote {LOCK}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
