"""The engine's array conventions, and the conversions between them.

An image array is H x W x C (C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) in its native sample
type: uint8, uint16 or float32 (nominally [0, 1]); `as_array` is the one check of one. The
optimisation works on float RGB in [0, 1]: as H x W x 3 arrays (`split_channels`) and as
1 x 3 x H x W tensors (`to_tensor`, `to_numpy`). A mask is float32 H x W in [0, 1]
(`mask_array`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .errors import InputError
from .options import MIN_SIDE

SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32)


def from_pil(image: Image.Image) -> np.ndarray:
    """A decoded Pillow image as an array at its own precision (a palette or other mode
    becomes RGB, or RGBA where it has transparency)."""
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
    array = from_pil(image) if isinstance(image, Image.Image) else np.asarray(image)
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


def mask_array(mask: np.ndarray | Image.Image | None, height: int, width: int) -> np.ndarray | None:
    """The mask as float32 H x W in [0, 1], or None; its size must match the content's
    (height x width). The one check of a mask, for the engine, the command line and the
    server's client."""
    if mask is None:
        return None
    array = np.asarray(mask.convert("L") if isinstance(mask, Image.Image) else mask)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != 2:
        raise InputError(f"the mask must be a single-channel image, got shape {array.shape}")
    if array.shape != (height, width):
        raise InputError(
            f"the mask is {array.shape[1]}x{array.shape[0]} but the content is "
            f"{width}x{height}; they must be the same size"
        )
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise InputError("the mask contains NaN or infinite values")
        return np.clip(array, 0, 1).astype(np.float32)
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if array.dtype not in (np.uint8, np.uint16):
        raise InputError(f"mask sample type {array.dtype} is not supported")
    return array.astype(np.float32) / np.float32(sample_max(array.dtype))


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


def resized(array: np.ndarray, long_side: int) -> np.ndarray:
    """The image with its long side at `long_side`, same dtype and channels (what `nst
    stylize --size` does to the content)."""
    height, width = array.shape[:2]
    if max(height, width) == long_side:
        return array
    t = to_tensor(to_float(array))
    out = to_numpy(resize_tensor(t, fit_long_side(height, width, long_side)))
    if array.dtype != np.float32:
        out = out.clip(0, 1)
    return from_float(out, array.dtype)
