"""nst-server: the local gRPC server that runs neural style jobs for the GIMP plug-in and
`nst stylize --server` (contract: nst_proto, nst/v1/style.proto).

Subcommands: serve (foreground), start (daemon), status, stop, install-service; see
`nst-server --help` and nst_server.cli.
"""

__version__ = "0.1.0"
