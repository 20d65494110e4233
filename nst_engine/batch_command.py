"""`nst batch INPUT [INPUT ...] -o OUT_DIR --style STYLE [--style STYLE ...]`: files and
folders of photographs styled alike (nst_engine.batch), here or with `--cluster ADDRESS` on
a Ray cluster (nst_engine.batch_cluster, imported only then: without it no Ray is loaded).

STYLE is an option, not a positional, so that any number of INPUTs and of styles cannot be
mistaken for one another.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from .errors import InputError
from .option_arguments import (
    RESUMABLE,
    add_size_and_mask,
    add_style_options,
    positive,
    style_options,
)
from .options import Progress

CLUSTER_HINT = "--cluster needs Ray: pip install 'neural-style-gimp[cluster]'"


def add_batch_parser(commands) -> argparse.ArgumentParser:
    b = commands.add_parser(
        "batch",
        help="paint files and folders of photographs in one style, here or on a Ray cluster",
        description="Each INPUT (a file, or a folder: its image files in name order) is "
        "styled and written to OUT_DIR under its own file name. Running the same command "
        "again skips the outputs already written; an input that cannot be styled is "
        "reported in one line and the others are done (exit status 1 at the end).",
    )
    b.add_argument("inputs", type=Path, nargs="+", metavar="INPUT", help="image file or folder")
    b.add_argument("-o", "--output", type=Path, required=True, metavar="OUT_DIR",
                   help="the folder the outputs are written to (made if missing)")  # fmt: skip
    b.add_argument(
        "-s",
        "--style",
        dest="styles",
        action="append",
        default=[],
        metavar="STYLE",
        help="a style image file, or the name of a painting of the gallery (`nst styles`); "
        "repeat it to blend several",
    )
    b.add_argument("--model", help="a style network made by `nst train-style`, instead of STYLE")
    add_cluster_arguments(b, "fan the batch out over a Ray cluster")
    add_size_and_mask(b, output="each output", source="each INPUT")
    add_style_options(b)
    b.set_defaults(run=cmd_batch, interrupted=RESUMABLE)
    return b


class BatchBar:
    """One progress bar over the whole batch, in images; the image being painted here
    moves it by its share done (`progress`)."""

    def __init__(self, total: int, done: int) -> None:
        self.finished = done
        self.bar = tqdm(
            total=total, initial=done, unit="image", dynamic_ncols=True, disable=None,
            bar_format="{l_bar}{bar}| {postfix} [{elapsed}<{remaining}]",
        )  # fmt: skip
        self._show()

    def _show(self) -> None:
        self.bar.set_postfix_str(f"{self.finished}/{self.bar.total} images", refresh=False)

    def progress(self, p: Progress) -> None:
        self.bar.update(self.finished + p.fraction - self.bar.n)

    def report(self, item, reason: str | None) -> None:
        if reason is not None:
            tqdm.write(f"nst: failed: {reason}", file=sys.stderr)
        self.finished += 1
        self._show()
        self.bar.update(self.finished - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def add_cluster_arguments(p: argparse.ArgumentParser, what: str) -> None:
    """--cluster ADDRESS and --workers N, as `nst batch` and `nst animate` take them."""
    p.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help=f"{what}: a head's address (host:port, ray://...), or `auto`: the running "
        "local one, else a new local Ray instance (needs the `cluster` extra)",
    )
    p.add_argument(
        "--workers",
        type=positive,
        metavar="N",
        help="with --cluster: how many workers, each holding the model once (default: one per "
        "GPU of the cluster, else one single-threaded worker per CPU)",
    )


def cluster_for(args: argparse.Namespace):
    """nst_engine.batch_cluster when --cluster is given (None without it), checked before
    any work: --workers needs --cluster, and Ray must be installed."""
    if args.workers is not None and args.cluster is None:
        raise InputError("--workers N goes with --cluster ADDRESS; without it the work runs here")
    return None if args.cluster is None else import_cluster()


def import_cluster():
    """nst_engine.batch_cluster, or InputError saying how to install Ray."""
    try:
        from . import batch_cluster
    except ModuleNotFoundError as exc:
        if exc.name != "ray":
            raise
        raise InputError(CLUSTER_HINT) from None
    return batch_cluster


def cmd_batch(args: argparse.Namespace) -> int:
    # Imported as the command runs: the painting modules are not needed to parse arguments.
    from .batch import BatchSpec, check_out_dir, paint_here, plan_batch, write_outcomes
    from .fast import load_model
    from .images import read_file, read_header
    from .prepared import read_styles

    batch_cluster = cluster_for(args)
    options = style_options(args)
    options.validate()
    if not args.styles and not args.model:
        raise InputError("give a --style STYLE (or a trained --model MODEL)")
    styles = read_styles(args.styles, options, args.model or "")
    mask, mask_shape = None, None
    if args.mask is not None:
        mask, name = read_file(args.mask, options.max_pixels)
        header = read_header(mask, name, options.max_pixels)
        mask_shape = (header.height, header.width)
    check_out_dir(args.output)
    plan = plan_batch(args.inputs, args.output, options.max_pixels, mask_shape)
    for _, reason in plan.failed:
        print(f"nst: failed: {reason}", file=sys.stderr)
    spec = BatchSpec(
        tuple(style.image for style in styles), options, mask, args.output_size,
        load_model(Path(args.model)) if args.model else None,
    )  # fmt: skip
    bar = BatchBar(len(plan.todo) + len(plan.done), len(plan.done))
    try:
        if args.cluster is None:
            outcomes = paint_here(plan.todo, spec, bar.progress)
            failed = write_outcomes(plan, outcomes, bar.report)
        else:
            failed = batch_cluster.run_on_cluster(
                plan, spec, args.cluster, args.workers, bar.report
            )
    finally:
        bar.close()
    failed = plan.failed + failed
    written = len(plan.todo) - (len(failed) - len(plan.failed))
    print(
        f"wrote {written} image{'' if written == 1 else 's'} to {args.output}"
        + (f", {len(plan.done)} already there" if plan.done else "")
        + (f"; {len(failed)} failed" if failed else "")
    )
    return 1 if failed else 0
