#!/usr/bin/env python3
"""Train gallery networks on a lent GPU machine within one call, and send back what came of it.

    python3 scripts/device_train.py SECONDS [train_gallery.py options ...]

Run from the repository root on the device machine, with the folder that
scripts/device_bundle.py packs carried (`.device`). It installs the carried wheels, then runs
scripts/train_gallery.py with the GPU recipe (`--size 256 --scale 512 --width 32 --steps
4000 --device cuda`; any option given after SECONDS overrides it) until it ends or SECONDS
have passed, and packs into $OUT/training.tar: each finished network, the latest judged
snapshot of an unfinished one, the judged curve (curve.jsonl) and the contact sheets. The
machine is bare after the call, so nothing resumes there: a network that did not finish
comes back as its last snapshot, judged like the others.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from train_gallery import judged_steps  # noqa: E402

BUNDLE = ROOT / ".device"
GPU_RECIPE = [
    "--size", "256", "--scale", "512", "--width", "32", "--steps", "4000", "--device", "cuda",
]  # fmt: skip


def install_wheels() -> None:
    wheels = sorted(str(w) for w in (BUNDLE / "wheels").glob("*.whl"))
    if not wheels:
        sys.exit(f"no wheels in {BUNDLE / 'wheels'}: run python scripts/device_bundle.py here")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", *wheels],
        check=True,
    )


def latest_models(work: Path) -> list[Path]:
    """Each style's finished network, or else its latest judged snapshot (one written as the
    time ran out may have no line in the curve yet)."""
    judged = judged_steps(work / "curve.jsonl")
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
    files = [*latest_models(work), *work.glob("curve.jsonl"), *work.glob("*-sheet.jpg")]
    target = out / "training.tar"
    with tarfile.open(target, "w") as tar:
        for path in sorted(files):
            tar.add(path, arcname=path.name)
    print(f"{target}: {', '.join(p.name for p in sorted(files))}", flush=True)
    return target


def main() -> int:
    if len(sys.argv) < 2 or not sys.argv[1].isdigit():
        sys.exit(__doc__.split("\n\n")[1])
    seconds, options = int(sys.argv[1]), sys.argv[2:]
    out = Path(os.environ.get("OUT", "out"))
    out.mkdir(parents=True, exist_ok=True)
    work = Path(os.environ.get("TRAIN_WORK", "/tmp/device-training"))
    install_wheels()
    command = [
        sys.executable, str(ROOT / "scripts" / "train_gallery.py"),
        "--photos", str(BUNDLE / "training-photos"), "--work", str(work), *GPU_RECIPE, *options,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    try:
        code = subprocess.run(command, env=env, timeout=seconds).returncode
    except subprocess.TimeoutExpired:
        print(f"stopped after {seconds} s", flush=True)
        code = 0
    pack(work, out)
    return code


if __name__ == "__main__":
    sys.exit(main())
