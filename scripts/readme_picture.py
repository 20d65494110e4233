"""The README's picture: content, style and result side by side, at one height.

    nst stylize examples/chelsea.png examples/starry_night.jpg -o /tmp/out.png --size 384
    python scripts/readme_picture.py examples/chelsea.png examples/starry_night.jpg \
        /tmp/out.png docs/images/example.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

GAP = 8


def triptych(paths: list[Path], height: int) -> Image.Image:
    """The images scaled to `height`, left to right, on white with a small gap."""
    images = []
    for path in paths:
        image = Image.open(path).convert("RGB")
        width = round(image.width * height / image.height)
        images.append(image.resize((width, height), Image.LANCZOS))
    total = sum(i.width for i in images) + GAP * (len(images) - 1)
    sheet = Image.new("RGB", (total, height), "white")
    x = 0
    for image in images:
        sheet.paste(image, (x, 0))
        x += image.width + GAP
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("content", type=Path)
    parser.add_argument("style", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--height", type=int, default=255, help="height of the strip (255)")
    args = parser.parse_args()
    triptych([args.content, args.style, args.result], args.height).save(args.output)


if __name__ == "__main__":
    main()
