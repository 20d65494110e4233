"""Training the style gallery's fast-mode networks, resumably, judged as they train; the
command behind scripts/train_gallery.py (its options: `main`).

For each painting of the gallery (`nst styles`) in turn: trains its network on the training
photographs (train/ in --photos, which scripts/fetch_training_photos.py makes, by default in
its own default folder) and, every --judge-every steps, writes the model as of that step
(`fast.model_from_checkpoint`) and judges it the way issue #15 sets the bar
(`targets.meets_gallery_bar`): on held-out photographs at 512 pixels, never trained on, the
SSIM to the photograph and the GMD to the painting (`nst evaluate`'s metrics), against the
`proposed` optimisation's on the same photograph and painting (computed once and kept). Each
judgement is one line of DIR/curve.jsonl and one printed line, so quality against steps is a
curve to choose from. A network meets the bar on the mean over the judged photographs and,
checked when it does, on the mean over every held-out photograph (each judgement also records
every photograph's own figures and ratio).

Stopped (Ctrl-C, or the machine going away) it resumes where it was, from the checkpoint
beside the model: DIR is ~/.cache/neural-style-gimp/training/<recipe>/ by default, out of the
repository. A network is copied out only with --ship DIR: then a style trains until its first
judgement that meets the bar (or --steps), and that network is copied to DIR/<style>.nstmodel
(the release copies into the source tree's nst_engine/gallery/networks/: see that folder's
README). Run again with --ship after a run has finished, it ships what already qualifies.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np

from .. import gallery
from ..api import stylize
from ..arrays import resized
from ..errors import InputError
from ..fast import (
    TrainingInterrupted,
    TrainOptions,
    checkpoint_path,
    load_model,
    model_from_checkpoint,
    train_style,
)
from ..images import load_image, save_image
from ..instant import apply_model
from ..options import StyleOptions
from . import report
from .measure import score
from .targets import GALLERY_BAR, GALLERY_JUDGE_SIDE, meets_gallery_bar
from .training_folder import (
    cache_folder,
    default_photos_folder,
    first_to_meet_the_bar,
    judged_picture,
    judged_steps,
    network_path,
)


def photographs(folder: Path) -> list[Path]:
    """The JPEG photographs of a folder, sorted; an error that says how to fetch them."""
    files = sorted(folder.glob("*.jpg"))
    if not files:
        raise InputError(
            f"no photographs in {folder}: run python scripts/fetch_training_photos.py "
            f"--to {folder.parent}"
        )
    return files


def held_out(root: Path, count: int) -> list[Path]:
    """`count` held-out photographs spread over the folder (people, animals, places, ...)."""
    files = photographs(root / "held-out")
    picks = np.linspace(0, len(files) - 1, min(count, len(files))).round().astype(int)
    return [files[i] for i in sorted(set(picks))]


def _save(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(path, image)


def _at_judge_size(image: np.ndarray) -> np.ndarray:
    return resized(image, GALLERY_JUDGE_SIDE)  # as `nst stylize --size` sizes it


def reference(work: Path, style: str, photo: Path, device: str) -> dict:
    """The proposed optimisation's SSIM and GMD on (photo, style) at the judged size, kept
    beside DIR (shared by every recipe)."""
    cache = work.parent / "reference" / "reference.json"
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    key = f"{style}|{photo.name}|{GALLERY_JUDGE_SIDE}"
    if key not in known:
        content = _at_judge_size(load_image(photo))
        painting = load_image(gallery.find(style).read_bytes())
        tic = time.perf_counter()
        options = StyleOptions(size=GALLERY_JUDGE_SIDE, device=device)
        out = stylize(content, painting, options=options).image
        _save(out, judged_picture(work, style, photo, "proposed"))
        point = score(content, out, painting)
        known[key] = {
            "ssim": point.ssim,
            "gmd": point.gmd,
            "seconds": round(time.perf_counter() - tic, 1),
        }
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(known, indent=1))
    return known[key]


def judge(
    model_path: Path, style: str, step: int, photos: list[Path], work: Path, device: str
) -> dict:
    """Mean SSIM and GMD of a network on the held-out photos, beside the optimisation's."""
    model = load_model(model_path)
    painting = load_image(gallery.find(style).read_bytes())
    rows = []
    for photo in photos:
        content = _at_judge_size(load_image(photo))
        if model.trained_on(content):
            raise InputError(f"{photo} is held out, but {model_path.name} was trained on it")
        tic = time.perf_counter()
        out = apply_model(model, content, options=StyleOptions(device=device)).image
        seconds = time.perf_counter() - tic
        _save(out, judged_picture(work, style, photo, f"step{step}"))
        ref = reference(work, style, photo, device)
        point = score(content, out, painting)
        rows.append((point.ssim, point.gmd, ref, seconds))
    fast_ssim = float(np.mean([r[0] for r in rows]))
    fast_gmd = float(np.mean([r[1] for r in rows]))
    ref_gmd = float(np.mean([r[2]["gmd"] for r in rows]))
    return {
        "ssim": round(fast_ssim, 4),
        "gmd": round(fast_gmd, 4),
        "proposed_ssim": round(float(np.mean([r[2]["ssim"] for r in rows])), 4),
        "proposed_gmd": round(ref_gmd, 4),
        "gmd_ratio": round(fast_gmd / ref_gmd, 3),
        "apply_seconds": round(float(np.mean([r[3] for r in rows])), 3),
        # per photograph: SSIM, GMD and GMD over the optimisation's on that photograph
        "photos": {
            photo.stem: [round(float(s), 4), round(float(g), 4), round(float(g / ref["gmd"]), 3)]
            for photo, (s, g, ref, _) in zip(photos, rows, strict=True)
        },
        "meets_bar": bool(meets_gallery_bar(fast_ssim, fast_gmd, ref_gmd)),
    }


