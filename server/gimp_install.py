"""`nst-server install-gimp-plugin`: put the Neural Style plug-in into every GIMP 3 a user has.

What lands in <GIMP config dir>/plug-ins/neural_style/:
  neural_style.py        the plug-in (run bit set; GIMP skips plug-ins without it)
  neural_style_core.py   its GIMP-free half (settings, transport, server start, errors)
  neural_style_dialog.py what its dialog says, also without GIMP (choices, server, time)
  neural_style_frames.py layers as an animation's frames (which, in which order, their layers)
  nst_proto/             the contract and the pure-Python client (no grpcio stubs)
  vendor.zip             grpclib, h2, protobuf and their needs: the pure-Python wheels shipped
                         in this package (gimp_plugin/vendor/) in one zip that Python imports
                         from (no network, and one copy runs in every GIMP's own Python)
  neural_style.json      the server's address, the command that starts the server and the
                         command that reinstalls the plug-in

Where GIMP 3 keeps a user's plug-ins: a config folder per minor version (3.0, 3.2, later
3.4), read only by that version, under
  Linux     $XDG_CONFIG_HOME/GIMP/3.x (~/.config/GIMP/3.x)
  Flatpak   ~/.var/app/org.gimp.GIMP/config/GIMP/3.x
  Windows   %APPDATA%\\GIMP\\3.x
  macOS     ~/Library/Application Support/GIMP/3.x
or $GIMP3_DIRECTORY for every version when it is set. These are GIMP's own rules (GLib's user
config folder), written out here rather than asked of platformdirs so that a test can stand in
another machine's environment and home. find_installations() lists every existing 3.x
folder, and every GIMP 3 found on the machine whose folder does not exist yet (its program on
PATH or in the usual install places). GIMP makes its folder itself on its first start, copying
the previous version's settings into it; a folder made by anyone else would stop that copy, so
for a GIMP that never ran the installer starts its console program once (`-i --quit`) to let
it make the folder, and when it cannot, says to start GIMP once.

What runs the plug-in: GIMP's interpreters file maps its `#!/usr/bin/env python3` (and any
`.py`) to a Python: the system's on Linux, the runtime's in the Flatpak, and on Windows the one
GIMP's installer bundles (bin\\pythonw.exe beside gimp-3.x.exe, written into
lib\\gimp\\3.0\\interpreters\\pygimp_win.interp). A Windows GIMP installed without its Python
component has none and cannot run any Python plug-in: the installer says so. Only the standard
library and vendor.zip's pure-Python packages are needed, so any of them runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.resources
import json
import os
import plistlib
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nst_proto import DEFAULT_ADDRESS
from nst_proto.access import read_access

from . import __version__
from .daemon import server_command

PLUGIN_NAME = "neural_style"
PLUGIN_FILES = (
    f"{PLUGIN_NAME}.py",
    f"{PLUGIN_NAME}_core.py",
    f"{PLUGIN_NAME}_dialog.py",
    f"{PLUGIN_NAME}_frames.py",
)
# The pure-Python part of nst_proto (the grpcio client and its stubs stay behind).
PROTO_FILES = (
    "__init__.py",
    "access.py",
    "errors.py",
    "info.py",
    "job.py",
    "pure_client.py",
    "style_pb2.py",
    "style_grpc.py",
)
FLATPAK_ID = "org.gimp.GIMP"
FLATPAK_CONFIG = Path(".var/app") / FLATPAK_ID / "config" / "GIMP"
VERSION_FOLDER = re.compile(r"^(\d+)\.(\d+)$")
# gimp-3.2, gimp-console-3.0, gimp-3.2.exe: the version a GIMP program is named for.
VERSIONED_PROGRAM = re.compile(r"^gimp(?:-console)?-(3\.\d+)(?:\.exe)?$", re.IGNORECASE)
KINDS = {
    "linux": "Linux",
    "flatpak": "Flatpak",
    "windows": "Windows",
    "macos": "macOS",
    "custom": "custom folder",
}

Log = Callable[[str], None]


class InstallError(Exception):
    """Installation failed; the message says what to do."""


@dataclass
class GimpInstallation:
    """One GIMP 3 version's plug-in home, and how it was found."""

    kind: str  # a key of KINDS
    version: str  # "3.2"; "" for a folder given by hand
    config_dir: Path
    found_by: list[str] = field(default_factory=list)
    # argv that runs this GIMP headless (`-i --quit` is added), to let it make its folder
    console: list[str] | None = None
    # Windows: the Python GIMP bundles and runs Python plug-ins in, where its program was found
    python: Path | None = None
    # Windows: GIMP's program was found, but no Python beside it (installed without one)
    python_missing: bool = False

    @property
    def sandboxed(self) -> bool:
        """A Flatpak GIMP cannot start programs on the host: the server is started there."""
        return self.kind == "flatpak"

    def title(self) -> str:
        version = f"GIMP {self.version}" if self.version else "GIMP 3"
        return f"{version} ({KINDS[self.kind]}, {self.config_dir})"


