"""The errors both clients raise, and how a call's gRPC status becomes one of them.

Only the standard library here: the GIMP plug-in's vendored copy imports it too."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from . import DEFAULT_ADDRESS, START_COMMAND

T = TypeVar("T")


class ClientError(Exception):
    """Base of every error a client raises; str() is a message a person can act on."""


class ServerUnavailable(ClientError):
    """No server answers at the address."""


class ServerLost(ClientError):
    """The server answered, then the connection ended before the job did (it crashed or was
    stopped): unlike ServerUnavailable, starting it and sending the job again is a new job."""


class JobFailed(ClientError):
    """The server refused or failed the job. `code` is the gRPC status name
    ("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", ...)."""

    def __init__(self, message: str, code: str = "UNKNOWN") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class JobCancelled(ClientError):
    """The job was cancelled (by the cancel callback, or on the server)."""


def retried_once_if_lost(attempt: Callable[[], T]) -> T:
    """attempt(), and once more if the server was lost during it (ServerLost): on a cluster
    another replica, or the one Ray brought back, runs the job. Nothing else is retried. If
    the second try finds no server at all, the first loss is what the caller hears."""
    try:
        return attempt()
    except ServerLost as first:
        try:
            return attempt()
        except ServerUnavailable:
            raise first from None


# What Ray Serve's proxy says (status INTERNAL) when the replica running a call died.
RAY_REPLICA_DIED = "The actor died unexpectedly"


def unavailable(address: str, detail: str = "") -> ServerUnavailable:
    """ "Nothing answers at `address`", with the command that starts a server there."""
    start = START_COMMAND if address == DEFAULT_ADDRESS else f"{START_COMMAND} --address {address}"
    detail = f" ({detail})" if detail else ""
    return ServerUnavailable(
        f"no Neural Style server answers at {address}{detail}; start it with: {start}"
    )


def lost(address: str, detail: str = "") -> ServerLost:
    """ "It answered, then went away", with where to look."""
    detail = f" ({detail})" if detail else ""
    return ServerLost(
        f"the Neural Style server at {address} stopped answering during the job{detail}: it "
        "crashed or was stopped; see `nst-server status` and the server's log, then send the "
        "job again"
    )


def error_for_status(
    code: str,
    details: str,
    address: str,
    timeout: float | None = None,
    *,
    answered: bool = False,
) -> ClientError:
    """The error for a call that ended with gRPC status `code` (its name) and `details`;
    `answered`: the server had sent something on this call before."""
    if code == "UNAVAILABLE":
        return lost(address, details) if answered else unavailable(address, details)
    if code == "INTERNAL" and RAY_REPLICA_DIED in details:
        return lost(address, "the cluster's replica running it died")
    if code == "CANCELLED" and "RST_STREAM" in details:  # a proxy whose server went away
        return lost(address, details)
    if code == "CANCELLED":
        return JobCancelled(f"the job was cancelled ({details})")
    if code == "DEADLINE_EXCEEDED":
        return JobFailed(
            f"the job did not finish within the {timeout} s deadline; it was cancelled on the "
            "server (try a smaller size or the draft quality)",
            code,
        )
    if code == "UNAUTHENTICATED":
        return JobFailed(f"the server refused the access token: {details}", code)
    return JobFailed(details, code)
