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
        command.add_argument(
            "--token-file",
            metavar="FILE",
            help="with --server: the file holding the server's access token (sent over TLS)",
        )
        command.add_argument(
            "--tls-ca",
            metavar="FILE",
            help="with --server: the certificate (PEM) to trust for the server's TLS: its "
            "--tls-cert, or its authority's (default with a token: the system's authorities)",
        )
        command.set_defaults(run=run)
    return parser


def _access(args: argparse.Namespace):
    """The token and certificate for --server (nst_proto.access), checked before any work."""
    from nst_proto.access import read_access

    from nst_engine.errors import InputError

    if args.server is None and (args.token_file or args.tls_ca):
        raise InputError("--token-file and --tls-ca are for a job sent with --server ADDRESS")
    try:
        return read_access(args.token_file, args.tls_ca)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _stylize(args: argparse.Namespace) -> int:
    args.access = _access(args)
    if args.server is None:
        return engine_cli.cmd_stylize(args)
    return engine_cli.cmd_stylize(args, remote=_on_server)


def _on_server(args, job, progress):
    from .remote import stylize_remote

    return stylize_remote(args.server, job, progress, access=args.access)


def _animate(args: argparse.Namespace) -> int:
    from nst_engine.animate_command import cmd_animate

    args.access = _access(args)
    if args.server is None:
        return cmd_animate(args)
    return cmd_animate(args, remote=_frames_on_server)


def _frames_on_server(args, job, frames, temporal, on_frame, progress) -> None:
    from .remote import stylize_frames_remote

    stylize_frames_remote(
        args.server, job, frames, on_frame, temporal=temporal, progress=progress,
        access=args.access,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return engine_cli.main(argv, build_parser())


if __name__ == "__main__":
    sys.exit(main())
