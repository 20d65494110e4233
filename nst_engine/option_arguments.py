"""StyleOptions as `nst stylize` arguments: one per field, its default the dataclass's.

A field added to StyleOptions appears on the command line without an edit here, as
`--its-name` with the type of its annotation and the help text of its metadata; the table
below gives the existing ones their own flag, checks and help.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

from .errors import NSTError
from .options import (
    FULL_RESOLUTION,
    POOLINGS,
    QUALITY_PRESETS,
    STYLE_SCALES,
    WORK_SIDES,
    StyleOptions,
    check_strength,
)

# What `nst animate` and `nst batch` leave when interrupted: each finished output is written
# as it is done, and the same command goes on from there.
RESUMABLE = "what was finished is written; run the same command again to go on"


def strength(text: str) -> float:
    try:
        value = float(text)
        check_strength(value)
    except ValueError as exc:  # InputError is a ValueError too
        raise argparse.ArgumentTypeError(
            str(exc) if isinstance(exc, NSTError) else f"strength must be a number, got {text!r}"
        ) from None
    return value


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


# How a StyleOptions field appears on `nst stylize`, beyond what its annotation gives (a
# type, choices of a Literal, a switch for a bool): the flag and add_argument's keywords.
# Its default is always the dataclass's. A field not listed is `--its-name`, with the help
# text of its metadata; None keeps a field off the command line.
_WORK_SIDES = ", ".join(f"{quality} {side}" for quality, side in WORK_SIDES.items())
_STYLIZE_OPTIONS: dict[str, dict[str, Any] | None] = {
    "size": dict(
        flag="--work-size",
        type=positive,
        metavar="PIXELS",
        help=f"long side the optimisation runs at (default by quality: {_WORK_SIDES}); the "
        "output keeps its full size either way",
    ),
    "style_scale": dict(
        metavar="S",
        help="stroke size: the style matched at S times the output's size; 0.5 paints strokes "
        "half as large, 2 twice as large (default %(default)s, from "
        f"{STYLE_SCALES[0]} to {STYLE_SCALES[1]})",
    ),
    "full_resolution": dict(
        choices=FULL_RESOLUTION,
        help="how the full-size output is made from the working size: detail (the "
        "photograph's finer detail put back), refine (then a few iterations at full size, in "
        "tiles), auto (refine at --quality high, else detail)",
    ),
    "strength": dict(
        type=strength,
        help="0 keeps the content, 1 lets the style take over (default %(default)s)",
    ),
    "quality": dict(choices=QUALITY_PRESETS),
    "preserve_color": dict(help="keep the content's colours, take the style's texture"),
    "style_weights": dict(metavar="W", help="blend weights, one per style image"),
    "device": dict(help="auto, cpu, cuda, cuda:N or mps (default %(default)s)"),
    "iterations": dict(type=positive, help="total iterations (default: preset)"),
    "extractor": dict(
        help="vgg19 (embedded, offline), vgg19-torchvision, resnet50, or a .pth file"
    ),
    "pooling": dict(choices=POOLINGS),
    "max_pixels": dict(
        type=positive,
        help="the largest image read, width x height of the file as given (before --size); "
        "checked in its header before anything is decoded (default %(default)s)",
    ),
    "dynamic_weighting": None,  # for comparisons in code (bench), not a user's choice
}


def _annotation_keywords(annotation: Any) -> dict[str, Any]:
    """add_argument's keywords for a field of this type: float, int, str, bool (a switch),
    a Literal (its choices), a tuple (one or more values), or one of them or None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return {"choices": typing.get_args(annotation)}
    if typing.get_origin(annotation) is tuple:
        return {"type": typing.get_args(annotation)[0], "nargs": "+"}
    if annotation is bool:
        return {"action": argparse.BooleanOptionalAction}
    return {"type": annotation}


def add_size_and_mask(p: argparse.ArgumentParser, output: str, source: str) -> None:
    """--size (dest output_size: the long side of `output`, default `source`'s own) and
    --mask (a greyscale image of `source`'s size), as stylize and animate both take them."""
    p.add_argument(
        "--size",
        dest="output_size",
        metavar="SIZE",
        type=positive,
        help=f"long side of {output} in pixels (default: {source}'s own size)",
    )
    p.add_argument(
        "--mask",
        type=Path,
        help=f"greyscale image, the size of {source}: white is styled, black is kept exactly",
    )


def add_style_options(p: argparse.ArgumentParser) -> None:
    """One argument per StyleOptions field (dest: the field's name), default from the class."""
    hints = typing.get_type_hints(StyleOptions)
    for f in dataclasses.fields(StyleOptions):
        spec = _STYLIZE_OPTIONS.get(f.name, {"help": f.metadata.get("help")})
        if spec is None:
            continue
        keywords = _annotation_keywords(hints[f.name]) | spec
        flag = keywords.pop("flag", "--" + f.name.replace("_", "-"))
        if keywords.get("action") is argparse.BooleanOptionalAction and not f.default:
            keywords["action"] = "store_true"  # off by default: the switch turns it on
        p.add_argument(flag, dest=f.name, default=f.default, **keywords)


def style_options(args: argparse.Namespace) -> StyleOptions:
    """The StyleOptions the arguments give (lists become the dataclass's tuples)."""
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(StyleOptions)
        if hasattr(args, f.name)
    }
    return StyleOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
