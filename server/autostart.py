"""`nst-server install-service`: a systemd user unit that starts the server at login.

It matters most for GIMP from Flathub: the Flatpak's sandbox cannot start programs on the
host, so the plug-in cannot start the server itself there. It is Linux's alone: on Windows and
macOS GIMP is not sandboxed and the plug-in starts the server when it is not running, so there
it says so and writes nothing. The unit runs the same `serve`
as `nst-server start` does, with the same pid file, so `nst-server status` and `stop` see
it, and with the style library spelled out, so the service and the command line serve the
same models.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import platformdirs

from .daemon import default_address, pid_path, server_command
from .library import default_folder

UNIT_NAME = "nst-server.service"


def default_unit_dir() -> Path:
    """systemd's folder of a user's own units: $XDG_CONFIG_HOME/systemd/user."""
    return Path(platformdirs.user_config_dir()) / "systemd" / "user"


def _quoted(argument: str) -> str:
    """One ExecStart word: systemd splits on spaces and reads C-style quotes and escapes."""
    if argument and not any(c in argument for c in " \"'\\$%;\t\n"):
        return argument
    escaped = argument.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
    return '"' + escaped.replace("%", "%%") + '"'


def unit_text(command: list[str], serve_arguments: list[str]) -> str:
    """The unit file: `command serve ...`, restarted if it fails, stopped with SIGTERM (the
    server then cancels its jobs and removes its pid file)."""
    exec_start = " ".join(_quoted(word) for word in [*command, "serve", *serve_arguments])
    return (
        "[Unit]\n"
        "Description=Neural Style server (nst-server) for GIMP and the nst command\n"
        "After=default.target\n\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={exec_start}\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "KillSignal=SIGTERM\n"
        "TimeoutStopSec=40\n\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", default=default_address())
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    p.add_argument(
        "--models",
        type=Path,
        default=default_folder(),
        metavar="DIR",
        help="the style library the service serves (default $NST_MODELS or %(default)s)",
    )
    p.add_argument("--unit-dir", type=Path, default=default_unit_dir())


def run(args: argparse.Namespace) -> int:
    if sys.platform != "linux":
        print(
            "nst-server install-service: error: it writes a systemd user unit, which this "
            f"system ({sys.platform}) does not have; the GIMP plug-in starts the server itself "
            "here, or start it with `nst-server start`",
            file=sys.stderr,
        )
        return 2
    arguments = [
        "--address", args.address,
        "--device", args.device,
        "--models", str(Path(args.models).expanduser().resolve()),
        "--pid-file", str(pid_path()),
        "--log-file-note", "journalctl --user -u nst-server",
    ]  # fmt: skip
    unit = args.unit_dir / UNIT_NAME
    try:
        unit.parent.mkdir(parents=True, exist_ok=True)
        unit.write_text(unit_text(server_command(), arguments))
    except OSError as exc:
        print(f"nst-server install-service: error: cannot write {unit}: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {unit}\n"
        "start it now and at every login with: systemctl --user daemon-reload && "
        "systemctl --user enable --now nst-server"
    )
    return 0
