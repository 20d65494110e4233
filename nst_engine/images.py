"""Image files: reading and writing them at 8-bit, 16-bit and float precision.

A file becomes an array in the engine's convention (nst_engine.arrays: H x W x C in its
native sample type) and an array is written back at the deepest precision its file type
keeps (OUTPUT_TYPES). Pillow reads and writes 8-bit files and 16-bit greyscale; 16-bit
colour PNGs go through pypng and 16-bit or float TIFFs through tifffile, because Pillow
silently drops colour PNGs to 8 bits.

Nothing is decoded before it is measured: load_image reads the file's header first
(read_header) and refuses an image whose pixel count or decoded size is over the caller's
limit, so a small file that declares a huge image (a decompression bomb) costs nothing.
"""

from __future__ import annotations

import io
import math
import os
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import png
import tifffile
from PIL import Image, UnidentifiedImageError

from .arrays import as_array, from_float, from_pil, to_float
from .errors import InputError
from .options import DEFAULT_MAX_PIXELS

# The decoded size the pixel limit allows: four float32 samples a pixel (RGBA float TIFF).
BYTES_PER_PIXEL = 16
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*")

Source = str | os.PathLike | bytes


def byte_size(count: int) -> str:
    """A byte count for people: 940 bytes, 12.3 KiB, 2.3 MiB, 1.5 GiB."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count:,} bytes"


def read_file(
    source: Source, max_pixels: int = DEFAULT_MAX_PIXELS, head: int | None = None
) -> tuple[bytes, str]:
    """The file's bytes, unless the file alone is larger than an image within the limit
    takes decoded (no image format makes a file larger than its pixels); with `head`, only
    its first `head` bytes (enough for read_header in most files)."""
    if isinstance(source, bytes | bytearray):
        return bytes(source), "the image data"
    path = Path(source)
    try:
        size, limit = path.stat().st_size, max_pixels * BYTES_PER_PIXEL
        if size > limit and path.is_file():
            raise InputError(
                f"{path}: a file of {byte_size(size)}, over the limit of {byte_size(limit)} "
                f"(what {max_pixels:,} pixels take decoded); not read"
            )
        if head is not None:
            with path.open("rb") as fh:
                return fh.read(head), str(path)
        return path.read_bytes(), str(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not an image") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror})") from None


def _read_png16(data: bytes) -> np.ndarray:
    width, height, rows, info = png.Reader(bytes=data).asDirect()
    array = np.empty((height, width * info["planes"]), np.uint16)
    for index, row in enumerate(rows):  # row by row into one buffer: no second copy
        array[index] = row
    return array.reshape(height, width, info["planes"])


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header declares, read before any pixel is decoded."""

    format: str
    width: int
    height: int
    samples: int  # values per pixel once decoded (a palette decodes to RGB or RGBA)
    sample_bytes: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_bytes(self) -> int:
        return self.pixels * self.samples * self.sample_bytes


PNG_SAMPLES = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}  # by colour type; a palette may carry alpha


def _png_header(data: bytes) -> ImageHeader:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ValueError("its PNG header (IHDR) is missing or cut short")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    if colour not in PNG_SAMPLES:
        raise ValueError(f"its PNG colour type {colour} does not exist")
    return ImageHeader("PNG", width, height, PNG_SAMPLES[colour], 2 if depth == 16 else 1)


def _tiff_header(data: bytes) -> ImageHeader:
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        series = tif.series[0]
        shape, dtype = tuple(series.shape), np.dtype(series.dtype)
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3:
        raise ValueError(f"it holds {shape} samples; only one image of H x W x C is read")
    if shape[2] > 4 and shape[0] <= 4:  # planar: C x H x W
        shape = (shape[1], shape[2], shape[0])
    height, width, samples = shape
    return ImageHeader("TIFF", width, height, samples, dtype.itemsize)


PIL_SAMPLE_BYTES = {"I;16": 2, "I;16B": 2, "I;16L": 2, "I": 4, "F": 4}


def _pil_header(data: bytes, max_pixels: int) -> ImageHeader:
    # Pillow refuses an image over twice its MAX_IMAGE_PIXELS (89 MP) even to read its header,
    # and warns from once: the caller's limit is the one that counts (checked next).
    if max_pixels > (Image.MAX_IMAGE_PIXELS or math.inf):
        Image.MAX_IMAGE_PIXELS = max_pixels  # only ever raised, never lowered
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as image:  # reads the header, decodes nothing
            width, height = image.size
            mode, fmt = image.mode, image.format or "image"
            bands = len(image.getbands())
            alpha = "transparency" in image.info
    samples = 4 if mode == "P" or alpha else bands
    return ImageHeader(fmt, width, height, samples, PIL_SAMPLE_BYTES.get(mode, 1))


def read_header(
    data: bytes, name: str = "the image data", max_pixels: int = DEFAULT_MAX_PIXELS
) -> ImageHeader:
    """The file's declared size and samples, from its header alone, refused (InputError)
    when it is no image, or over `max_pixels` or the memory that many pixels of 4 float
    samples take (a TIFF can declare more samples, or wider ones)."""
    try:
        if data.startswith(PNG_SIGNATURE):
            header = _png_header(data)
        elif data.startswith(TIFF_SIGNATURES):
            header = _tiff_header(data)
        else:
            header = _pil_header(data, max_pixels)
    except Image.DecompressionBombError:
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise InputError(
            f"{name} declares more than {limit:,} pixels, over the limit of {max_pixels:,}; "
            "scale it down first"
        ) from None
    except (UnidentifiedImageError, tifffile.TiffFileError, ValueError, OSError) as exc:
        raise InputError(f"{name}: not an image this program can read ({_reason(exc)})") from None
    if header.pixels > max_pixels:
        raise InputError(
            f"{name} is a {header.format} of {header.width}x{header.height} = "
            f"{header.pixels:,} pixels, over the limit of {max_pixels:,}; scale it down first"
        )
    if header.decoded_bytes > max_pixels * BYTES_PER_PIXEL:
        raise InputError(
            f"{name} is a {header.format} whose {header.width}x{header.height} pixels of "
            f"{header.samples} samples x {header.sample_bytes} bytes would take "
            f"{byte_size(header.decoded_bytes)} decoded, over the limit of "
            f"{byte_size(max_pixels * BYTES_PER_PIXEL)}"
        )
    return header


