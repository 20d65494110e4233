#!/usr/bin/env python3
"""Train the fast-mode networks of the style gallery, resumably, and judge them as they train.

    python scripts/train_gallery.py [--styles NAME ...] [--steps 2000] [--size 128]
                                    [--scale 0] [--batch-size 4] [--width 16] [--judge-every 250]
                                    [--held-out 3] [--photos DIR] [--work DIR] [--device auto]
                                    [--no-palette] [--strength 0.5] [--ship]

For each painting of the gallery (`nst styles`) in turn: trains its network on the training
photographs (train/ in --photos, which scripts/fetch_training_photos.py makes, by default in
its own default folder) and, every --judge-every steps, writes the model
as of that step (`fast.model_from_checkpoint`) and judges it the way issue #15 sets the
bar: on held-out photographs at 512 pixels, never trained on, the SSIM to the photograph and
the GMD to the painting (`nst evaluate`'s metrics), against the `proposed` optimisation's on
the same photograph and painting (computed once and kept). Each judgement is one line of
DIR/curve.jsonl and one printed line, so quality against steps is a curve to choose from.
A network meets the bar when its GMD is at most 1.5x the optimisation's and its SSIM at least
0.45, both on the mean over the judged photographs and, checked when it does, on the mean over
every held-out photograph (each judgement also records every photograph's own figures and
ratio).

Stopped (Ctrl-C, or the machine going away) it resumes where it was, from the checkpoint
beside the model: DIR is ~/.cache/neural-style-gimp/training/<recipe>/ by default, out of the
repository. Nothing is copied into the package unless --ship is given: then a style trains
until its first judgement that meets the bar (or --steps), and that network is copied to
nst_engine/gallery/networks/<style>.nstmodel; on the CPU every step saved is another style
trained. Run again with --ship after a run has finished, it ships what already qualifies.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch_training_photos import default_folder  # noqa: E402

CACHE = Path.home() / ".cache" / "neural-style-gimp"
PHOTOS = default_folder()
JUDGE_SIDE = 512
GMD_RATIO_BAR = 1.5
SSIM_BAR = 0.45


def _photos(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.glob("*.jpg"))
    if not files:
        sys.exit(
            f"no photographs in {folder}: run python scripts/fetch_training_photos.py "
            f"--to {folder.parent}"
        )
    return files


def _held_out(root: Path, count: int) -> list[Path]:
    """`count` held-out photographs spread over the folder (people, animals, places, ...)."""
    files = _photos(root / "held-out")
    picks = np.linspace(0, len(files) - 1, min(count, len(files))).round().astype(int)
    return [files[i] for i in sorted(set(picks))]


def _output(work: Path, style: str, photo: Path, what: str) -> Path:
    """Where a judged picture is kept (DIR/outputs; the optimisation's, shared by every
    recipe, beside DIR), for the contact sheet."""
    folder = work.parent / "reference" if what == "proposed" else work / "outputs"
    return folder / f"{style}-{photo.stem}-{what}.jpg"


def _save(image: np.ndarray, path: Path) -> None:
    from nst_engine.images import save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(path, image)


def _reference(work: Path, style: str, photo: Path, device: str) -> dict:
    """The proposed optimisation's SSIM and GMD on (photo, style) at 512 px, kept in DIR."""
    import nst_engine
    from nst_engine import gallery
    from nst_engine.images import load_image
    from nst_engine.metrics import gram_difference, ssim

    cache = work.parent / "reference" / "reference.json"  # shared by every recipe
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    key = f"{style}|{photo.name}|{JUDGE_SIDE}"
    if key not in known:
        content = _at_judge_size(load_image(photo))
        painting = load_image(gallery.find(style).read_bytes())
        tic = time.perf_counter()
        options = nst_engine.StyleOptions(size=JUDGE_SIDE, device=device)
        out = nst_engine.stylize(content, painting, options=options).image
        _save(out, _output(work, style, photo, "proposed"))
        known[key] = {
            "ssim": ssim(content, out),
            "gmd": gram_difference(out, painting),
            "seconds": round(time.perf_counter() - tic, 1),
        }
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(known, indent=1))
    return known[key]