def _version_folders(base: Path) -> dict[str, Path]:
    """The `3.x` folders under `base`, by version."""
    found = {}
    try:
        entries = list(base.iterdir())
    except OSError:
        return found
    for entry in entries:
        match = VERSION_FOLDER.match(entry.name)
        if match and match.group(1) == "3" and entry.is_dir():
            found[entry.name] = entry
    return found


def _programs_on_path(path: str) -> dict[str, Path]:
    """GIMP 3 programs named for their version in the folders of `path`, by version; the
    console program is preferred (it runs without a display)."""
    found: dict[str, Path] = {}
    for folder in filter(None, path.split(os.pathsep)):
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            match = VERSIONED_PROGRAM.match(name)
            if match:
                version, program = match.group(1), Path(folder) / name
                if version not in found or "console" in name:
                    found[version] = program
    return found


def _add(
    plan: dict[Path, GimpInstallation],
    kind: str,
    version: str,
    config_dir: Path,
    why: str,
    console: list[str] | None = None,
) -> None:
    entry = plan.setdefault(config_dir, GimpInstallation(kind, version, config_dir))
    entry.found_by.append(why)
    if console and not entry.console:
        entry.console = console


def _console_beside(program: Path) -> list[str]:
    """The console program beside a GIMP program, else the program itself (`-i` works)."""
    console = program.with_name(program.name.replace("gimp-", "gimp-console-", 1))
    return [str(console if "console" not in program.name and console.exists() else program)]


def _linux(plan, env: Mapping[str, str], home: Path, roots: Path) -> None:
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    for version, folder in _version_folders(base / "GIMP").items():
        _add(plan, "linux", version, folder, f"its folder {folder}")
    for version, program in _programs_on_path(env.get("PATH", "")).items():
        _add(
            plan, "linux", version, base / "GIMP" / version, str(program), _console_beside(program)
        )
    flatpak_config = home / FLATPAK_CONFIG
    for version, folder in _version_folders(flatpak_config).items():
        _add(plan, "flatpak", version, folder, f"its folder {folder}")
    # The Flatpak's files, per user and system wide: .../org.gimp.GIMP/<arch>/<branch>/active
    for apps in (home / ".local/share/flatpak/app", roots / "var/lib/flatpak/app"):
        for binaries in sorted((apps / FLATPAK_ID).glob("*/*/active/files/bin")):
            for version, program in _programs_on_path(str(binaries)).items():
                command = ["flatpak", "run", f"--command={program.name}", FLATPAK_ID]
                if shutil.which("flatpak", path=env.get("PATH")) is None:
                    command = None
                _add(plan, "flatpak", version, flatpak_config / version, str(program), command)


def _bundled_python(binaries: Path) -> Path | None:
    """The Python a Windows GIMP runs plug-ins in: pythonw.exe (no console window) where its
    installer put one, else python.exe (development builds bundle only that)."""
    for name in ("pythonw.exe", "python.exe"):
        if (binaries / name).is_file():
            return binaries / name
    return None


def _windows(plan, env: Mapping[str, str], home: Path) -> None:
    appdata = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
    for version, folder in _version_folders(appdata / "GIMP").items():
        _add(plan, "windows", version, folder, f"its folder {folder}")
    places = [env.get("ProgramFiles"), env.get("ProgramW6432"), env.get("LOCALAPPDATA")]
    installs = []
    for place in filter(None, places):
        installs += Path(place).glob("GIMP 3*/bin")
        installs += Path(place).glob("Programs/GIMP 3*/bin")
    for binaries in sorted(set(installs)):
        python = _bundled_python(binaries)
        for version, program in _programs_on_path(str(binaries)).items():
            folder = appdata / "GIMP" / version
            _add(plan, "windows", version, folder, str(program), _console_beside(program))
            plan[folder].python = plan[folder].python or python
            plan[folder].python_missing = plan[folder].python is None


