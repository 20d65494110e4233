"""A stylize job read and checked once, whether it runs here or on a server.

`nst stylize` reads the content, the mask and each style (a file, or a painting of the
gallery by name) once, and checks them and the options the same way for both paths: the
local path paints with the decoded images, `--server` (nst_server.remote) sends each style's
file bytes as they were read, or a gallery painting by its name (the server has the gallery).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import gallery
from .arrays import as_array, mask_array, resized
from .errors import InputError
from .images import load_image, read_file
from .options import DEFAULT_MAX_PIXELS, CancelCheck, Progress, StyleOptions, StyleResult


@dataclass(frozen=True)
class Style:
    """One style as read: its file's bytes (what a server is sent) and its decoded image
    (what the engine paints with)."""

    name: str  # for messages and logs: the file's name, or gallery:NAME
    data: bytes
    image: np.ndarray
    painting: str = ""  # the gallery painting it is, by name: a server is sent only the name


@dataclass(frozen=True)
class PreparedJob:
    """Everything a stylize job needs, checked: run it with run_here or send it to a server.

    `model` names a trained style network instead of styles: a .nstmodel file here, the name
    of one in the server's style library there."""

    content: np.ndarray
    styles: tuple[Style, ...]
    mask: np.ndarray | None
    options: StyleOptions
    model: str = ""


def read_style(style: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> Style:
    """A STYLE argument read once: the file, else the gallery's painting of that name."""
    painting = gallery.resolve(style)
    if painting is not None:
        name = f"gallery:{painting.name}"
        data = painting.read_bytes()
        return Style(name, data, load_image(data, max_pixels, name=name), painting.name)
    path = Path(style)
    if not path.exists():
        raise InputError(
            f"{path}: no such file, and no painting of that name in the gallery "
            "(`nst styles` lists them)"
        )
    data, name = read_file(path, max_pixels)
    return Style(path.name, data, load_image(data, max_pixels, name=name))


def sized_mask(
    path: str | os.PathLike | bytes | None,
    shape: tuple[int, int],
    output_size: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray | None:
    """A --mask file (or its bytes) read and checked against the content's own (height,
    width), then sized as --size sizes the content (None: no mask)."""
    if path is None:
        return None
    mask = mask_array(load_image(path, max_pixels)[:, :, 0], *shape)
    return mask if output_size is None else resized(mask[:, :, None], output_size)[:, :, 0]


def prepare_job(
    content: np.ndarray,
    styles: Sequence[str | os.PathLike],
    mask: np.ndarray | None = None,
    options: StyleOptions | None = None,
    model: str = "",
) -> PreparedJob:
    """The job, checked: the options, the content, the mask against it, and the styles (read
    once, within options.max_pixels) or the model, never both; InputError if anything is
    wrong."""
    options = options or StyleOptions()
    options.validate()
    read = read_styles(styles, options, model)
    content = as_array(content, "the content image")
    mask = mask_array(mask, *content.shape[:2])
    return PreparedJob(content, read, mask, options, model)


def read_styles(
    styles: Sequence[str | os.PathLike], options: StyleOptions, model: str = ""
) -> tuple[Style, ...]:
    """The STYLE arguments read once and checked against the model and the style weights
    (InputError): what every job of a command paints with."""
    if styles and model:
        raise InputError("give one or more STYLE images or --model MODEL, not both")
    if not styles and not model:
        raise InputError("give a STYLE image after the content (or a trained --model MODEL)")
    read = tuple(read_style(style, options.max_pixels) for style in styles)
    weights = options.style_weights
    if not model and weights is not None and len(weights) != len(read):
        raise InputError(f"{len(read)} style images but {len(weights)} weights")
    return read


def run_here(
    job: PreparedJob,
    progress: Callable[[Progress], None] | None = None,
    cancel: CancelCheck | None = None,
) -> StyleResult:
    """Run the job with this process's engine (api.stylize)."""
    # Imported here, as the job runs: the painting modules are not needed to prepare one.
    from .api import stylize
    from .fast import load_model

    model = load_model(Path(job.model)) if job.model else None
    images = [style.image for style in job.styles] or None
    return stylize(
        job.content, images, mask=job.mask, options=job.options, progress=progress,
        cancel=cancel, model=model,
    )  # fmt: skip
