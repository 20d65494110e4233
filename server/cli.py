"""The `nst-server` command.

    nst-server serve   [--address 127.0.0.1:50051 | unix:/path] [options]   foreground
    nst-server start   [same options] [--timeout S]   background daemon; returns once healthy
    nst-server status                                 0 running, 1 not answering, 3 not running
    nst-server stop    [--timeout S]                  graceful: jobs cancelled, files removed
    nst-server install-service                        start it at every login (systemd user unit)
    nst-server install-gimp-plugin                    (nst_server.gimp_install)

Subcommands are registered in COMMANDS: name -> (help, add_arguments, run). A module adds
one with `register(name, help, add_arguments, run)`; run(args) returns the exit status.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
from collections.abc import Callable
from pathlib import Path

from nst_proto import DEFAULT_ADDRESS

from nst_engine.options import DEFAULT_MAX_PIXELS

from . import __version__, autostart
from .daemon import default_address
from .library import default_folder

LOG_BYTES = 1 << 20
COMMANDS: dict[
    str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
] = {}


def register(
    name: str,
    help: str,  # noqa: A002 - argparse's word
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
) -> None:
    COMMANDS[name] = (help, add_arguments, run)


def _server_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--address",
        default=default_address(),
        help="HOST:PORT or unix:/path (default $NST_SERVER_ADDRESS or %(default)s); a "
        "non-loopback address needs --tls-cert, --tls-key and a token",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    p.add_argument("--max-queue", type=int, default=4, help="jobs that may wait (default 4)")
    p.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help="the largest image taken, width x height: the content, and each style file as "
        "given (checked in its header before it is decoded); default %(default)s",
    )
    p.add_argument("--tls-cert", type=Path, help="PEM certificate chain (enables TLS)")
    p.add_argument("--tls-key", type=Path, help="PEM private key")
    p.add_argument(
        "--token-file",
        type=Path,
        help="file holding the access token every call must carry (or $NST_SERVER_TOKEN)",
    )
    p.add_argument(
        "--models",
        type=Path,
        default=default_folder(),
        metavar="DIR",
        help="the style library: trained fast-mode networks (*.nstmodel) offered to clients "
        "(default $NST_MODELS or %(default)s; created if missing)",
    )
    p.add_argument("--no-warm-up", action="store_true", help="do not load the model at start")
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="serve on a Ray cluster through Ray Serve's gRPC proxy on --address's port: the "
        "cluster's address (ray://HOST:10001 or HOST:6379), or auto for a new local Ray "
        "instance (docs/cluster.md; needs the cluster extra)",
    )
    p.add_argument(
        "--replicas",
        type=int,
        help="with --cluster: how many replicas (default: one per GPU of the cluster, else 1 "
        "on CPUs)",
    )
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


def _forwarded(args: argparse.Namespace) -> list[str]:
    """The serve options of a `start` command, for the daemon's command line."""
    out = [
        "--device", args.device,
        "--max-queue", str(args.max_queue),
        "--max-pixels", str(args.max_pixels),
        "--log-level", args.log_level,
        "--models", str(Path(args.models).expanduser().resolve()),
    ]  # fmt: skip
    for flag, value in (
        ("--tls-cert", args.tls_cert),
        ("--tls-key", args.tls_key),
        ("--token-file", args.token_file),
    ):
        if value is not None:
            out += [flag, str(Path(value).resolve())]
    if args.no_warm_up:
        out.append("--no-warm-up")
    if args.cluster:
        out += ["--cluster", args.cluster]
        out += ["--replicas", str(args.replicas)] if args.replicas else []
    return out


def _security(args: argparse.Namespace):
    from nst_proto.access import read_token

    from .app import ConfigError, Security

    token = os.environ.get("NST_SERVER_TOKEN") or None
    if args.token_file is not None:
        try:
            token = read_token(args.token_file)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ConfigError("TLS needs both --tls-cert and --tls-key")
    return Security(args.tls_cert, args.tls_key, token)


def setup_logging(level: str, log_file: Path | None, max_bytes: int = LOG_BYTES) -> None:
    """The server's log: stderr, or `log_file` rotated at `max_bytes` with three older files
    kept (server.log.1 ... .3), so a server that runs for months, or one flooded with refused
    requests, keeps at most four times `max_bytes` of log."""
    handler = (
        logging.handlers.RotatingFileHandler(
            log_file, maxBytes=max_bytes, backupCount=3, encoding="utf-8"
        )
        if log_file is not None
        else logging.StreamHandler(sys.stderr)
    )
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(message)s",
        handlers=[handler],
        force=True,
    )


