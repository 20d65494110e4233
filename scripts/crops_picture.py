"""A 100 % crop of the same box from each image, side by side: how much real detail a
full-size result has (docs/images/full-resolution-crops.jpg).

    python scripts/crops_picture.py --box 2380 1660 640 480 \
        -o docs/images/full-resolution-crops.jpg photo.jpg before.png after.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

GAP = 8


def crops(paths: list[Path], left: int, top: int, width: int, height: int) -> Image.Image:
    """The box from each image at its own pixels (no resampling), left to right on white."""
    Image.MAX_IMAGE_PIXELS = None  # our own photographs, read once
    sheet = Image.new("RGB", (len(paths) * (width + GAP) - GAP, height), "white")
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            box = image.convert("RGB").crop((left, top, left + width, top + height))
        sheet.paste(box, (i * (width + GAP), 0))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument(
        "--box", nargs=4, type=int, required=True, metavar=("LEFT", "TOP", "WIDTH", "HEIGHT")
    )
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    crops(args.images, *args.box).save(args.output, quality=88)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
