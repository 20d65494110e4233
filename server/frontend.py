"""The `nst` command: the engine's command line (nst_engine.cli) and `nst stylize --server
[ADDRESS]` (and `nst animate --server [ADDRESS]`), which sends the job to a running nst-server
(nst_server.remote) instead of computing it here. It lives outside the engine so that the
engine imports nothing of gRPC, the contract or the server."""

from __future__ import annotations

import argparse
import sys

from nst_engine import cli as engine_cli


def build_parser() -> argparse.ArgumentParser:
    parser = engine_cli.build_parser()
    for name, run in (("stylize", _stylize), ("animate", _animate)):
        command = parser.commands[name]
        command.add_argument(
            "--server",
            metavar="ADDRESS",
            nargs="?",
            const="",
            help="run the job on a running nst-server (host:port or unix:/path; without "
            "ADDRESS, the one `nst-server start` started)",
        )
        command.set_defaults(run=run)
    return parser


def _stylize(args: argparse.Namespace) -> int:
    if args.server is None:
        return engine_cli.cmd_stylize(args)
    return engine_cli.cmd_stylize(args, remote=_on_server)


def _on_server(args, job, progress):
    from .remote import stylize_remote

    return stylize_remote(args.server, job, progress)


def _animate(args: argparse.Namespace) -> int:
    from nst_engine.animate_command import cmd_animate

    if args.server is None:
        return cmd_animate(args)
    return cmd_animate(args, remote=_frames_on_server)


def _frames_on_server(args, job, frames, temporal, on_frame, progress) -> None:
    from .remote import stylize_frames_remote

    stylize_frames_remote(args.server, job, frames, on_frame, temporal=temporal, progress=progress)


def main(argv: list[str] | None = None) -> int:
    return engine_cli.main(argv, build_parser())


if __name__ == "__main__":
    sys.exit(main())
