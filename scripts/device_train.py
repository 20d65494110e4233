#!/usr/bin/env python3
"""Train gallery networks on a lent GPU machine within one call, and send back what came of it.

    PYTHONPATH=. python3 scripts/device_train.py SECONDS [train_gallery.py options ...]

Run from the repository root on the device machine (PYTHONPATH: the project is not installed
there), with the folder that scripts/device_bundle.py packs carried (`.device`). It installs
the carried wheels, then runs
scripts/train_gallery.py with the GPU recipe (`--size 256 --scale 512 --width 32 --steps
4000 --device cuda`; any option given after SECONDS overrides it) until it ends or SECONDS
have passed, and packs into $OUT/training.tar: each finished network, the latest judged
snapshot of an unfinished one, the judged curve (curve.jsonl) and the contact sheets. The
machine is bare after the call, so nothing resumes there: a network that did not finish
comes back as its last snapshot, judged like the others.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nst_engine.evaluation.training_folder import pack

ROOT = Path(__file__).resolve().parent.parent
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
