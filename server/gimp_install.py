"""`nst-server install-gimp-plugin`: put the Neural Style plug-in into GIMP 3.

What lands in <GIMP config dir>/plug-ins/neural_style/:
  neural_style.py    the plug-in (run bit set; GIMP skips plug-ins without it)
  nst_proto/         the project's gRPC client and generated stubs
  vendor/            grpcio and protobuf built for GIMP's own Python (Debian's GIMP 3: 3.13),
                     which is not necessarily the Python running this installer
  neural_style.json  the absolute command that starts the server, and the default address

GIMP's config dir on Linux: $GIMP3_DIRECTORY when set, else ~/.config/GIMP/3.0 (or under
$XDG_CONFIG_HOME), and the Flatpak one ~/.var/app/org.gimp.GIMP/config/GIMP/3.0 when present.
"""

from __future__ import annotations

import argparse
import importlib.resources
import importlib.util
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

PLUGIN_NAME = "neural_style"
GIMP_PYTHON_VERSION = "3.13"
FLATPAK_CONFIG = Path(".var/app/org.gimp.GIMP/config/GIMP/3.0")
DEFAULT_ADDRESS = "127.0.0.1:50051"


class InstallError(Exception):
    """Installation failed; the message says what to do."""


def candidate_config_dirs(env: dict[str, str] | None = None) -> list[Path]:
    """GIMP 3 config dirs to install into, most specific first.

    $GIMP3_DIRECTORY wins alone. Otherwise the native dir (created if nothing exists yet)
    and the Flatpak dir when it exists.
    """
    env = dict(os.environ if env is None else env)
    if env.get("GIMP3_DIRECTORY"):
        return [Path(env["GIMP3_DIRECTORY"]).expanduser()]
    home = Path(env.get("HOME") or Path.home())
    xdg = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    native = xdg / "GIMP" / "3.0"
    flatpak = home / FLATPAK_CONFIG
    found = [d for d in (native, flatpak) if d.is_dir()]
    return found or [native]


def plugin_source() -> Path:
    """The plug-in file shipped with this package (or the source tree's copy)."""
    try:
        res = importlib.resources.files("nst_gimp_plugin") / PLUGIN_NAME / f"{PLUGIN_NAME}.py"
        if res.is_file():
            return Path(str(res))
    except (ModuleNotFoundError, TypeError):
        pass
    here = Path(__file__).resolve().parent.parent / "gimp_plugin" / PLUGIN_NAME
    candidate = here / f"{PLUGIN_NAME}.py"
    if candidate.is_file():
        return candidate
    raise InstallError(
        "the plug-in file neural_style.py is not part of this installation; reinstall the "
        "package (pip install neural-style-gimp) and try again"
    )


