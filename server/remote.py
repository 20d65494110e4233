"""Running an engine-style job on a server: what `nst stylize --server ADDRESS` calls.

    from nst_server.remote import stylize_remote
    image, stats = stylize_remote(address, content, style_paths, mask, options, progress)
    image, stats = stylize_remote(address, content, [], mask, options, model="starry")

It takes and returns what the local path does (arrays, nst_engine.StyleOptions, a callback of
nst_engine.Progress) and raises the engine's errors (InputError, NSTError, Cancelled), so the
CLI handles both paths alike.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from nst_proto.client import StyleClient
from nst_proto.job import (
    SAMPLE_DTYPES,
    ClientError,
    JobCancelled,
    JobEvent,
    JobFailed,
    JobRequest,
)

from nst_engine import gallery
from nst_engine.arrays import from_float, mask_array, split_channels
from nst_engine.errors import Cancelled, InputError, NSTError
from nst_engine.options import Progress, StyleOptions

from .daemon import client_address

SAMPLE_OF_DTYPE = {np.dtype(code).name: name for name, code in SAMPLE_DTYPES.items()}


def _style_bytes(style: str | os.PathLike | bytes | np.ndarray) -> tuple[bytes | str, str]:
    """(what the wire carries, a name for logs): files travel as they are, arrays as 8-bit
    PNG, and a gallery painting as its name (JobRequest.styles)."""
    if isinstance(style, bytes | bytearray):
        return bytes(style), "style"
    if isinstance(style, np.ndarray):
        from PIL import Image

        rgb, _ = split_channels(style)
        buffer = io.BytesIO()
        Image.fromarray(from_float(rgb, np.uint8)).save(buffer, format="PNG")
        return buffer.getvalue(), "array"
    painting = gallery.resolve(style)
    if painting is not None:  # the server has the gallery too: named, not sent
        return painting.name, f"gallery:{painting.name}"
    path = Path(style)
    try:
        return path.read_bytes(), path.name
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def _mask_bytes(mask: np.ndarray | None, height: int, width: int) -> bytes | None:
    """The mask as width*height u8 (0 keeps, 255 styles fully)."""
    if mask is None:
        return None
    return from_float(mask_array(mask, height, width), np.uint8).tobytes()


def options_dict(options: StyleOptions) -> dict:
    """The StyleOptions fields the wire carries (device, extractor and max_pixels are the
    server's own)."""
    return {
        "method": options.method,
        "strength": options.strength,
        "size": options.size,
        "quality": options.quality,
        "preserve_color": options.preserve_color,
        "seed": options.seed,
        "iterations": options.iterations,
        "pooling": options.pooling,
        "style_scale": options.style_scale,
        "full_resolution": options.full_resolution,
    }


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def stylize_remote(
    address: str,
    content: np.ndarray,
    styles: Sequence[str | os.PathLike | bytes | np.ndarray],
    mask: np.ndarray | None,
    options: StyleOptions,
    progress: Callable[[Progress], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    *,
    timeout: float | None = None,
    token: str | None = None,
    root_certificates: bytes | None = None,
    model: str = "",
) -> tuple[np.ndarray, dict]:
    """Run one job on the server at `address` (empty: the running daemon's, see
    daemon.client_address); return (image, stats) like the local engine.

    `model` names a trained style network in the server's style library (then `styles` is
    empty and of the options only size and preserve_color apply).
    """
    content = np.ascontiguousarray(content)
    if content.ndim == 2:
        content = content[:, :, None]
    sample_type = SAMPLE_OF_DTYPE.get(content.dtype.name)
    if sample_type is None:
        raise InputError(f"sample type {content.dtype} is not supported (u8, u16 or float32)")
    height, width, channels = content.shape
    encoded = [_style_bytes(s) for s in styles]
    weights = [] if model else list(options.style_weights or [1.0] * len(encoded))
    if len(weights) != len(encoded):
        raise InputError(f"{len(encoded)} style images but {len(weights)} weights")

    def on_event(event: JobEvent) -> None:
        if progress is not None and event.kind == "progress":
            progress(
                Progress(
                    level=event.level,
                    levels=event.levels,
                    iteration=event.iteration,
                    iterations=event.iterations,
                    losses=event.losses,
                    elapsed=event.elapsed,
                    step=event.step,
                    total_steps=event.total_steps,
                    done=event.fraction,
                )
            )

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
                sample_type,
                styles=[(data, w) for (data, _), w in zip(encoded, weights, strict=True)],
                mask=_mask_bytes(mask, height, width),
                options=options_dict(options),
                style_names=[name for _, name in encoded],
                model=model,
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