def _macos(plan, home: Path, roots: Path) -> None:
    support = home / "Library" / "Application Support" / "GIMP"
    for version, folder in _version_folders(support).items():
        _add(plan, "macos", version, folder, f"its folder {folder}")
    for apps in (roots / "Applications", home / "Applications"):
        for bundle in sorted(apps.glob("GIMP*.app")):
            try:
                with (bundle / "Contents" / "Info.plist").open("rb") as fh:
                    full = str(plistlib.load(fh).get("CFBundleShortVersionString", ""))
            except (OSError, plistlib.InvalidFileException):
                continue
            match = re.match(r"^(3\.\d+)", full)
            if match:
                program = bundle / "Contents" / "MacOS" / "gimp"
                console = [str(program)] if program.exists() else None
                _add(plan, "macos", match.group(1), support / match.group(1), str(bundle), console)


def find_installations(
    *,
    platform: str | None = None,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    roots: Path = Path("/"),
) -> list[GimpInstallation]:
    """Every GIMP 3 of this user, newest version first. The arguments stand in for this
    machine in tests: `platform` like sys.platform, `roots` the file system's top."""
    platform = sys.platform if platform is None else platform
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home()) if home is None else home
    if env.get("GIMP3_DIRECTORY"):  # GIMP then uses this folder whatever its version
        folder = Path(env["GIMP3_DIRECTORY"]).expanduser()
        return [GimpInstallation("custom", "", folder, ["$GIMP3_DIRECTORY"])]
    plan: dict[Path, GimpInstallation] = {}
    if platform.startswith("win"):
        _windows(plan, env, home)
    elif platform == "darwin":
        _macos(plan, home, roots)
    else:
        _linux(plan, env, home, roots)
    return sorted(
        plan.values(),
        key=lambda g: (tuple(int(n) for n in g.version.split(".")), g.kind),
        reverse=True,
    )


def older_gimps(env: Mapping[str, str] | None = None, home: Path | None = None) -> list[Path]:
    """GIMP 2 config folders (Linux): worth one line, since they cannot run this plug-in."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home()) if home is None else home
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    try:
        return sorted(p for p in (base / "GIMP").iterdir() if p.name.startswith("2."))
    except OSError:
        return []


# -- what gets installed ---------------------------------------------------------------------


def _package_dir(package: str, sub: str = "") -> Path:
    try:
        folder = importlib.resources.files(package)
    except ModuleNotFoundError:
        folder = None
    if folder is not None and (folder / sub).is_dir():
        return Path(str(folder / sub))
    raise InstallError(
        f"the {package} package is incomplete ({sub or 'its folder'} is missing); reinstall it "
        "(pip install neural-style-gimp) and try again"
    )


def plugin_dir() -> Path:
    """The plug-in's files shipped with this package (package data of nst_gimp_plugin)."""
    return _package_dir("nst_gimp_plugin", PLUGIN_NAME)


