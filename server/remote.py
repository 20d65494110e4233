"""Running a prepared job on a server: what `nst stylize --server ADDRESS` calls.

    from nst_engine.prepared import prepare_job
    from nst_server.remote import stylize_remote
    image, stats = stylize_remote(address, prepare_job(content, style_paths, mask, options))
    image, stats = stylize_remote(address, prepare_job(content, [], mask, options, "starry"))

It takes what the local path takes (a nst_engine.prepared.PreparedJob: styles read once, their
file bytes sent as read; a callback of nst_engine.Progress), returns what it returns, and
raises the engine's errors (InputError, NSTError, Cancelled), so the CLI handles both paths
alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from nst_proto.client import StyleClient
from nst_proto.job import (
    OPTION_FIELDS,
    SAMPLE_DTYPES,
    ClientError,
    JobCancelled,
    JobEvent,
    JobFailed,
    JobRequest,
)

from nst_engine.arrays import from_float
from nst_engine.errors import Cancelled, InputError, NSTError
from nst_engine.options import Progress, StyleOptions
from nst_engine.prepared import PreparedJob

from .daemon import client_address
from .wire import SAMPLE_OF_DTYPE

# The StyleOptions fields the contract carries, by name (device, extractor and max_pixels
# are the server's own); read from both, so a new option needs no edit here.
_WIRE_OPTIONS = tuple(f.name for f in dataclasses.fields(StyleOptions) if f.name in OPTION_FIELDS)
# The engine Progress fields a JobEvent has under the same name; `done` is its fraction.
_PROGRESS_COPIED = tuple(
    f.name
    for f in dataclasses.fields(Progress)
    if f.init and f.name in {g.name for g in dataclasses.fields(JobEvent)}
)


def options_dict(options: StyleOptions) -> dict:
    """The StyleOptions fields the wire carries, as JobRequest.options takes them."""
    return {name: getattr(options, name) for name in _WIRE_OPTIONS}


def _progress(event: JobEvent) -> Progress:
    """A progress event as the engine's Progress."""
    return Progress(
        **{name: getattr(event, name) for name in _PROGRESS_COPIED}, done=event.fraction
    )


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def stylize_remote(
    address: str,
    job: PreparedJob,
    progress: Callable[[Progress], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    *,
    timeout: float | None = None,
    token: str | None = None,
    root_certificates: bytes | None = None,
) -> tuple[np.ndarray, dict]:
    """Run the job on the server at `address` (empty: the running daemon's, see
    daemon.client_address); return (image, stats) like the local engine.

    A job.model names a trained style network in the server's style library (then of the
    options only size and preserve_color apply)."""
    content = job.content
    height, width, channels = content.shape
    weights = [] if job.model else list(job.options.style_weights or [1.0] * len(job.styles))

    def on_event(event: JobEvent) -> None:
        if progress is not None and event.kind == "progress":
            progress(_progress(event))

    address = address or client_address()
    try:
        with StyleClient(
            address, timeout, token=token, root_certificates=root_certificates
        ) as client:
            request = JobRequest(
                content.astype(content.dtype.newbyteorder("<"), copy=False).tobytes(),
                width,
                height,
                channels,
                SAMPLE_OF_DTYPE[content.dtype.name],
                styles=[
                    (s.painting or s.data, w) for s, w in zip(job.styles, weights, strict=True)
                ],
                mask=None if job.mask is None else from_float(job.mask, np.uint8).tobytes(),
                options=options_dict(job.options),
                style_names=[s.name for s in job.styles],
                model=job.model,
            )
            result = client.stylize(request, on_event=on_event, cancel=cancel)
    except JobCancelled as exc:
        raise Cancelled(str(exc)) from None
    except JobFailed as exc:
        if exc.code == "INVALID_ARGUMENT":
            raise InputError(f"the server refused the job: {exc.message}") from None
        raise NSTError(f"the server failed the job ({exc.code}): {exc.message}") from None
    except ClientError as exc:  # nothing answers, or it went away during the job
        raise NSTError(str(exc)) from None
    except ValueError as exc:
        raise InputError(str(exc)) from None
    image = np.frombuffer(result.pixels, dtype=SAMPLE_DTYPES[result.sample_type])
    image = image.reshape(result.height, result.width, result.channels)
    image = image.astype(image.dtype.newbyteorder("="))  # a writable, native copy
    stats = {k: _number(v) for k, v in result.stats.items()}
    return image, stats