def run_serve(args: argparse.Namespace) -> int:
    from .app import ConfigError, StyleServer, serve_forever
    from .daemon import remove_pid_file, state_dir, write_pid_file
    from .jobs import Limits

    setup_logging(args.log_level, args.log_file)
    if args.cluster:
        return run_cluster(args)
    try:
        server = StyleServer(
            args.address,
            device=args.device,
            limits=Limits(max_queue=max(0, args.max_queue), max_pixels=args.max_pixels),
            security=_security(args),
            warm=not args.no_warm_up,
            models=args.models,
            speed_file=state_dir() / "speed.json",
        )
    except ConfigError as exc:
        print(f"nst-server: error: {exc}", file=sys.stderr)
        return 2

    def ready() -> None:
        print(f"nst-server: serving on {server.address}", file=sys.stderr, flush=True)
        if args.pid_file is not None:
            note = args.log_file_note or (str(args.log_file) if args.log_file else None)
            write_pid_file(args.pid_file, server.address, note)

    try:
        serve_forever(server, ready)
    finally:
        if args.pid_file is not None:
            remove_pid_file(args.pid_file)
    return 0


def run_cluster(args: argparse.Namespace) -> int:
    """`serve --cluster`: the service on a Ray cluster (nst_server.cluster), with the same
    pid file, which also records the cluster."""
    from .app import ConfigError
    from .cluster import serve_cluster
    from .daemon import remove_pid_file, write_pid_file

    def ready(record: dict) -> None:
        print(f"nst-server: serving on {args.address} (Ray cluster)", file=sys.stderr, flush=True)
        if args.pid_file is not None:
            note = args.log_file_note or (str(args.log_file) if args.log_file else None)
            write_pid_file(args.pid_file, args.address, note, **record)

    try:
        return serve_cluster(args, _security(args), ready)
    except ConfigError as exc:
        print(f"nst-server: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.pid_file is not None:
            remove_pid_file(args.pid_file)


def _serve_arguments(p: argparse.ArgumentParser) -> None:
    _server_arguments(p)
    p.add_argument("--pid-file", type=Path, help="write pid and address here once ready")
    p.add_argument(
        "--log-file",
        type=Path,
        help=f"log here instead of to stderr, rotated at {LOG_BYTES >> 20} MiB (3 old files kept)",
    )
    p.add_argument("--log-file-note", help=argparse.SUPPRESS)


def _start_arguments(p: argparse.ArgumentParser) -> None:
    _server_arguments(p)
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for it (default 120)"
    )


def run_start(args: argparse.Namespace) -> int:
    from .app import ConfigError, check_bind
    from .daemon import start

    try:
        security = _security(args)
        if args.cluster:
            from .cluster import check_security

            check_security(args.address, security)
        else:
            check_bind(args.address, security)  # refuse here too, before anything is spawned
    except ConfigError as exc:
        print(f"nst-server: error: {exc}", file=sys.stderr)
        return 2
    return start(args.address, _forwarded(args), args.timeout, secure=security.tls)


def run_status(args: argparse.Namespace) -> int:
    from .daemon import status

    return status()


def _stop_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=float, default=30.0, help="seconds before it is killed")


def run_stop(args: argparse.Namespace) -> int:
    from .daemon import stop

    return stop(args.timeout)


def _models_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--address",
        help="the server to ask (default: the one `nst-server start` started, else "
        f"$NST_SERVER_ADDRESS or {DEFAULT_ADDRESS})",
    )


def run_models(args: argparse.Namespace) -> int:
    """List the style models a running server offers (what `--model NAME` can name)."""
    from nst_proto.client import ClientError, StyleClient

    from .daemon import client_address

    try:
        with StyleClient(args.address or client_address(), 60) as client:
            models, folder = client.list_models(), client.info().model_folder
    except ClientError as exc:
        print(f"nst-server: error: {exc}", file=sys.stderr)
        return 1
    print(f"style library {folder or '(none)'}: {len(models)} model(s)")
    for m in models:
        print(f"  {m.id:24} {m.name} (trained at {m.training_size} px, {m.steps} steps)")
    return 0


register("serve", "run the server in the foreground", _serve_arguments, run_serve)
register("start", "start the server as a background daemon", _start_arguments, run_start)
register("status", "is the daemon running, and where", lambda p: None, run_status)
register("stop", "stop the daemon gracefully", _stop_arguments, run_stop)
register("models", "list the style models a running server offers", _models_arguments, run_models)
register(
    "install-service",
    "start the server at every login (a systemd user unit)",
    autostart.add_arguments,
    autostart.run,
)


def _register_optional() -> None:
    """Subcommands from modules that may not be there (the GIMP installer)."""
    try:
        from . import gimp_install
    except ImportError:
        return
    if hasattr(gimp_install, "add_arguments") and hasattr(gimp_install, "run_from_args"):
        register(
            "install-gimp-plugin",
            "install the Neural Style plug-in into GIMP 3",
            gimp_install.add_arguments,
            gimp_install.run_from_args,
        )


def build_parser() -> argparse.ArgumentParser:
    _register_optional()
    parser = argparse.ArgumentParser(
        prog="nst-server", description="The Neural Style server (gRPC, nst.v1)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "replicas", None) is not None and not args.cluster:
        parser.error("--replicas needs --cluster (the replicas are a Ray cluster's)")
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
