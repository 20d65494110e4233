"""What a run of `gallery_training` leaves in its folder, and reading it back: the judged
curve (curve.jsonl, one judgement a line), the networks (STYLE.nstmodel when finished,
STYLE.stepN.nstmodel at each judged step), the judged pictures and the contact sheets.

Standard library only: scripts/device_train.py packs a folder on a machine where the
engine's own dependencies are installed only as the call starts.
"""

from __future__ import annotations

import json
import math
import tarfile
from pathlib import Path


def cache_folder() -> Path:
    """The project's cache folder, as the platform names it (platformdirs; on Linux
    ~/.cache/neural-style-gimp): training runs work in cache_folder()/training/<recipe>/.
    platformdirs is imported here, not above: scripts/device_train.py imports this module
    before the engine's dependencies are installed on the device machine."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("neural-style-gimp", appauthor=False))


def default_photos_folder() -> Path:
    """Where scripts/fetch_training_photos.py puts the training photographs by default
    (train/ and held-out/ in it)."""
    return cache_folder() / "training-photos"


def network_path(work: Path, style: str, step: int | None = None) -> Path:
    """The finished network of `style` (step None), or its snapshot at a judged step."""
    return work / (f"{style}.nstmodel" if step is None else f"{style}.step{step}.nstmodel")


def judged_picture(work: Path, style: str, photo: Path, what: str) -> Path:
    """Where a judged picture is kept (DIR/outputs; the optimisation's, shared by every
    recipe, beside DIR), for the contact sheet. `what`: "proposed" or "step<N>"."""
    folder = work.parent / "reference" if what == "proposed" else work / "outputs"
    return folder / f"{style}-{photo.stem}-{what}.jpg"


def curve_rows(work: Path) -> list[dict]:
    """Every judgement in DIR/curve.jsonl (none if it does not exist yet)."""
    curve = work / "curve.jsonl"
    return [json.loads(row) for row in curve.read_text().splitlines()] if curve.is_file() else []


def judged_steps(work: Path) -> set[tuple[str, int]]:
    """(style, step) of every judgement of the run in `work`."""
    return {(row["style"], row["step"]) for row in curve_rows(work)}


def first_to_meet_the_bar(work: Path, style: str) -> dict | None:
    """The judgement of the earliest step of `style` that met the bar, if any did."""
    met = [row for row in curve_rows(work) if row["style"] == style and row["meets_bar"]]
    return min(met, key=lambda row: row["step"], default=None)


def latest_models(work: Path) -> list[Path]:
    """Each style's finished network, or else its latest judged snapshot (one written as the
    time ran out may have no line in the curve yet)."""
    judged = judged_steps(work)
    best: dict[str, tuple[float, Path]] = {}
    for model in work.glob("*.nstmodel"):  # STYLE.nstmodel, or STYLE.stepN.nstmodel
        style, _, step = model.name.removesuffix(".nstmodel").partition(".step")
        if step and (style, int(step)) not in judged:
            continue
        rank = int(step) if step else math.inf  # a finished network beats any snapshot
        if style not in best or rank > best[style][0]:
            best[style] = (rank, model)
    return sorted(model for _, model in best.values())


def pack(work: Path, out: Path) -> Path:
    """out/training.tar: each style's latest network, the curve and the contact sheets (no
    checkpoints, no pile of snapshots: what a bare machine sends back)."""
    files = [*latest_models(work), *work.glob("curve.jsonl"), *work.glob("*-sheet.jpg")]
    target = out / "training.tar"
    with tarfile.open(target, "w") as tar:
        for path in sorted(files):
            tar.add(path, arcname=path.name)
    print(f"{target}: {', '.join(p.name for p in sorted(files))}", flush=True)
    return target