def _at_judge_size(image: np.ndarray) -> np.ndarray:
    from nst_engine.cli import _resized

    return _resized(image, JUDGE_SIDE)


def judge(
    model_path: Path, style: str, step: int, photos: list[Path], work: Path, device: str
) -> dict:
    """Mean SSIM and GMD of a network on the held-out photos, beside the optimisation's."""
    import nst_engine
    from nst_engine import apply_model, gallery
    from nst_engine.fast import load_model
    from nst_engine.images import load_image
    from nst_engine.metrics import gram_difference, ssim

    model = load_model(model_path)
    painting = load_image(gallery.find(style).read_bytes())
    rows = []
    for photo in photos:
        content = _at_judge_size(load_image(photo))
        if model.trained_on(content):
            sys.exit(f"{photo} is held out, but {model_path.name} was trained on it")
        tic = time.perf_counter()
        out = apply_model(model, content, options=nst_engine.StyleOptions(device=device)).image
        seconds = time.perf_counter() - tic
        _save(out, _output(work, style, photo, f"step{step}"))
        ref = _reference(work, style, photo, device)
        rows.append((ssim(content, out), gram_difference(out, painting), ref, seconds))
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
        "meets_bar": bool(fast_gmd <= GMD_RATIO_BAR * ref_gmd and fast_ssim >= SSIM_BAR),
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


def judged_steps(curve: Path) -> set[tuple[str, int]]:
    """(style, step) of every judgement in a curve.jsonl (none if it does not exist yet)."""
    rows = curve.read_text().splitlines() if curve.is_file() else []
    return {(row["style"], row["step"]) for row in map(json.loads, rows)}


def train_one(style: str, args, work: Path, photos: list[Path]) -> None:
    from nst_engine import gallery
    from nst_engine.fast import (
        TrainingInterrupted,
        TrainOptions,
        checkpoint_path,
        model_from_checkpoint,
        train_style,
    )
    from nst_engine.images import load_image

    painting = load_image(gallery.find(style).read_bytes())
    output = work / f"{style}.nstmodel"
    options = TrainOptions(
        size=args.size, scale=args.scale, steps=args.steps, batch_size=args.batch_size,
        width=args.width, palette=args.palette, strength=args.strength,
        device=args.device, checkpoint_every=args.judge_every, name=style,
    )  # fmt: skip
    curve = work / "curve.jsonl"
    judged = judged_steps(curve)
    train_photos = _photos(args.photos / "train")
    everyone = _photos(args.photos / "held-out")
    step = [0]  # the last step done, as progress reports it
    judging = [False]  # whether the last stop was ours (a step to judge), not a Ctrl-C

    def progress(p) -> None:
        step[0] = p.iteration + 1

    def stop() -> bool:  # at each step to judge that is not judged yet
        judging[0] = step[0] % args.judge_every == 0 and (style, step[0]) not in judged
        return judging[0]

    def record(done: int, snapshot: Path) -> None:
        row = {
            "style": style,
            "step": done,
            **judgement(snapshot, style, done, photos, everyone, work, args.device),
        }
        row["recipe"] = work.name
        with curve.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        judged.add((style, done))
        print(json.dumps(row), flush=True)
        contact_sheet(work, style, photos, sorted(step for s, step in judged if s == style))

    for snapshot in sorted(work.glob(f"{style}.step*.nstmodel")):  # left by a stopped run
        done = int(snapshot.name.removeprefix(f"{style}.step").removesuffix(".nstmodel"))
        if (style, done) not in judged:
            record(done, snapshot)
    while not output.is_file() and not (args.ship and first_to_meet_the_bar(work, style)):
        try:
            train_style(painting, train_photos, output, options, progress=progress, cancel=stop)
            done, snapshot = args.steps, output
        except TrainingInterrupted as stopped:
            if not judging[0]:  # Ctrl-C: the checkpoint is saved; stop, do not judge
                raise SystemExit(
                    f"{style}: stopped at step {stopped.step}; the same command resumes from "
                    f"{stopped.checkpoint}"
                ) from None
            done = stopped.step
            snapshot = work / f"{style}.step{done}.nstmodel"
            model_from_checkpoint(checkpoint_path(output), painting, snapshot, name=style)
        if (style, done) not in judged:
            record(done, snapshot)


