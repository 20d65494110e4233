"""Image input and output: files and arrays at 8-bit, 16-bit and float precision.

Arrays are always H x W x C (C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) in their native dtype:
uint8, uint16 or float32 (nominally [0, 1]). Pillow reads and writes 8-bit files and 16-bit
greyscale; 16-bit colour PNGs go through pypng and 16-bit or float TIFFs through tifffile,
because Pillow silently drops colour PNGs to 8 bits.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import png
import tifffile
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from .errors import InputError

MIN_SIDE = 32
SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*")

Source = str | os.PathLike | bytes


def _read_bytes(source: Source) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray):
        return bytes(source), "the image data"
    path = Path(source)
    try:
        return path.read_bytes(), str(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not an image") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror})") from None


def _read_png16(data: bytes) -> np.ndarray:
    width, height, rows, info = png.Reader(bytes=data).asDirect()
    array = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    return array.reshape(height, width, info["planes"])


def load_image(source: Source) -> np.ndarray:
    """Read an image file (or its bytes) into an H x W x C array at the file's own precision."""
    data, name = _read_bytes(source)
    try:
        if data.startswith(TIFF_SIGNATURES):
            array = tifffile.imread(io.BytesIO(data))
        elif data.startswith(PNG_SIGNATURE) and len(data) > 24 and data[24] == 16:
            array = _read_png16(data)
        else:
            array = _from_pil(Image.open(io.BytesIO(data)))
    except InputError:
        raise
    except (UnidentifiedImageError, png.Error, tifffile.TiffFileError, ValueError, OSError) as exc:
        raise InputError(f"{name}: not an image this program can read ({exc})") from None
    return as_array(array, name)


def _from_pil(image: Image.Image) -> np.ndarray:
    image.load()
    if image.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(image, dtype=np.uint16)
    if image.mode == "I":
        return np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
    if image.mode == "F":
        return np.asarray(image, dtype=np.float32)
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        has_alpha = "A" in image.getbands() or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    return np.asarray(image)


def as_array(image: np.ndarray | Image.Image, name: str = "the image") -> np.ndarray:
    """Check and normalise an image to H x W x C in uint8, uint16 or float32."""
    array = _from_pil(image) if isinstance(image, Image.Image) else np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or not 1 <= array.shape[2] <= 4:
        raise InputError(
            f"{name}: expected an H x W x C image with 1 to 4 channels, got shape {array.shape}"
        )
    if array.dtype == np.float64 or array.dtype == np.float16:
        array = array.astype(np.float32)
    if array.dtype not in SUPPORTED_DTYPES:
        raise InputError(
            f"{name}: sample type {array.dtype} is not supported "
            "(use 8-bit, 16-bit or 32-bit float)"
        )
    height, width = array.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InputError(
            f"{name} is {width}x{height} pixels; both sides must be at least {MIN_SIDE} pixels"
        )
    if array.dtype == np.float32 and not np.isfinite(array).all():
        raise InputError(f"{name} contains NaN or infinite values")
    return np.ascontiguousarray(array)


def save_image(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an array at its own precision; the file type follows the extension.

    PNG keeps 8 and 16 bits; TIFF keeps 8, 16 and float; JPEG and WebP are 8-bit only, so a
    deeper image is rounded to 8 bits for them.
    """
    path = Path(path)
    array = as_array(array, str(path))
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        tifffile.imwrite(
            path,
            array.squeeze(2) if array.shape[2] == 1 else array,
            photometric="minisblack" if array.shape[2] <= 2 else "rgb",
        )
        return
    if array.dtype == np.float32 or (suffix not in (".png",) and array.dtype == np.uint16):
        if suffix == ".png":  # a float image keeps as much precision as PNG allows
            array = from_float(to_float(array), np.uint16)
        else:
            array = from_float(to_float(array), np.uint8)
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
    if suffix in (".jpg", ".jpeg") and array.shape[2] in (2, 4):
        array = array[:, :, :-1]  # JPEG has no alpha
    image = Image.fromarray(array.squeeze(2) if array.shape[2] == 1 else array)
    try:
        image.save(path)
    except (ValueError, KeyError) as exc:
        raise InputError(f"{path}: cannot write this file type ({exc}); use .png or .tif") from None


def sample_max(dtype: np.dtype) -> float:
    """The value that means "full intensity" for a dtype (1.0 for float)."""
    return {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(np.dtype(dtype), 1.0)


def to_float(array: np.ndarray) -> np.ndarray:
    """Samples as float32 with full intensity at 1.0 (float input is returned as float32)."""
    return array.astype(np.float32) / np.float32(sample_max(array.dtype))


def from_float(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float samples back to `dtype`, rounded and clipped for the integer types."""
    if np.dtype(dtype) == np.float32:
        return array.astype(np.float32)
    top = sample_max(dtype)
    return np.clip(np.rint(array * top), 0, top).astype(dtype)


def split_channels(array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Float colour as H x W x 3 RGB in [0, 1], plus the alpha channel (float) if any."""
    rgb = to_float(array)
    alpha = None
    if rgb.shape[2] in (2, 4):
        rgb, alpha = rgb[:, :, :-1], rgb[:, :, -1]
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    return np.clip(rgb, 0.0, 1.0), alpha


def luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of float RGB (H x W x 3) -> H x W."""
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def to_tensor(rgb: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """H x W x 3 float array -> 1 x 3 x H x W tensor."""
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None].to(device)


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """1 x C x H x W tensor -> H x W x C float32 array."""
    return tensor.detach()[0].float().permute(1, 2, 0).cpu().numpy()


def resize_tensor(tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a B x C x H x W tensor to (H, W): antialiased when shrinking, bicubic otherwise."""
    if tuple(tensor.shape[-2:]) == tuple(size):
        return tensor
    shrinking = size[0] < tensor.shape[-2] or size[1] < tensor.shape[-1]
    mode = "bilinear" if shrinking else "bicubic"
    out = F.interpolate(tensor, size=size, mode=mode, align_corners=False, antialias=shrinking)
    return out.clamp(0, 1) if mode == "bicubic" else out


def fit_long_side(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(H, W) scaled so the long side is `long_side`, keeping the aspect ratio."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))
