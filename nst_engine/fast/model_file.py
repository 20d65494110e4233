"""A trained style network as a file, and applying it.

A model is one file (`FastStyleModel.save` / `load_model`): a dict of plain tensors,
strings, numbers and bytes written by `torch.save` and read with `weights_only=True`, so
loading never runs pickled code. It holds the weights, the style's name, a PNG thumbnail of
the style, the training options, the architecture, a format version and a SHA-256 of the
weights; loading checks every one of them.

Applying a model goes through `api.stylize(..., model=...)`, so masks, colour preservation,
alpha, sample types and bit-identical pixels outside the mask work exactly as for the other
methods. `apply_model` is the short way to call it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..errors import InputError
from ..options import CancelCheck, StyleOptions, StyleResult
from ..thumbnails import fingerprint, same_photograph
from .network import TransformerNet

log = logging.getLogger(__name__)

MODEL_FORMAT = "nst-fast-style"
CHECKPOINT_FORMAT = "nst-fast-style-checkpoint"
FORMAT_VERSION = 1
MODEL_SUFFIX = ".nstmodel"


class ModelFileError(InputError):
    """A model or checkpoint file is missing, foreign, damaged or from another version."""


def weights_checksum(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def _plain_state(network: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().float().cpu().clone() for k, v in network.state_dict().items()}


def _atomic_save(data: dict, path: Path) -> None:
    """torch.save to a temporary file beside `path`, then rename: never a half-written file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(data, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


# The largest model or checkpoint file read (a width-32 model is 6.7 MB): torch.load reads
# a file whole, so a huge one is refused before it is read.
MAX_FILE_BYTES = 256 << 20


def _read(path: str | os.PathLike, what: str) -> dict:
    """torch.load with weights_only=True (plain tensors and values only, never code)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such {what} file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ModelFileError(
            f"{path}: {path.stat().st_size / 2**20:,.0f} MiB, far more than a {what} file of "
            f"this program (at most {MAX_FILE_BYTES >> 20} MiB); not read"
        )
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a foreign or damaged file
        reason = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:160]
        raise ModelFileError(
            f"{path}: not a {what} file of this program, or a damaged one ({reason})"
        ) from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: not a {what} file of this program")
    return data


def _check_header(data: dict, path: Path, expected_format: str, what: str) -> None:
    if data.get("format") != expected_format:
        raise ModelFileError(f"{path}: not a {what} file of this program (no {what} header)")
    version = data.get("version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: {what} format version {version!r}; this program reads version "
            f"{FORMAT_VERSION} only (retrain the style, or use the program that wrote it)"
        )


def _checked_network(data: dict, path: Path) -> TransformerNet:
    """The network the file describes, with its weights, after checking shapes and checksum."""
    architecture = data.get("architecture")
    if not isinstance(architecture, dict):
        raise ModelFileError(f"{path}: the architecture entry is missing or damaged")
    width, blocks = architecture.get("width"), architecture.get("residual_blocks")
    if not (isinstance(width, int) and 1 <= width <= 256):
        raise ModelFileError(f"{path}: network width {width!r} is out of range")
    if not (isinstance(blocks, int) and 0 <= blocks <= 32):
        raise ModelFileError(f"{path}: residual block count {blocks!r} is out of range")
    palette = architecture.get("palette", False)  # files written before palettes have none
    if not isinstance(palette, bool):
        raise ModelFileError(f"{path}: the palette entry {palette!r} is damaged")
    weights = data.get("weights")
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()
    ):
        raise ModelFileError(f"{path}: the weights entry is missing or damaged")
    network = TransformerNet(width, blocks, palette)
    expected = network.state_dict()
    missing, extra = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or extra:
        raise ModelFileError(
            f"{path}: the weights do not fit the network (missing {missing[:3]}, "
            f"unexpected {extra[:3]})"
        )
    for name, tensor in expected.items():
        if tuple(weights[name].shape) != tuple(tensor.shape):
            raise ModelFileError(
                f"{path}: weight {name} has shape {tuple(weights[name].shape)}, the network "
                f"needs {tuple(tensor.shape)}"
            )
        if weights[name].dtype != torch.float32:
            raise ModelFileError(f"{path}: weight {name} is {weights[name].dtype}, not float32")
    if data.get("checksum") != weights_checksum(weights):
        raise ModelFileError(f"{path}: the weights fail their checksum; the file is damaged")
    if not all(bool(torch.isfinite(t).all()) for t in weights.values()):
        raise ModelFileError(f"{path}: the weights contain NaN or infinite values")
    network.load_state_dict(weights)
    return network.eval().requires_grad_(False)


def _is_hex(text: object) -> bool:
    return isinstance(text, str) and bool(text) and all(c in "0123456789abcdef" for c in text)


class FastStyleModel:
    """A loaded style network with its description; `render` applies it to a tensor.

    Thread-safe: one copy of the network per device, made on first use.
    """

    def __init__(
        self,
        network: TransformerNet,
        name: str,
        thumbnail_png: bytes,
        options: dict,
        architecture: dict,
        path: Path | None = None,
    ) -> None:
        self.network = network.eval().requires_grad_(False)
        self.name = name
        self.thumbnail_png = thumbnail_png
        self.options = dict(options)
        self.architecture = dict(architecture)
        self.path = path
        self._copies: dict[str, nn.Module] = {"cpu": self.network}
        self._lock = threading.Lock()

    @property
    def training_size(self) -> int:
        return int(self.options.get("size", 0))

    @property
    def strength(self) -> float:
        return float(self.options.get("strength", math.nan))

    def trained_on(self, image: np.ndarray | Image.Image) -> bool | None:
        """Whether `image` is one of the photographs this network was trained on (a copy of
        it resized or recompressed counts); None when the file does not say (older files)."""
        photos = self.options.get("photos")
        if photos is None:
            return None
        mine = fingerprint(image)
        return any(same_photograph(mine, photo) for photo in photos)

    def _on(self, device: torch.device) -> nn.Module:
        key = str(device)
        with self._lock:
            if key not in self._copies:
                copy = TransformerNet(**self.architecture)
                copy.load_state_dict(self.network.state_dict())
                copy = copy.eval().requires_grad_(False)
                if device.type == "cuda":
                    copy = copy.to(device, memory_format=torch.channels_last)
                self._copies[key] = copy.to(device)
            return self._copies[key]

    @torch.inference_mode()
    def render(self, content: torch.Tensor) -> torch.Tensor:
        """B x 3 x H x W RGB in [0, 1] on any device -> the styled image, same shape, float32,
        clamped to [0, 1]. float16 autocast and channels_last on CUDA."""
        network = self._on(content.device)
        if content.device.type == "cuda":
            content = content.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.float16):
                out = network(content)
        else:
            out = network(content)
        return out.float().clamp(0, 1).contiguous()

    def to_dict(self) -> dict:
        weights = _plain_state(self.network)
        return {
            "format": MODEL_FORMAT,
            "version": FORMAT_VERSION,
            "name": self.name,
            "thumbnail_png": self.thumbnail_png,
            "options": self.options,
            "architecture": self.architecture,
            "weights": weights,
            "checksum": weights_checksum(weights),
        }

    def save(self, path: str | os.PathLike) -> None:
        _atomic_save(self.to_dict(), Path(path))


def load_model(path: str | os.PathLike) -> FastStyleModel:
    """Read and check a model file; raises ModelFileError (an InputError) with a clear message
    for a missing, foreign, damaged or wrong-version file. Never unpickles code."""
    path = Path(path)
    data = _read(path, "style model")
    _check_header(data, path, MODEL_FORMAT, "style model")
    name, thumbnail, options = data.get("name"), data.get("thumbnail_png"), data.get("options")
    if not isinstance(name, str) or not name:
        raise ModelFileError(f"{path}: the style name is missing or damaged")
    if not isinstance(thumbnail, bytes) or not thumbnail.startswith(b"\x89PNG"):
        raise ModelFileError(f"{path}: the style thumbnail is missing or damaged")
    if not isinstance(options, dict):
        raise ModelFileError(f"{path}: the training options are missing or damaged")
    photos = options.get("photos", [])
    if not isinstance(photos, list) or not all(_is_hex(p) for p in photos):
        raise ModelFileError(f"{path}: the training photographs' fingerprints are damaged")
    network = _checked_network(data, path)
    return FastStyleModel(network, name, thumbnail, options, data["architecture"], path)


@dataclass(frozen=True)
class ModelInfo:
    """What a style library lists about one model file."""

    name: str
    path: Path
    thumbnail_png: bytes
    training_size: int
    strength: float
    steps: int


def list_models(folder: str | os.PathLike) -> list[ModelInfo]:
    """Every valid `*.nstmodel` file in `folder` (not recursive), sorted by name; damaged or
    foreign files are skipped with a logged warning. A missing folder raises InputError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such style library folder")
    found = []
    for path in sorted(folder.glob(f"*{MODEL_SUFFIX}")):
        try:
            model = load_model(path)
        except ModelFileError as exc:
            log.warning("skipping %s", exc)
            continue
        found.append(
            ModelInfo(
                model.name,
                path,
                model.thumbnail_png,
                model.training_size,
                model.strength,
                int(model.options.get("steps", 0)),
            )
        )
    return sorted(found, key=lambda info: (info.name.lower(), str(info.path)))


def apply_model(
    model: FastStyleModel | str | os.PathLike,
    content: np.ndarray | Image.Image,
    *,
    mask: np.ndarray | Image.Image | None = None,
    options: StyleOptions | None = None,
    cancel: CancelCheck | None = None,
) -> StyleResult:
    """Stylise `content` with a trained model: `api.stylize(content, None, model=...)`.

    Uses options.size, preserve_color, device and max_pixels (method, strength, quality and
    iterations belong to the optimisation and are ignored: the strength was fixed at training).
    """
    from ..api import stylize

    if not isinstance(model, FastStyleModel):
        model = load_model(model)
    return stylize(content, None, mask=mask, options=options, cancel=cancel, model=model)