def _reason(exc: Exception) -> str:
    """An exception as words: Pillow names the buffer object when it cannot identify it."""
    if isinstance(exc, UnidentifiedImageError):
        return "not a PNG, JPEG, TIFF, WebP or other image file Pillow knows"
    return str(exc) or type(exc).__name__


def load_image(
    source: Source, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
) -> np.ndarray:
    """Read an image file (or its bytes) into an H x W x C array at the file's own precision.

    The header is checked against `max_pixels` (the file as given, before any resizing)
    before a single pixel is decoded. `name` is what messages call it (default: its path)."""
    data, default_name = read_file(source, max_pixels)
    name = name or default_name
    header = read_header(data, name, max_pixels)
    try:
        if header.format == "TIFF":
            array = tifffile.imread(io.BytesIO(data))
        elif header.format == "PNG" and header.sample_bytes == 2:
            array = _read_png16(data)
        else:
            with warnings.catch_warnings():  # measured against max_pixels above
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                array = from_pil(Image.open(io.BytesIO(data)))
    except (UnidentifiedImageError, png.Error, tifffile.TiffFileError, ValueError, OSError) as exc:
        raise InputError(f"{name}: not an image this program can read ({_reason(exc)})") from None
    return as_array(array, name)


@dataclass(frozen=True)
class OutputType:
    """What a file type keeps of an image."""

    name: str
    alpha: bool
    deepest: type  # the deepest sample type it stores


# One table for writing and for the warning before the work (output_losses).
OUTPUT_TYPES = {
    ".png": OutputType("PNG", True, np.uint16),
    ".tif": OutputType("TIFF", True, np.float32),
    ".tiff": OutputType("TIFF", True, np.float32),
    ".jpg": OutputType("JPEG", False, np.uint8),
    ".jpeg": OutputType("JPEG", False, np.uint8),
    ".webp": OutputType("WebP", True, np.uint8),
    ".bmp": OutputType("BMP", False, np.uint8),
}
DEPTH_NAMES = {np.dtype(np.uint8): "8-bit", np.dtype(np.uint16): "16-bit",
               np.dtype(np.float32): "32-bit float"}  # fmt: skip


def output_type(path: str | os.PathLike) -> OutputType:
    """The output type of a file name (InputError for one this program cannot write)."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_TYPES:
        raise InputError(
            f"{path}: unsupported output type {suffix or '(none)'}; use one of "
            f"{', '.join(OUTPUT_TYPES)}"
        )
    return OUTPUT_TYPES[suffix]


def output_losses(path: str | os.PathLike, channels: int, dtype: np.dtype) -> list[str]:
    """What writing an image of `channels` and `dtype` to `path` loses, in words."""
    kind, lost = output_type(path), []
    if channels in (2, 4) and not kind.alpha:
        lost.append(f"the alpha channel ({kind.name} has none)")
    if np.dtype(dtype).itemsize > np.dtype(kind.deepest).itemsize:
        lost.append(
            f"precision: the {DEPTH_NAMES[np.dtype(dtype)]} samples are stored as "
            f"{DEPTH_NAMES[np.dtype(kind.deepest)]} ({kind.name})"
        )
    return lost


@contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """The path to write `path`'s contents to: a hidden file beside it, renamed onto `path`
    when the block ends without an error. An interrupted writer never leaves a half file under
    the real name, so a rerun that skips finished outputs redoes it (the stale partial file is
    overwritten then)."""
    partial = path.with_name(f".partial-{path.name}")
    yield partial
    os.replace(partial, path)


def save_image(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an array at its own precision, as far as the file type (the extension) keeps it:
    see OUTPUT_TYPES. A deeper image is rounded to the type's deepest samples; an alpha
    channel is dropped where the type has none (output_losses says so beforehand)."""
    path = Path(path)
    array = as_array(array, str(path))
    kind = output_type(path)
    if kind.name == "TIFF":
        tifffile.imwrite(
            path,
            array.squeeze(2) if array.shape[2] == 1 else array,
            photometric="minisblack" if array.shape[2] <= 2 else "rgb",
        )
        return
    if array.dtype.itemsize > np.dtype(kind.deepest).itemsize:
        array = from_float(to_float(array), kind.deepest)
    if array.shape[2] in (2, 4) and not kind.alpha:
        array = array[:, :, :-1]
    if array.dtype == np.uint16 and array.shape[2] > 1:
        height, width, planes = array.shape
        writer = png.Writer(
            width, height, greyscale=planes <= 2, alpha=planes in (2, 4), bitdepth=16
        )
        with path.open("wb") as fh:
            writer.write_array(fh, array.reshape(-1))
        return
    if array.dtype == np.uint16:
        Image.fromarray(array[:, :, 0]).save(path)  # Pillow writes 16-bit greyscale PNG
        return
    image = Image.fromarray(array.squeeze(2) if array.shape[2] == 1 else array)
    try:
        image.save(path)
    except (ValueError, KeyError) as exc:
        raise InputError(f"{path}: cannot write this file type ({exc}); use .png or .tif") from None
