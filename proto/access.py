"""What a client needs to reach a server on another machine: the access token it sends and the
certificate it trusts (TLS). Read the same way by `nst ... --server` (--token-file,
--tls-ca), by the GIMP plug-in (the "token_file" and "tls_ca_file" of its settings, which
`nst-server install-gimp-plugin --token-file --tls-ca` records) and, for the token, by
nst-server itself (--token-file); both clients take the result as keyword arguments.

`is_loopback` says whether an address is this machine's alone: where nst-server listens without
TLS and a token, and where the plug-in may start a server itself.

A token is only ever sent over TLS (grpcio's rule, kept by the pure client too): a client
given a token or a certificate talks TLS, trusting the given certificate, or the system's
certificate authorities when it is given a token alone.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Access:
    """A client's credentials; none: plain HTTP/2 to a server on this machine."""

    token: str | None = None
    root_certificates: bytes | None = None  # PEM; None with a token: the system's

    def client_arguments(self) -> dict[str, Any]:
        """StyleClient's keyword arguments (grpcio's and the pure client's alike): none for
        a server on this machine."""
        given = {"token": self.token, "root_certificates": self.root_certificates}
        return {name: value for name, value in given.items() if value is not None}


def read_token(path: str | Path) -> str | None:
    """The token in the file at `path`, whitespace around it dropped (None if it is empty);
    ValueError, in one line, for a file that cannot be read."""
    try:
        return Path(path).expanduser().read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the token file {path}: {_why(exc)}") from None


def read_access(token_file: str | Path | None, ca_file: str | Path | None) -> Access:
    """The Access the two files give (either may be None); ValueError, in one line, for a file
    that cannot be read or a certificate file that holds no PEM certificate."""
    token = read_token(token_file) if token_file else None
    roots = None
    if ca_file:
        try:
            roots = Path(ca_file).expanduser().read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read the certificate file {ca_file}: {_why(exc)}") from None
        if b"-----BEGIN CERTIFICATE-----" not in roots:
            raise ValueError(
                f"{ca_file} holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the "
                "server's certificate (the --tls-cert of nst-server) or its authority's"
            )
    return Access(token, roots)


def is_loopback(address: str) -> bool:
    """True for unix sockets and addresses that only this machine can reach (a host name
    counts when every address it resolves to is a loopback one); ValueError for an address
    that is not HOST:PORT or unix:/path."""
    if address.startswith(("unix:", "unix-abstract:")):
        return True
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"address {address!r} is not HOST:PORT or unix:/path")
    host = host.strip("[]")
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, int(port), proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def _why(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)
