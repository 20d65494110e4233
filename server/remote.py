"""Running a prepared job on a server: what `nst stylize --server ADDRESS` calls (and
`nst animate --server ADDRESS`, stylize_frames_remote: the frames in one job).

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

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from nst_proto.access import Access
from nst_proto.client import StyleClient
from nst_proto.job import (
    OPTION_FIELDS,
    SAMPLE_DTYPES,
    ClientError,
    JobCancelled,
    JobEvent,
    JobFailed,
    JobRequest,
    JobResult,
)

from nst_engine.arrays import from_float
from nst_engine.errors import Cancelled, InputError, NSTError
from nst_engine.options import Progress, StyleOptions
from nst_engine.prepared import PreparedJob

from .daemon import client_address
from .wire import SAMPLE_OF_DTYPE

NO_ACCESS = Access()  # a server on this machine: no token, no TLS

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
    access: Access = NO_ACCESS,
) -> tuple[np.ndarray, dict]:
    """Run the job on the server at `address` (empty: the running daemon's, see
    daemon.client_address); return (image, stats) like the local engine.

    A job.model names a trained style network in the server's style library (then of the
    options only size and preserve_color apply); `access`: a token and TLS for a server on
    another machine (nst_proto.access)."""

    def on_event(event: JobEvent) -> None:
        if progress is not None and event.kind == "progress":
            progress(_progress(event))

    with _engine_errors():
        with StyleClient(
            address or client_address(), timeout, **access.client_arguments()
        ) as client:
            result = client.stylize(_request(job, [job.content]), on_event=on_event, cancel=cancel)
    return _image(result), {k: _number(v) for k, v in result.stats.items()}


def stylize_frames_remote(
    address: str,
    job: PreparedJob,
    frames: Sequence[np.ndarray],
    on_frame: Callable[[int, np.ndarray], None],
    *,
    temporal: bool = True,
    progress: Callable[[int, Progress], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    timeout: float | None = None,
    access: Access = NO_ACCESS,
) -> None:
    """Style `frames` (the job's content is the first) on the server at `address` as one
    job, as nst_engine.sequence.stylize_sequence does here: on_frame(index, image) as each
    frame comes back, in order; progress(index, Progress) with the frame's own share done.
    Raises what stylize_remote raises."""

    def on_event(event: JobEvent) -> None:
        if progress is not None and event.kind == "progress":
            levels, iterations = max(event.levels, 1), max(event.iterations, 1)
            own = (event.level + (event.iteration + 1) / iterations) / levels
            progress(event.frame, dataclasses.replace(_progress(event), done=min(own, 1.0)))

    request = _request(job, frames, independent=not temporal)
    with _engine_errors():
        with StyleClient(
            address or client_address(), timeout, **access.client_arguments()
        ) as client:
            client.stylize_frames(
                request, lambda i, r: on_frame(i, _image(r)), on_event=on_event, cancel=cancel
            )


def _request(
    job: PreparedJob, frames: Sequence[np.ndarray], independent: bool = False
) -> JobRequest:
    """The job's JobRequest, its content the frames back to back (InputError when they do
    not share one layout)."""
    content = frames[0]
    if any(f.shape != content.shape or f.dtype != content.dtype for f in frames):
        raise InputError(
            "the frames differ in channels or sample type; every frame of an animation needs "
            "the first one's"
        )
    height, width, channels = content.shape
    weights = [] if job.model else list(job.options.style_weights or [1.0] * len(job.styles))
    little = content.dtype.newbyteorder("<")
    return JobRequest(
        b"".join(f.astype(little, copy=False).tobytes() for f in frames),
        width,
        height,
        channels,
        SAMPLE_OF_DTYPE[content.dtype.name],
        styles=[(s.painting or s.data, w) for s, w in zip(job.styles, weights, strict=True)],
        mask=None if job.mask is None else from_float(job.mask, np.uint8).tobytes(),
        options=options_dict(job.options),
        style_names=[s.name for s in job.styles],
        model=job.model,
        frames=len(frames),
        independent=independent and len(frames) > 1,
    )


@contextlib.contextmanager
def _engine_errors() -> Iterator[None]:
    """The client's errors as the engine's, so the CLI handles both paths alike."""
    try:
        yield
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


def _image(result: JobResult) -> np.ndarray:
    """A result's pixels as a writable array of native byte order."""
    image = np.frombuffer(result.pixels, dtype=SAMPLE_DTYPES[result.sample_type])
    image = image.reshape(result.height, result.width, result.channels)
    return image.astype(image.dtype.newbyteorder("="))