def judgement(
    model_path: Path,
    style: str,
    step: int,
    photos: list[Path],
    everyone: list[Path],
    work: Path,
    device: str,
) -> dict:
    """`judge` on the photographs judged at every step; a network that meets the bar there is
    judged again on every held-out photograph and meets it only if it does there too. A run
    is judged dozens of times on the same few photographs and its quality wobbles from one
    judgement to the next, so the first to pass on those few may pass by chance."""
    row = judge(model_path, style, step, photos, work, device)
    if row["meets_bar"] and set(everyone) > set(photos):
        again = judge(model_path, style, step, everyone, work, device)
        keep = ("ssim", "gmd", "proposed_ssim", "proposed_gmd", "gmd_ratio", "meets_bar")
        row["all_held_out"] = {key: again[key] for key in keep}
        row["meets_bar"] = again["meets_bar"]
    return row


def contact_sheet(work: Path, style: str, photos: list[Path], steps: list[int]) -> Path:
    """DIR/<style>-sheet.jpg: per held-out photograph, the photograph, the optimisation and
    the network at each judged step (what is missing is left grey)."""
    columns = ["photo", "proposed", *(f"step{step}" for step in steps)]
    rows = [
        [photo, *(judged_picture(work, style, photo, name) for name in columns[1:])]
        for photo in photos
    ]
    return report.file_sheet(columns, rows, work / f"{style}-sheet.jpg")


def train_one(
    style: str,
    options: TrainOptions,
    photos_root: Path,
    work: Path,
    photos: list[Path],
    until_bar: bool = False,
) -> None:
    """Train `style`'s network in `work` (resuming), judged every `options.checkpoint_every`
    steps on `photos`; with `until_bar`, only until a judgement meets the bar."""
    painting = load_image(gallery.find(style).read_bytes())
    output = network_path(work, style)
    options = dataclasses.replace(options, name=style)
    judged = judged_steps(work)
    train_photos = photographs(photos_root / "train")
    everyone = photographs(photos_root / "held-out")
    step = [0]  # the last step done, as progress reports it
    judging = [False]  # whether the last stop was ours (a step to judge), not a Ctrl-C

    def progress(p) -> None:
        step[0] = p.iteration + 1

    def stop() -> bool:  # at each step to judge that is not judged yet
        judging[0] = step[0] % options.checkpoint_every == 0 and (style, step[0]) not in judged
        return judging[0]

    def record(done: int, snapshot: Path) -> None:
        judged_row = judgement(snapshot, style, done, photos, everyone, work, options.device)
        row = {"style": style, "step": done, **judged_row}
        row["recipe"] = work.name
        with (work / "curve.jsonl").open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        judged.add((style, done))
        print(json.dumps(row), flush=True)
        contact_sheet(work, style, photos, sorted(step for s, step in judged if s == style))

    for snapshot in sorted(work.glob(f"{style}.step*.nstmodel")):  # left by a stopped run
        done = int(snapshot.name.removeprefix(f"{style}.step").removesuffix(".nstmodel"))
        if (style, done) not in judged:
            record(done, snapshot)
    while not output.is_file() and not (until_bar and first_to_meet_the_bar(work, style)):
        try:
            train_style(painting, train_photos, output, options, progress=progress, cancel=stop)
            done, snapshot = options.steps, output
        except TrainingInterrupted as stopped:
            if not judging[0]:  # Ctrl-C: the checkpoint is saved; stop, do not judge
                raise SystemExit(
                    f"{style}: stopped at step {stopped.step}; the same command resumes from "
                    f"{stopped.checkpoint}"
                ) from None
            done = stopped.step
            snapshot = network_path(work, style, done)
            model_from_checkpoint(checkpoint_path(output), painting, snapshot, name=style)
        if (style, done) not in judged:
            record(done, snapshot)


