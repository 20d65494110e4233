"""The style gallery: public-domain paintings that ship with the package, by name.

`nst styles` lists them; `nst stylize CONTENT NAME` and the server (a style given by name)
take a name where a style image is expected. Sources and licences: README.md beside this
file; scripts/fetch_gallery.sh rebuilds the images from the packages they came from.

Beside them, networks/ holds the paintings' trained fast-mode networks (<name>.nstmodel,
made by scripts/train_gallery.py), for the paintings that have one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Painting:
    name: str
    title: str
    artist: str
    year: str
    kind: str  # what the style brings: strokes, flat colour, line, texture, abstract
    file: str
    package: str = __name__

    def read_bytes(self) -> bytes:
        return resources.files(self.package).joinpath(self.file).read_bytes()

    def thumbnail_png(self) -> bytes:
        """The painting's picture for lists (thumbnails.THUMBNAIL_SIDE), made once."""
        return _thumbnail(self)


@cache
def _thumbnail(painting: Painting) -> bytes:
    from ..images import load_image  # torch: only when a picture is asked for
    from ..thumbnails import thumbnail_png

    return thumbnail_png(load_image(painting.read_bytes()))


_EXAMPLES = "nst_engine.examples"

PAINTINGS: tuple[Painting, ...] = (
    Painting("starry-night", "The Starry Night", "Vincent van Gogh", "1889", "strokes",
             "starry_night.jpg", _EXAMPLES),
    Painting("wheat-field", "Wheat Field with Cypresses", "Vincent van Gogh", "1889", "strokes",
             "wheat-field.jpg"),
    Painting("shipwreck", "The Shipwreck", "J. M. W. Turner", "1805", "strokes",
             "shipwreck.jpg", _EXAMPLES),
    Painting("trees-and-houses", "Trees and Houses Near the Jas de Bouffan", "Paul Cézanne",
             "1885-86", "blocky strokes", "trees-and-houses.jpg"),
    Painting("woman-with-hat", "Woman with a Hat", "Henri Matisse", "1905", "flat colour",
             "woman-with-hat-matisse.jpg", _EXAMPLES),
    Painting("ia-orana-maria", "Ia Orana Maria", "Paul Gauguin", "1891", "flat colour",
             "ia-orana-maria.jpg"),
    Painting("repast-of-the-lion", "The Repast of the Lion", "Henri Rousseau", "c. 1907",
             "flat colour", "repast-of-the-lion.jpg"),
    Painting("great-wave", "The Great Wave off Kanagawa", "Katsushika Hokusai", "c. 1831",
             "flat colour and line", "great-wave.png"),
    Painting("mackerel-and-prawns", "Horse-mackerel and Prawn", "Utagawa Hiroshige", "c. 1840",
             "line", "mackerel-and-prawns.png"),
    Painting("composition-viii", "Composition VIII", "Wassily Kandinsky", "1923",
             "abstract, line", "composition-viii.png"),
    Painting("circus-sideshow", "Circus Sideshow", "Georges Seurat", "1887-88",
             "texture (dots)", "circus-sideshow.jpg"),
    Painting("the-kiss", "The Kiss", "Gustav Klimt", "1907-08", "texture (gold ornament)",
             "the-kiss.png"),
)  # fmt: skip

_BY_NAME = {painting.name: painting for painting in PAINTINGS}


def names() -> list[str]:
    return [painting.name for painting in PAINTINGS]


def find(name: str) -> Painting | None:
    """The painting of that name (case and surrounding spaces ignored), or None."""
    return _BY_NAME.get(name.strip().lower())


def resolve(style: str | os.PathLike) -> Painting | None:
    """The painting a STYLE argument names: None when it is an existing file (a file always
    wins) or names no painting. The one place that decides what a style argument means."""
    if Path(style).exists():
        return None
    return find(str(style))


def painting_of_file(path: str | os.PathLike) -> Painting | None:
    """The painting whose file `path` is, byte for byte (the examples folder holds three of
    them), or None."""
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None
    return _by_digest().get(digest)


@cache
def _by_digest() -> dict[str, Painting]:
    return {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in PAINTINGS}


def network_folder() -> Path:
    """Where the package's trained networks are (networks/ beside this file)."""
    return Path(str(resources.files(__name__).joinpath("networks")))


def network(name: str) -> Path | None:
    """The trained network that ships for the painting of that name, or None."""
    painting = find(name)
    path = network_folder() / f"{painting.name}.nstmodel" if painting else None
    return path if path is not None and path.is_file() else None
