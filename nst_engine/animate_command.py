"""`nst animate INPUT STYLE [STYLE ...] -o OUTPUT`: the frames of a folder or an animated
file styled as one moving painting (nst_engine.sequence), with stylize's options.

Everything is read and checked before the first frame is painted; each finished frame is
written at once, so running the same command again resumes after the last frame written.
With `--server` (nst_server.frontend) the frames are painted by a server in one job and
written here the same way; a resumed run sends the frames left, the first of them painted
afresh (the server is not sent the frame before it).
With `--cluster ADDRESS` the sequence is styled as shots on a Ray cluster's workers at once
(nst_engine.shots, nst_engine.batch_cluster); a rerun does the shots not fully written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from .batch_command import add_cluster_arguments, cluster_for
from .errors import InputError
from .frames import FrameFolder, is_animated_file, partial_folder, read_animation, write_animated
from .option_arguments import (
    RESUMABLE,
    add_size_and_mask,
    add_style_options,
    positive,
    style_options,
)
from .options import Progress
from .shots import OVERLAP, SHOT_LENGTH, check_shots

if TYPE_CHECKING:
    import numpy as np

    from .prepared import PreparedJob

    # How `nst animate --server` paints: (args, job, the frames left, temporal,
    # on_frame(index, image), progress(index, Progress)); index counts from the first sent.
    RemoteFrames = Callable[
        [
            argparse.Namespace,
            PreparedJob,
            list[np.ndarray],
            bool,
            Callable[[int, np.ndarray], None],
            Callable[[int, Progress], None],
        ],
        None,
    ]


def add_animate_parser(commands) -> argparse.ArgumentParser:
    a = commands.add_parser(
        "animate",
        help="paint the frames of a folder, an animated GIF/WebP/PNG or a video as one moving "
        "painting",
    )
    a.add_argument(
        "input",
        type=Path,
        metavar="INPUT",
        help="a folder of frames, an animated file or a video (.mp4, .mov, .avi, .mkv, .webm)",
    )
    a.add_argument(
        "styles",
        type=Path,
        nargs="*",
        metavar="STYLE",
        help="a style image file, or the name of a painting of the gallery (`nst styles`)",
    )
    a.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="a folder (each frame under its input's name), an animated .gif/.webp/.png, or a "
        "video (.mp4, .avi, .mkv)",
    )
    a.add_argument("--model", help="a style network made by `nst train-style`, instead of STYLE")
    a.add_argument(
        "--independent",
        action="store_true",
        help="style every frame alone (for unrelated images; animations flicker)",
    )
    add_size_and_mask(a, output="the output frames", source="the frames")
    _add_cluster_options(a)
    add_style_options(a)
    a.set_defaults(run=cmd_animate, interrupted=RESUMABLE)
    return a


def _add_cluster_options(a: argparse.ArgumentParser) -> None:
    add_cluster_arguments(
        a,
        "style the sequence as shots (runs of frames, cross-faded where they overlap) on a "
        "Ray cluster's workers at once",
    )
    a.add_argument(
        "--shot-length",
        type=positive,
        default=SHOT_LENGTH,
        metavar="FRAMES",
        help="with --cluster: frames a shot (%(default)s)",
    )
    a.add_argument(
        "--overlap",
        type=positive,
        default=OVERLAP,
        metavar="FRAMES",
        help="with --cluster: frames two shots share and cross-fade (%(default)s)",
    )


def cmd_animate(args: argparse.Namespace, remote: RemoteFrames | None = None) -> int:
    # Imported as the command runs: the painting modules are not needed to parse arguments.
    from .arrays import resized
    from .flow import require
    from .prepared import prepare_job, sized_mask

    if args.cluster is not None and remote is not None:
        raise InputError("--cluster and --server are two ways to paint elsewhere: give one")
    if not args.independent and remote is None:
        require()  # the optical flow's OpenCV
    batch_cluster = cluster_for(args)
    if batch_cluster is not None:  # before any work: Ray is there, the shots make sense
        check_shots(args.shot_length, args.overlap)
    options = style_options(args)
    if is_animated_file(args.output) and args.output.exists():
        if not partial_folder(args.output).exists():
            print(f"nst: {args.output} is already written; nothing to do", file=sys.stderr)
            return 0
    animation = read_animation(args.input, options.max_pixels)
    mask = sized_mask(
        args.mask, animation.frames[0].shape[:2], args.output_size, options.max_pixels
    )
    if args.output_size:
        animation.frames = [resized(f, args.output_size) for f in animation.frames]
    animated = is_animated_file(args.output)
    if args.output.suffix and not animated:
        raise InputError(
            f"{args.output}: an animation is written to a folder, a .gif, .webp or .png "
            "file, or a video (.mp4, .avi, .mkv)"
        )
    job = prepare_job(animation.frames[0], args.styles, mask, options, args.model or "")
    folder = FrameFolder(partial_folder(args.output) if animated else args.output)
    names = animation.names
    if batch_cluster is not None:
        _animate_on_cluster(args, animation, job, folder, batch_cluster)
    else:
        _animate_here(args, animation, job, folder, remote)
    if animated:
        frames = [folder.read(name) for name in names]
        write_animated(args.output, frames, animation)
    return 0


def _animate_here(
    args: argparse.Namespace, animation, job, folder: FrameFolder, remote: RemoteFrames | None
) -> None:
    """The frames styled in order here (or by `remote`, a server), resuming after the last
    one written."""
    from .sequence import stylize_sequence

    names, options = animation.names, job.options
    start = folder.done(names)
    previous = None
    if start:
        previous = (animation.frames[start - 1], folder.read(names[start - 1]))
    bar = tqdm(total=len(names), initial=start, unit="frame", dynamic_ncols=True)

    def progress(index: int, p: Progress) -> None:
        bar.update(start + index + (p.done or 0) - bar.n)

    def write(index: int, image: np.ndarray) -> None:
        folder.write(names[start + index], image)
        bar.update(start + index + 1 - bar.n)

    try:
        if remote is not None and start < len(names):
            remote(args, job, animation.frames[start:], not args.independent, write, progress)
        elif remote is None:
            results = stylize_sequence(
                animation.frames[start:], [s.image for s in job.styles] or None, mask=job.mask,
                options=options, temporal=not args.independent, progress=progress,
                model=_model(job), previous=previous,
            )  # fmt: skip
            for index, result in enumerate(results):
                write(index, result.image)
    finally:
        bar.close()
    if start == len(names):
        print(f"nst: every frame of {args.output} was already written", file=sys.stderr)


def _animate_on_cluster(
    args: argparse.Namespace, animation, job, folder: FrameFolder, batch_cluster
) -> None:
    """The shots styled at once on the cluster (`batch_cluster`, nst_engine.batch_cluster);
    each frame written once it is final."""
    from .batch import BatchSpec
    from .shots import plan_shots

    names, frames = animation.names, animation.frames
    shots = plan_shots(len(frames), args.shot_length, args.overlap)
    spec = BatchSpec(tuple(s.image for s in job.styles), job.options, model=_model(job))
    written = [(folder.folder / name).is_file() for name in names]
    bar = tqdm(total=len(names), initial=sum(written), unit="frame", dynamic_ncols=True)

    def write(index: int, image) -> None:
        folder.write(names[index], image)
        bar.update(1)

    try:
        batch_cluster.animate_on_cluster(
            frames, shots, spec, job.mask, not args.independent,
            (args.cluster, args.workers), write, lambda index: written[index],
        )  # fmt: skip
    finally:
        bar.close()


def _model(job):
    from .fast import load_model

    return load_model(Path(job.model)) if job.model else None