def vendored_wheels() -> list[Path]:
    """The shipped pure-Python wheels, each checked against wheels.txt's SHA-256."""
    folder = _package_dir("nst_gimp_plugin", "vendor")
    expected = {}
    for line in (folder / "wheels.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, digest = line.split()[:2]
            expected[name] = digest
    wheels = []
    for name, digest in sorted(expected.items()):
        wheel = folder / name
        try:
            actual = hashlib.sha256(wheel.read_bytes()).hexdigest()
        except OSError:
            actual = "missing"
        if actual != digest:
            raise InstallError(
                f"the shipped wheel {name} is {actual if actual == 'missing' else 'damaged'}; "
                "reinstall the package (pip install --force-reinstall neural-style-gimp)"
            )
        wheels.append(wheel)
    return wheels


def build_vendor_zip(wheels: list[Path], target: Path) -> None:
    """One zip of the wheels' contents, imported from directly (zipimport).

    Not unpacked folders: GIMP copies an older version's plug-ins into a new version's folder
    on its first start (3.0 to 3.2) only a few folders deep, which dropped protobuf's
    `internal` package; a single file survives the copy. `google/__init__.py` makes `google`
    a regular package (zipimport does not find namespace packages), which also keeps any other
    `google` on GIMP's path from mixing in. Fixed timestamps: the same wheels, the same bytes.
    """
    seen: set[str] = set()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr(zipfile.ZipInfo("google/__init__.py", (1980, 1, 1, 0, 0, 0)), "")
        seen.add("google/__init__.py")
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                for member in archive.infolist():
                    if member.is_dir() or member.filename.endswith(".dist-info/RECORD"):
                        continue
                    if member.filename in seen:
                        raise InstallError(f"{wheel.name} repeats {member.filename}")
                    seen.add(member.filename)
                    info = zipfile.ZipInfo(member.filename, (1980, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    out.writestr(info, archive.read(member))


def install(
    installation: GimpInstallation,
    *,
    address: str = DEFAULT_ADDRESS,
    access: dict[str, str] | None = None,
    log: Log = print,
) -> Path:
    """Install into one GIMP's config folder, replacing an earlier copy whole; return the
    plug-in's folder. `access`: the settings "token_file" and "tls_ca_file" (absolute paths)
    for a server on another machine (access_settings)."""
    config_dir = installation.config_dir.expanduser()
    plugins = config_dir / "plug-ins"
    dest = plugins / PLUGIN_NAME
    source, proto = plugin_dir(), _package_dir("nst_proto")
    wheels = vendored_wheels()
    try:
        plugins.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{PLUGIN_NAME}-", dir=plugins))
    except OSError as exc:
        raise InstallError(f"cannot create {plugins}: {exc.strerror or exc}") from None
    try:
        for name in PLUGIN_FILES:
            shutil.copy2(source / name, staging / name)
        entry = staging / f"{PLUGIN_NAME}.py"
        entry.chmod(entry.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        (staging / "nst_proto").mkdir()
        for name in PROTO_FILES:
            shutil.copy2(proto / name, staging / "nst_proto" / name)
        build_vendor_zip(wheels, staging / "vendor.zip")
        server = server_command()
        settings = {
            "address": address,
            "server_command": server,
            "install_command": [*server, "install-gimp-plugin"],
            "installed_by": f"neural-style-gimp {__version__}",
            "gimp": {"kind": installation.kind, "version": installation.version},
            **(access or {}),
        }
        (staging / f"{PLUGIN_NAME}.json").write_text(json.dumps(settings, indent=2) + "\n")
        staging.chmod(0o755)
        if dest.exists():
            old = plugins / f".{PLUGIN_NAME}-old"
            shutil.rmtree(old, ignore_errors=True)
            try:  # Windows refuses while a running plug-in holds a file in it open
                dest.rename(old)
            except OSError as exc:
                raise InstallError(
                    f"cannot replace {dest} ({exc.strerror or exc}); close GIMP and run "
                    "`nst-server install-gimp-plugin` again"
                ) from None
            staging.rename(dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    packages = ", ".join(w.name.split("-")[0] for w in wheels)
    log(f"  installed into {dest}")
    log(f"    the plug-in, its pure-Python client and {len(wheels)} packages ({packages})")
    return dest


def let_gimp_make_its_folder(installation: GimpInstallation, log: Log = print) -> bool:
    """Start this GIMP headless once so that it makes its config folder (and copies an older
    version's settings into it, as on any first start). True once the folder exists."""
    if installation.config_dir.is_dir():
        return True
    if not installation.console:
        return False
    command = [*installation.console, "-i", "--quit"]
    log(f"  GIMP {installation.version} has not run yet: starting it once, headless, so that it")
    log(f"  makes its folder and copies your older settings: {' '.join(command)}")
    try:
        subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log(f"  that did not work ({exc})")
    return installation.config_dir.is_dir()


def server_advice(installation: GimpInstallation) -> list[str]:
    """What the user needs to know about starting the server from this GIMP."""
    start = " ".join([*server_command(), "start"])
    if installation.sandboxed:
        return [
            "  this GIMP runs in a Flatpak sandbox, which cannot start the server: start it on",
            f"  this computer with `{start}`, or at every login with `nst-server install-service`",
        ]
    return [f"  the plug-in starts the server itself when it is not running ({start})"]


def install_everywhere(
    installations: list[GimpInstallation],
    *,
    address: str = DEFAULT_ADDRESS,
    access: dict[str, str] | None = None,
    log: Log = print,
) -> tuple[list[Path], list[str]]:
    """Install into each; return (plug-in folders written, problems as sentences)."""
    done, problems = [], []
    for installation in installations:
        log(f"{installation.title()}, found by {'; '.join(installation.found_by)}:")
        if installation.kind != "custom" and not let_gimp_make_its_folder(installation, log):
            problem = (
                f"GIMP {installation.version} has never been started, so it has no folder yet; "
                "start it once, close it, and run `nst-server install-gimp-plugin` again"
            )
            log(f"  skipped: {problem}")
            problems.append(problem)
            continue
        try:
            done.append(install(installation, address=address, access=access, log=log))
        except InstallError as exc:
            log(f"  failed: {exc}")
            problems.append(f"{installation.title()}: {exc}")
            continue
        if installation.python is not None:
            log(f"  GIMP runs it in its own Python: {installation.python}")
        if installation.python_missing:
            problem = (
                f"GIMP {installation.version} has no Python of its own (no pythonw.exe beside "
                f"{installation.console[0] if installation.console else 'its program'}), so it "
                "cannot run Python plug-ins; run GIMP's installer again and include Python"
            )
            log(f"  {problem}")
            problems.append(problem)
        for line in server_advice(installation):
            log(line)
    return done, problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gimp-config-dir",
        type=Path,
        action="append",
        metavar="DIR",
        help="install into this GIMP config folder only (repeatable); by default into every "
        "GIMP 3 found (see --list)",
    )
    parser.add_argument(
        "--list", action="store_true", help="list the GIMP 3 installations found; change nothing"
    )
    parser.add_argument(
        "--address",
        default=DEFAULT_ADDRESS,
        help=f"server address the plug-in uses by default (default {DEFAULT_ADDRESS})",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="for a server on another machine: the file holding its access token (the plug-in "
        "reads it at each job and sends it over TLS)",
    )
    parser.add_argument(
        "--tls-ca",
        type=Path,
        metavar="FILE",
        help="for a server on another machine: the certificate (PEM) to trust for its TLS (its "
        "--tls-cert, or its authority's; default with a token: the system's authorities)",
    )


def access_settings(token_file: Path | None, tls_ca: Path | None) -> dict[str, str]:
    """The plug-in's settings for a server on another machine: the files' absolute paths,
    read once here (InstallError, in one line, for one that cannot be read) so that a typo
    is found now and not at the first job in GIMP."""
    try:
        read_access(token_file, tls_ca)
    except ValueError as exc:
        raise InstallError(str(exc)) from None
    named = {"token_file": token_file, "tls_ca_file": tls_ca}
    return {key: str(path.expanduser().resolve()) for key, path in named.items() if path}


def run_from_args(args: argparse.Namespace) -> int:
    if args.gimp_config_dir:
        installations = [
            GimpInstallation("custom", "", d, ["--gimp-config-dir"]) for d in args.gimp_config_dir
        ]
    else:
        installations = find_installations()
    if args.list or not installations:
        for installation in installations:
            print(f"{installation.title()}, found by {'; '.join(installation.found_by)}")
            if installation.python is not None:
                print(f"  runs Python plug-ins in its own Python: {installation.python}")
            if installation.python_missing:
                print("  has no Python of its own: it cannot run Python plug-ins")
        for folder in older_gimps():
            print(f"GIMP {folder.name} ({folder}): GIMP 2 has no Python 3 plug-ins; skipped")
        if not installations:
            print(
                "nst-server install-gimp-plugin: error: no GIMP 3 found (no GIMP/3.x config "
                "folder and no gimp-3.x program). Install GIMP 3 and start it once, or name its "
                "folder with --gimp-config-dir DIR",
                file=sys.stderr,
            )
            return 1
        return 0
    try:
        access = access_settings(args.token_file, args.tls_ca)
    except InstallError as exc:
        print(f"nst-server install-gimp-plugin: error: {exc}", file=sys.stderr)
        return 1
    done, problems = install_everywhere(installations, address=args.address, access=access)
    for folder in older_gimps():
        print(f"GIMP {folder.name} ({folder}): GIMP 2 has no Python 3 plug-ins; skipped")
    if done:
        print(
            f"Installed into {len(done)} GIMP installation(s). Restart GIMP, then use "
            "Filters > Neural Style..."
        )
    for problem in problems:
        print(f"nst-server install-gimp-plugin: error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nst-server install-gimp-plugin",
        description="Install the Neural Style plug-in into every GIMP 3 of this user.",
    )
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