def first_to_meet_the_bar(work: Path, style: str) -> dict | None:
    """The judgement of the earliest step of `style` that met the bar, if any did."""
    curve = work / "curve.jsonl"
    rows = map(json.loads, curve.read_text().splitlines()) if curve.is_file() else []
    met = [row for row in rows if row["style"] == style and row["meets_bar"]]
    return min(met, key=lambda row: row["step"], default=None)


def ship(style: str, work: Path, steps: int) -> None:
    """Copy the earliest network of `style` that met the bar into the package."""
    from nst_engine import gallery

    met = first_to_meet_the_bar(work, style)
    if met is None:
        bar = f"GMD at most {GMD_RATIO_BAR}x the optimisation's, SSIM at least {SSIM_BAR}"
        print(f"{style}: not shipped (no judgement met the bar: {bar})")
        return
    final = met["step"] == steps
    source = work / (f"{style}.nstmodel" if final else f"{style}.step{met['step']}.nstmodel")
    target = gallery.network_folder() / f"{style}.nstmodel"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    print(f"{style}: shipped the network of step {met['step']} to {target}")


def contact_sheet(work: Path, style: str, photos: list[Path], steps: list[int]) -> Path:
    """DIR/<style>-sheet.jpg: per held-out photograph, the photograph, the optimisation and
    the network at each judged step (what is missing is left grey)."""
    from PIL import Image, ImageDraw

    cell, label = 256, 20
    columns = ["photo", "proposed", *(f"step{step}" for step in steps)]
    rows = []  # per photograph, its pictures at most cell x cell
    for photo in photos:
        row = []
        for name in columns:
            path = photo if name == "photo" else _output(work, style, photo, name)
            image = None
            if path.is_file():
                with Image.open(path) as opened:
                    image = opened.convert("RGB")
                    image.thumbnail((cell, cell))
            row.append(image)
        rows.append(row)
    heights = [max((i.height for i in row if i is not None), default=cell) for row in rows]
    sheet = Image.new("RGB", (cell * len(columns), label + sum(heights)), "gray")
    draw = ImageDraw.Draw(sheet)
    for x, name in enumerate(columns):
        draw.text((x * cell + 4, 4), name, fill="white")
    top = label
    for row, height in zip(rows, heights, strict=True):
        for x, image in enumerate(row):
            if image is not None:
                sheet.paste(image, (x * cell, top))
        top += height
    out = work / f"{style}-sheet.jpg"
    sheet.save(out, quality=90)
    return out


def main() -> int:
    from nst_engine import gallery

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
        "--photos", type=Path, default=PHOTOS, help="training photographs (train/, held-out/)"
    )
    parser.add_argument("--work", type=Path)
    parser.add_argument(
        "--ship",
        action="store_true",
        help="train each style until it meets the bar and copy that network into the package",
    )
    args = parser.parse_args()
    unknown = [s for s in args.styles if gallery.find(s) is None]
    if unknown:
        parser.error(f"not in the gallery: {', '.join(unknown)} (nst styles lists them)")
    scale = f"-x{args.scale}" if args.scale else ""
    palette = "" if args.palette else "-nopalette"
    strength = "" if args.strength == 0.5 else f"-st{args.strength:g}"
    recipe = f"s{args.size}{scale}-b{args.batch_size}-w{args.width}{palette}{strength}"
    work = args.work or CACHE / "training" / recipe
    work.mkdir(parents=True, exist_ok=True)
    photos = _held_out(args.photos, args.held_out)
    print(f"recipe {recipe}, judged on {', '.join(p.stem for p in photos)}; work in {work}")
    for style in args.styles:
        train_one(style, args, work, photos)
        if args.ship:
            ship(style, work, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