def proto_package_dir() -> Path:
    """The nst_proto package directory (client + generated stubs)."""
    spec = importlib.util.find_spec("nst_proto")
    if spec is None or not spec.submodule_search_locations:
        raise InstallError(
            "the nst_proto package (the gRPC client and stubs) is not installed; reinstall "
            "the package (pip install neural-style-gimp) and try again"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def server_command() -> list[str]:
    """The absolute command the plug-in runs to start the daemon (`... start`)."""
    beside = Path(sys.executable).with_name("nst-server")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("nst-server")
    if found:
        return [str(Path(found).resolve())]
    return [sys.executable, "-m", "nst_server"]


def _pinned(dist: str) -> str:
    """`dist==version` matching what this Python has (stubs and runtime agree), else `dist`."""
    try:
        from importlib.metadata import version

        return f"{dist}=={version(dist)}"
    except Exception:  # noqa: BLE001 - not installed here: take the newest
        return dist


def vendor_packages(target: Path, python_version: str, log=print) -> None:
    """pip-install grpcio and protobuf wheels for GIMP's Python into `target`."""
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    requirements = [_pinned("grpcio"), _pinned("protobuf")]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        "--only-binary=:all:",
        "--platform",
        f"manylinux_2_17_{arch}",
        "--platform",
        f"manylinux2014_{arch}",
        *requirements,
    ]
    log(f"  fetching {' '.join(requirements)} for Python {python_version} ({arch}):")
    log("    " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise InstallError(
            f"pip could not fetch grpcio and protobuf for Python {python_version}:\n{tail}\n"
            "Check the network access to PyPI, or pass --python-version to match GIMP's Python "
            "(GIMP > Filters > Development > Python-Fu > Python Console shows it)"
        )
    shutil.rmtree(target / "bin", ignore_errors=True)


def install(
    config_dir: Path,
    *,
    python_version: str = GIMP_PYTHON_VERSION,
    vendor: bool = True,
    address: str = DEFAULT_ADDRESS,
    log=print,
) -> Path:
    """Install into one GIMP config dir; return the plug-in's folder."""
    config_dir = Path(config_dir).expanduser().resolve()
    plugins = config_dir / "plug-ins"
    dest = plugins / PLUGIN_NAME
    source = plugin_source()
    proto = proto_package_dir()
    try:
        plugins.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InstallError(f"cannot create {plugins}: {exc}") from exc
    log(f"Installing the Neural Style plug-in into {dest}")
    staging = Path(tempfile.mkdtemp(prefix=".neural_style-", dir=plugins))
    try:
        target = staging / f"{PLUGIN_NAME}.py"
        shutil.copy2(source, target)
        target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        log(f"  copied {source} (with the run bit)")
        shutil.copytree(
            proto, staging / "nst_proto", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        log(f"  copied the gRPC client and stubs from {proto}")
        if vendor:
            vendor_packages(staging / "vendor", python_version, log)
            log(f"  vendored grpcio and protobuf into {dest / 'vendor'}")
        elif (dest / "vendor").is_dir():
            shutil.copytree(dest / "vendor", staging / "vendor")
            log("  kept the existing vendor/ folder (--no-vendor)")
        settings = {"server_command": server_command(), "address": address}
        (staging / f"{PLUGIN_NAME}.json").write_text(json.dumps(settings, indent=2) + "\n")
        log(
            f"  the plug-in will start the server with: {' '.join(settings['server_command'])}"
            " start"
        )
        staging.chmod(0o755)
        if dest.exists():
            old = plugins / f".{PLUGIN_NAME}-old"
            shutil.rmtree(old, ignore_errors=True)
            dest.rename(old)
            staging.rename(dest)
            shutil.rmtree(old, ignore_errors=True)
            log("  replaced the previous installation")
        else:
            staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gimp-config-dir",
        type=Path,
        default=None,
        help="GIMP 3 config dir (default: $GIMP3_DIRECTORY, ~/.config/GIMP/3.0 and the "
        "Flatpak one when present)",
    )
    parser.add_argument(
        "--python-version",
        default=GIMP_PYTHON_VERSION,
        help=f"GIMP's own Python version, for the vendored wheels (default {GIMP_PYTHON_VERSION})",
    )
    parser.add_argument(
        "--no-vendor",
        action="store_true",
        help="do not fetch grpcio/protobuf (GIMP's Python already has them)",
    )
    parser.add_argument(
        "--address",
        default=DEFAULT_ADDRESS,
        help=f"server address the plug-in uses by default (default {DEFAULT_ADDRESS})",
    )


def run_from_args(args: argparse.Namespace) -> int:
    dirs = [args.gimp_config_dir] if args.gimp_config_dir else candidate_config_dirs()
    try:
        for config_dir in dirs:
            dest = install(
                config_dir,
                python_version=args.python_version,
                vendor=not args.no_vendor,
                address=args.address,
            )
            print(f"Done: {dest}")
    except InstallError as exc:
        print(f"nst-server install-gimp-plugin: error: {exc}", file=sys.stderr)
        return 1
    print(
        "Restart GIMP, then use Filters > Neural Style... (start the server first with "
        "`nst-server start`, or let the plug-in start it)."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nst-server install-gimp-plugin",
        description="Install the Neural Style plug-in into GIMP 3.",
    )
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
