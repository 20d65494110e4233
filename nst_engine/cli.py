"""The `nst` command line: stylize, animate, batch, styles, evaluate, bench and train-style.

`nst stylize` prepares its job once (nst_engine.prepared) and runs it here, or hands it to
the runner that nst_server.frontend passes in for `--server`.

Every expected failure ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import __version__, gallery
from .animate_command import add_animate_parser
from .arrays import (
    as_array,
    resized,
)
from .batch_command import add_batch_parser
from .errors import Cancelled, NSTError
from .fast import TrainOptions
from .images import load_image, output_losses, output_type, save_image
from .option_arguments import (
    add_size_and_mask,
    add_style_options,
    positive,
    strength,
    style_options,
)
from .options import QUALITY_PRESETS, Progress, StyleOptions
from .prepared import PreparedJob, prepare_job, run_here, sized_mask


def build_parser() -> argparse.ArgumentParser:
    """The `nst` parser; `parser.commands` maps each subcommand to its own parser, for front
    ends that add to one (nst_server.frontend adds --server to stylize)."""
    parser = argparse.ArgumentParser(prog="nst", description="Neural style transfer.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    parser.commands = {
        "stylize": _stylize_parser(commands),
        "animate": add_animate_parser(commands),
        "batch": add_batch_parser(commands),
        "styles": _styles_parser(commands),
        "evaluate": _evaluate_parser(commands),
        "bench": _bench_parser(commands),
        "train-style": _train_style_parser(commands),
        "convert-model": _convert_model_parser(commands),
    }
    return parser


def _stylize_parser(commands) -> argparse.ArgumentParser:
    p = commands.add_parser(
        "stylize", help="paint CONTENT in the style of STYLE, or with a trained --model"
    )
    p.add_argument("content", type=Path)
    p.add_argument(
        "styles",
        type=Path,
        nargs="*",
        metavar="STYLE",
        help="a style image file, or the name of a painting of the gallery (`nst styles`)",
    )
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument(
        "--model",
        help="a style network made by `nst train-style` (fast mode), instead of STYLE: a "
        ".nstmodel file (with --server, the name of one in the server's style library)",
    )
    add_size_and_mask(p, output="the output", source="CONTENT")
    add_style_options(p)
    p.set_defaults(run=cmd_stylize)
    return p


def _styles_parser(commands) -> argparse.ArgumentParser:
    g = commands.add_parser("styles", help="list the style gallery: paintings that STYLE can name")
    g.add_argument("--json", action="store_true", help="print one JSON list")
    g.set_defaults(run=cmd_styles)
    return g


def _evaluate_parser(commands) -> argparse.ArgumentParser:
    e = commands.add_parser(
        "evaluate",
        help="SSIM to the content and Gram difference to the style (docs: nst_engine/metrics.py)",
    )
    e.add_argument("content", type=Path)
    e.add_argument("style", type=Path)
    e.add_argument("output", type=Path)
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(run=cmd_evaluate)
    return e


def _bench_parser(commands) -> argparse.ArgumentParser:
    b = commands.add_parser(
        "bench",
        help="the paper's evaluation: SSIM, GMD, runtime and memory per method, side by side",
    )
    b.add_argument(
        "--pairs",
        nargs="+",
        metavar="CONTENT:STYLE",
        help="content/style pairs (default: the example images)",
    )
    b.add_argument("--sizes", type=positive, nargs="+", help="square sizes (default 256 1024)")
    b.add_argument(
        "--methods",
        nargs="+",
        choices=("gatys", "proposed", "fast"),
        default=["gatys", "proposed", "fast"],
        help="fast: a trained network per style (see --fast-models)",
    )
    b.add_argument("--device", default="auto")
    b.add_argument("--repeats", type=positive, default=3)
    b.add_argument(
        "--iterations",
        type=positive,
        help="override every method's iteration budget (default: their presets)",
    )
    b.add_argument(
        "--curve-size",
        type=positive,
        help="size of the SSIM/GMD-against-strength curve (default: smallest size)",
    )
    b.add_argument("--no-curve", action="store_true", help="skip the strength curve")
    b.add_argument(
        "--quick",
        action="store_true",
        help="CPU-sized run: sizes 128 256 (and 512 for proposed alone, on the CPU), one "
        "repeat, three strengths",
    )
    b.add_argument(
        "--speed-sizes",
        type=positive,
        nargs="+",
        metavar="N",
        help="sizes timed for proposed alone (default: 512 with --quick on the CPU, else none)",
    )
    b.add_argument(
        "--fast-models",
        type=Path,
        metavar="DIR",
        help="where the fast networks are (STYLE-SIZEpx-STEPSsteps.nstmodel) and missing "
        "ones are trained to (default: OUT/models)",
    )
    b.add_argument(
        "--fast-steps", type=positive, help="training steps of a missing network (2000; quick 300)"
    )
    b.add_argument(
        "--fast-size", type=positive, help="training crop side of a missing network (256; 128)"
    )
    b.add_argument(
        "--train-images",
        type=Path,
        metavar="DIR",
        help="photographs to train missing fast networks on (default: the pairs' contents)",
    )
    _add_other_bench_runs(b)
    b.add_argument("-o", "--out", type=Path, default=Path("bench-results"))
    b.set_defaults(run=cmd_bench)
    return b


def _add_other_bench_runs(b: argparse.ArgumentParser) -> None:
    """The runs `nst bench` makes instead of its table: the frontier, whole photographs, and
    animations."""
    b.add_argument(
        "--frames",
        nargs="+",
        metavar="SEQUENCE",
        help="instead of the table above: animations styled frame by frame and with temporal "
        "consistency (warping error, SSIM, GMD, seconds a frame); a SEQUENCE is a folder of "
        "frames, an animated file, or `pan` (a camera pan over a photograph); at --sizes' "
        "first (default 160), --frame-count frames, --iterations as given",
    )
    b.add_argument("--frame-count", type=positive, default=8, help="frames of each sequence (8)")
    b.add_argument(
        "--frame-style", type=Path, help="the style for --frames (default: the Starry Night)"
    )
    b.add_argument(
        "--frontier",
        action="store_true",
        help="instead of the table above: gatys against proposed at strengths 0.3, 0.5 and "
        "0.7, pair by pair at 256 px (or --sizes' first), with the quality targets (by "
        "default nine pairs: the --quick ones, graphic styles, and four held-out pairs)",
    )
    b.add_argument(
        "--photos",
        type=Path,
        nargs="+",
        metavar="PHOTO",
        help="instead of the table above: style these photographs whole, at full resolution "
        "(time, memory, SSIM, GMD, sharpness; scripts/fetch_bench_photos.py fetches the 4 and "
        "24 megapixel ones of docs/benchmarks.md)",
    )
    b.add_argument(
        "--photo-style",
        type=Path,
        help="the style for --photos (default: the example Starry Night)",
    )
    b.add_argument(
        "--photo-qualities",
        nargs="+",
        choices=QUALITY_PRESETS,
        default=["normal"],
        help="qualities for --photos (default normal)",
    )


def _train_style_parser(commands) -> argparse.ArgumentParser:
    defaults = TrainOptions()
    t = commands.add_parser(
        "train-style",
        help="train a fast-mode style network on a folder of photographs",
    )
    t.add_argument("style", type=Path, metavar="STYLE")
    t.add_argument("--images", type=Path, required=True, help="folder of training photographs")
    t.add_argument("-o", "--output", type=Path, required=True, help="model file (.nstmodel)")
    t.add_argument(
        "--size", type=positive, default=defaults.size, help="training crop side (%(default)s)"
    )
    t.add_argument(
        "--scale",
        type=int,
        default=defaults.scale,
        help="the photographs' short side before cropping (default: --size); the strokes "
        "are sized for images of about this many pixels",
    )
    t.add_argument(
        "--steps", type=positive, default=defaults.steps, help="training steps (%(default)s)"
    )
    t.add_argument(
        "--batch-size",
        type=positive,
        default=defaults.batch_size,
        help="images per step (%(default)s)",
    )
    t.add_argument(
        "--strength",
        type=strength,
        default=defaults.strength,
        help="0 keeps the content, 1 lets the style take over; as for stylize (%(default)s)",
    )
    t.add_argument("--lr", type=float, default=defaults.lr, help="Adam learning rate (%(default)s)")
    t.add_argument(
        "--device",
        default=defaults.device,
        help="auto, cpu, cuda, cuda:N or mps (default %(default)s)",
    )
    t.add_argument("--seed", type=int, default=defaults.seed)
    t.add_argument(
        "--checkpoint-every",
        type=int,
        default=defaults.checkpoint_every,
        metavar="N",
        help="save a checkpoint every N steps, 0 for never (%(default)s)",
    )
    t.add_argument(
        "--width", type=positive, default=defaults.width, help="network width (%(default)s)"
    )
    t.add_argument(
        "--no-palette",
        dest="palette",
        action="store_false",
        help="paint on the photograph's own colours instead of first moving them to the "
        "style's (which training learns only slowly)",
    )
    t.add_argument("--name", help="the style's name (default: the style file's name)")
    t.set_defaults(run=cmd_train_style)
    return t


def _convert_model_parser(commands) -> argparse.ArgumentParser:
    c = commands.add_parser(
        "convert-model",
        help="rewrite a model file of an older format (a pickled .nstmodel) in the current one",
    )
    c.add_argument("model", type=Path, metavar="MODEL")
    c.add_argument("-o", "--output", type=Path, help="where to write it (default: over MODEL)")
    c.set_defaults(run=cmd_convert_model)
    return c


def _check_output(path: Path) -> None:
    """Before any work: the output type is one this program writes, and its folder takes a
    new file (by making and removing one: permissions alone do not tell, e.g. in /proc)."""
    output_type(path)
    folder = path.parent
    if not folder.is_dir():
        raise NSTError(f"{path}: the folder {folder} does not exist")
    if path.is_dir():
        raise NSTError(f"{path}: is a folder; give a file name such as {path / 'out.png'}")
    if path.exists() and not os.access(path, os.W_OK):
        raise NSTError(f"{path}: the file exists and cannot be overwritten")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".nst-", suffix=path.suffix):
            pass
    except OSError as exc:
        raise NSTError(
            f"{path}: cannot write into {folder} ({exc.strerror or exc}); choose another folder"
        ) from None


def _warn_losses(path: Path, image: np.ndarray) -> None:
    for loss in output_losses(path, image.shape[2], image.dtype):
        print(f"nst: warning: {path} will lose {loss}; use .png or .tif to keep it",
              file=sys.stderr)  # fmt: skip


class ProgressBar:
    """The job's progress on the terminal (tqdm: share of the work, time left), with the
    iteration, the level and the main loss terms; silent when stderr is not a terminal.

    The bar counts the share of the work, not iterations: an iteration at full size costs
    many at the working size, and tqdm's time left follows what the bar counts."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.bar: tqdm | None = None

    def __call__(self, p: Progress) -> None:
        if self.bar is None:
            self.bar = tqdm(
                total=100,
                file=self.stream,
                disable=None,
                bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}",
            )
        terms = " ".join(
            f"{k} {v:.3g}" for k, v in p.losses.items() if k in ("content", "style", "total")
        )
        self.bar.set_postfix_str(
            f"it {p.step}/{p.total_steps} level {p.level + 1}/{p.levels} {terms}", refresh=False
        )
        self.bar.update(round(100 * p.fraction, 2) - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# What runs a prepared job somewhere else: (args, job, progress) -> (image, stats). The engine
# imports no transport; nst_server.frontend hands one in for `--server`.
RemoteRun = Callable[
    [argparse.Namespace, PreparedJob, Callable[[Progress], None]], tuple[np.ndarray, dict]
]


def cmd_stylize(args: argparse.Namespace, remote: RemoteRun | None = None) -> int:
    job = _prepare(args)
    bar = ProgressBar()
    started = time.perf_counter()
    try:
        if remote is not None:
            image, stats = remote(args, job, bar)
        else:
            result = run_here(job, bar)
            image, stats = result.image, result.stats
    finally:
        bar.close()
    save_image(args.output, image)
    height, width = image.shape[:2]
    print(
        f"wrote {args.output} ({width}x{height}, {stats.get('method', job.options.method)}, "
        f"{stats.get('device', '?')}, {time.perf_counter() - started:.1f}s)"
    )
    return 0


def _prepare(args: argparse.Namespace) -> PreparedJob:
    """The stylize job the arguments describe, read and checked once for either path."""
    _check_output(args.output)
    options = style_options(args)
    content = load_image(args.content, args.max_pixels)
    _warn_losses(args.output, content)
    content = as_array(content, str(args.content))
    mask = sized_mask(args.mask, content.shape[:2], args.output_size, args.max_pixels)
    if args.output_size is not None:
        content = resized(content, args.output_size)
    return prepare_job(content, args.styles, mask, options, args.model or "")


def cmd_styles(args: argparse.Namespace) -> int:
    """The gallery's paintings, by name (any of them is a STYLE for `nst stylize`)."""
    if args.json:
        print(json.dumps([dataclasses.asdict(p) for p in gallery.PAINTINGS], indent=1))
        return 0
    width = max(len(name) for name in gallery.names())
    for p in gallery.PAINTINGS:
        print(f"{p.name:<{width}}  {p.kind:<24}  {p.artist}, {p.title} ({p.year})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .metrics import gram_differences, mean_gram_difference, ssim

    content, style, output = (load_image(p) for p in (args.content, args.style, args.output))
    layers = gram_differences(output, style)
    figures = {
        "ssim": round(ssim(content, output), 4),
        "gmd": round(mean_gram_difference(layers), 4),
        "gmd_layers": {name: round(value, 4) for name, value in layers.items()},
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"SSIM to content     {figures['ssim']:.4f}  (higher keeps more structure)")
        print(f"Gram difference     {figures['gmd']:.4f}  (lower matches the style better)")
        print("  per layer         " + "  ".join(f"{k} {v:.4f}" for k, v in layers.items()))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .devices import resolve_device
    from .evaluation import bench, measure
    from .fast import find_images

    if args.photos:
        style = args.photo_style or measure.example_folder() / "starry_night.jpg"
        rows = measure.full_resolution_rows(args.photos, style, args.photo_qualities, args.device)
        table = bench.full_resolution_table(rows, resolve_device(args.device))
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "fullres.md").write_text(table)
        (args.out / "fullres.json").write_text(json.dumps(rows, indent=1))
        print(table)
        print(f"wrote {args.out}/fullres.md, fullres.json")
        return 0

    if args.frames:
        from .evaluation.animation import run_frames

        style = args.frame_style or measure.example_folder() / "starry_night.jpg"
        size = args.sizes[0] if args.sizes else 160
        options = StyleOptions(device=args.device, iterations=args.iterations, size=size)
        print(run_frames(args.frames, style, size, args.frame_count, options, args.out))
        print(f"wrote {args.out}/frames.md, frames.json and a strip per sequence")
        return 0

    if args.frontier:
        from .evaluation import frontier

        pairs = measure.load_pairs(args.pairs or None, frontier.FRONTIER_PAIRS)
        size = args.sizes[0] if args.sizes else frontier.FRONTIER_SIZE
        frontier.run_frontier(pairs, args.device, args.out, size, iterations=args.iterations)
        print(f"wrote {args.out}/frontier.md, frontier.json, frontier.jpg")
        return 0

    pairs = measure.load_pairs(args.pairs)
    sizes = args.sizes or ([128, 256] if args.quick else [256, 1024])
    strengths = (0.2, 0.5, 0.8) if args.quick else bench.CURVE_STRENGTHS
    repeats = 1 if args.quick else args.repeats
    fast = bench.FastTraining(
        args.fast_models or args.out / "models",
        steps=args.fast_steps or (300 if args.quick else 2000),
        size=args.fast_size or (128 if args.quick else 256),
        batch_size=2 if args.quick else 4,
        images=tuple(find_images(args.train_images)) if args.train_images else (),
    )
    if args.speed_sizes is not None:
        speed_sizes = args.speed_sizes
    else:
        on_cpu = resolve_device(args.device).type == "cpu"
        speed_sizes = [512] if args.quick and on_cpu and "proposed" in args.methods else []
    bench.run_bench(
        pairs,
        sizes,
        args.methods,
        args.device,
        repeats,
        args.out,
        args.iterations,
        args.curve_size,
        () if args.no_curve else strengths,
        fast=fast,
        speed_sizes=[s for s in speed_sizes if s not in sizes],
    )
    print(f"wrote {args.out}/results.md, results.json, contact_sheet.png, ssim_vs_gmd.png")
    return 0


def cmd_train_style(args: argparse.Namespace) -> int:
    from .fast import TrainingInterrupted, TrainOptions, checkpoint_path, train_style

    options = TrainOptions(
        size=args.size,
        scale=args.scale,
        steps=args.steps,
        batch_size=args.batch_size,
        strength=args.strength,
        lr=args.lr,
        device=args.device,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        width=args.width,
        palette=args.palette,
        name=args.name or args.style.stem,
    )
    options.validate()
    style = load_image(args.style)
    resuming = checkpoint_path(args.output).exists()
    if resuming:
        print(f"resuming from {checkpoint_path(args.output)}", file=sys.stderr)
    bar = ProgressBar()
    stopped = None
    try:
        result = train_style(style, args.images, args.output, options, progress=bar)
    except TrainingInterrupted as exc:
        stopped = exc
    finally:
        bar.close()
    if stopped is not None:
        print(f"nst: {stopped}", file=sys.stderr)
        return 130
    trained = result.model.options
    print(
        f"wrote {result.path} ('{result.model.name}', {result.steps} steps at {args.size} px, "
        f"{result.seconds_per_step:.2f}s/step on {trained['device']}, "
        f"SSIM {trained['final_ssim']:.2f} for target {trained['target_ssim']:.2f})"
    )
    return 0


def cmd_convert_model(args: argparse.Namespace) -> int:
    from .fast import MODEL_VERSION, convert_model

    print(f"wrote {convert_model(args.model, args.output)} (model format version {MODEL_VERSION})")
    return 0


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """Run one command; every expected failure is one line and an exit status."""
    args = (parser or build_parser()).parse_args(argv)
    try:
        return args.run(args)
    except Cancelled:
        print("nst: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        # What an interruption leaves: a command that writes as it goes says so itself.
        left = getattr(args, "interrupted", "nothing was written")
        print(f"\nnst: interrupted; {left}", file=sys.stderr)
        return 130
    except NSTError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"nst: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