def ship(style: str, work: Path, steps: int, to: Path) -> Path | None:
    """Copy the earliest network of `style` that met the bar to `to`/<style>.nstmodel."""
    met = first_to_meet_the_bar(work, style)
    if met is None:
        print(f"{style}: not shipped (no judgement met the bar: {GALLERY_BAR})")
        return None
    source = network_path(work, style, None if met["step"] == steps else met["step"])
    target = to / f"{style}.nstmodel"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    print(f"{style}: shipped the network of step {met['step']} to {target}")
    return target


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train_gallery.py",
        description="Train the fast-mode networks of the style gallery, resumably, and judge "
        "them as they train.",
    )
    parser.add_argument("--styles", nargs="+", default=gallery.names())
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--size", type=int, default=128, help="training crop side")
    parser.add_argument(
        "--scale", type=int, default=0, help="photos' short side before cropping (0: --size)"
    )
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--width", type=int, default=16, help="network width")
    parser.add_argument(
        "--no-palette", dest="palette", action="store_false", help="train without a palette"
    )
    parser.add_argument(
        "--strength", type=float, default=0.5, help="the style strength the network is trained to"
    )
    parser.add_argument("--judge-every", type=int, default=250)
    parser.add_argument("--held-out", type=int, default=3, help="photographs judged on")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--photos",
        type=Path,
        default=default_photos_folder(),
        help="training photographs (train/, held-out/)",
    )
    parser.add_argument("--work", type=Path)
    parser.add_argument(
        "--ship",
        type=Path,
        metavar="DIR",
        help="train each style until it meets the bar and copy that network into DIR (the "
        "release: the source tree's nst_engine/gallery/networks)",
    )
    return parser


def recipe(args: argparse.Namespace) -> str:
    """The run's name, from what changes its networks: its work folder's default name."""
    scale = f"-x{args.scale}" if args.scale else ""
    palette = "" if args.palette else "-nopalette"
    strength = "" if args.strength == 0.5 else f"-st{args.strength:g}"
    return f"s{args.size}{scale}-b{args.batch_size}-w{args.width}{palette}{strength}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = [s for s in args.styles if gallery.find(s) is None]
    if unknown:
        parser.error(f"not in the gallery: {', '.join(unknown)} (nst styles lists them)")
    name = recipe(args)
    work = args.work or cache_folder() / "training" / name
    work.mkdir(parents=True, exist_ok=True)
    options = TrainOptions(
        size=args.size, scale=args.scale, steps=args.steps, batch_size=args.batch_size,
        width=args.width, palette=args.palette, strength=args.strength,
        device=args.device, checkpoint_every=args.judge_every,
    )  # fmt: skip
    try:
        photos = held_out(args.photos, args.held_out)
        print(f"recipe {name}, judged on {', '.join(p.stem for p in photos)}; work in {work}")
        for style in args.styles:
            train_one(style, options, args.photos, work, photos, until_bar=args.ship is not None)
            if args.ship is not None:
                ship(style, work, args.steps, args.ship)
    except InputError as error:
        raise SystemExit(f"train_gallery.py: error: {error}") from None
    return 0
