"""A trained style network as a file.

A model file is a safetensors file (`FastStyleModel.save`, `load_model`): the network's
float32 tensors in its body and, in its header's metadata (strings), the format and its
version, the style's name, a PNG thumbnail of the style (base64), the training options and
the architecture (JSON) and a SHA-256 of the weights. Nothing in it is code, so reading one
unpickles nothing; the header gives every tensor's dtype, shape and place, so a file is
checked against the network it describes before a tensor is read (`tensor_file`). Listing a style
library (`list_models`) reads the headers only; the checksum is verified when a model is
loaded to be applied.

Model files of format version 1 (a dict that torch.save wrote) still load, read with
torch.load(weights_only=True) and held to the same checks, with a logged line asking to
convert them once (`convert_model`, `nst convert-model`): until then a listing reads them
whole. A model is applied with `nst_engine.apply_model`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from PIL import Image
from torch import nn

from ..errors import InputError
from ..thumbnails import fingerprint, same_photograph
from .files import ModelFileError, atomic_write, checked_size, read_torch_file
from .network import TransformerNet
from .tensor_file import Header, read_file, read_header, tensor_file

log = logging.getLogger(__name__)

MODEL_FORMAT = "nst-fast-style"
MODEL_VERSION = 2
PICKLED_MODEL_VERSION = 1  # torch.save's dict, read but no longer written
MODEL_SUFFIX = ".nstmodel"
WHAT = "style model"
ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive; a safetensors file never starts so


def weights_checksum(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def plain_state(network: nn.Module) -> dict[str, torch.Tensor]:
    """The network's weights as float32 CPU tensors of their own (what a file holds)."""
    return {k: v.detach().float().cpu().clone() for k, v in network.state_dict().items()}


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

    def save(self, path: str | os.PathLike) -> None:
        """Write the model file (format version 2, safetensors) atomically."""
        weights = plain_state(self.network)
        metadata = {
            "format": MODEL_FORMAT,
            "version": str(MODEL_VERSION),
            "name": self.name,
            "thumbnail_png": base64.b64encode(self.thumbnail_png).decode("ascii"),
            "options": json.dumps(self.options),
            "architecture": json.dumps(self.architecture),
            "checksum": weights_checksum(weights),
        }
        data = tensor_file(weights, metadata)
        atomic_write(Path(path), lambda temporary: temporary.write_bytes(data))


@dataclass(frozen=True)
class ModelInfo:
    """What a style library lists about one model file."""

    name: str
    path: Path
    thumbnail_png: bytes
    training_size: int
    strength: float
    steps: int


@dataclass(frozen=True)
class _Description:
    """A model file's description of itself, checked: everything but the weights."""

    name: str
    thumbnail_png: bytes
    options: dict
    architecture: dict
    checksum: str

    def info(self, path: Path) -> ModelInfo:
        size, steps = int(self.options.get("size", 0)), int(self.options.get("steps", 0))
        strength = float(self.options.get("strength", math.nan))
        return ModelInfo(self.name, path, self.thumbnail_png, size, strength, steps)


def load_model(path: str | os.PathLike) -> FastStyleModel:
    """Read and check a model file, its checksum included; raises ModelFileError (an
    InputError) with a clear message for a missing, foreign, damaged or wrong-version file.
    Never unpickles code."""
    return _load(Path(path), warn_if_old=True)


def _load(path: Path, warn_if_old: bool) -> FastStyleModel:
    if _is_pickled(path):
        description, weights = _read_pickled(path, warn_if_old)
        return _model(description, weights, path)
    header, data = read_file(path, WHAT)
    description = _described(header, path)
    try:
        weights = safetensors.torch.load(data)
    except Exception as exc:  # checked above; a failure here is a library's own refusal
        raise ModelFileError(f"{path}: the weights cannot be read ({exc})") from None
    return _model(description, weights, path)


def read_model_info(path: str | os.PathLike) -> ModelInfo:
    """What a model file says about itself, from its header only: no tensor is read and the
    checksum is not verified (a model is when it is loaded). A file of format version 1 has
    no such header and is read whole. Raises ModelFileError."""
    path = Path(path)
    if _is_pickled(path):
        return _read_pickled(path, warn_if_old=True)[0].info(path)
    return _described(read_header(path, WHAT), path).info(path)


def list_models(folder: str | os.PathLike) -> list[ModelInfo]:
    """Every valid `*.nstmodel` file in `folder` (not recursive), sorted by name, from their
    headers; damaged or foreign files are skipped with a logged warning. A missing folder
    raises InputError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such style library folder")
    found = []
    for path in sorted(folder.glob(f"*{MODEL_SUFFIX}")):
        try:
            found.append(read_model_info(path))
        except ModelFileError as exc:
            log.warning("skipping %s", exc)
    return sorted(found, key=lambda info: (info.name.lower(), str(info.path)))


def convert_model(source: str | os.PathLike, output: str | os.PathLike | None = None) -> Path:
    """Write the model file at `source` (any version this program reads) in the current
    format to `output`, by default over `source` itself (atomically). Returns the path."""
    model = _load(Path(source), warn_if_old=False)
    target = Path(output if output is not None else source)
    model.save(target)
    return target


def _is_pickled(path: Path) -> bool:
    checked_size(path, WHAT)
    with path.open("rb") as file:
        return file.read(len(ZIP_MAGIC)) == ZIP_MAGIC


def _other_version(found: object, path: Path) -> ModelFileError:
    return ModelFileError(
        f"{path}: style model format version {found!r}; this program reads versions "
        f"{PICKLED_MODEL_VERSION} and {MODEL_VERSION} only (retrain the style, or use the "
        "program that wrote it)"
    )


def _described(header: Header, path: Path) -> _Description:
    """The description in a safetensors model file's header, checked against its tensors."""
    metadata = header.metadata
    if metadata.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path}: not a style model file of this program (no {WHAT} header)")
    if metadata.get("version") != str(MODEL_VERSION):
        raise _other_version(metadata.get("version"), path)
    try:
        thumbnail = base64.b64decode(metadata.get("thumbnail_png", ""), validate=True)
    except binascii.Error:
        raise ModelFileError(f"{path}: the style thumbnail is missing or damaged") from None
    description = _checked(
        metadata.get("name"),
        thumbnail,
        _json(metadata, "options", "training options", path),
        _json(metadata, "architecture", "architecture entry", path),
        metadata.get("checksum"),
        path,
    )
    _check_fit(header.tensors, description.architecture, path)
    return description


def _json(metadata: dict[str, str], key: str, what: str, path: Path) -> object:
    try:
        return json.loads(metadata[key])
    except (KeyError, ValueError, RecursionError):
        raise ModelFileError(f"{path}: the {what} is missing or damaged") from None


def _checked(
    name: object, thumbnail: object, options: object, architecture: object, checksum: object,
    path: Path,
) -> _Description:  # fmt: skip
    """The description of any version, after checking every entry's type and range."""
    if not isinstance(name, str) or not name:
        raise ModelFileError(f"{path}: the style name is missing or damaged")
    if not isinstance(thumbnail, bytes) or not thumbnail.startswith(b"\x89PNG"):
        raise ModelFileError(f"{path}: the style thumbnail is missing or damaged")
    if not isinstance(options, dict) or not all(
        _is_number(options.get(key, 0)) for key in ("size", "steps", "strength")
    ):
        raise ModelFileError(f"{path}: the training options are missing or damaged")
    photos = options.get("photos", [])
    if not isinstance(photos, list) or not all(_is_hex(p) for p in photos):
        raise ModelFileError(f"{path}: the training photographs' fingerprints are damaged")
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
    if not _is_hex(checksum):
        raise ModelFileError(f"{path}: the weights' checksum is missing or damaged")
    shape = {"width": width, "residual_blocks": blocks, "palette": palette}
    return _Description(name, thumbnail, options, shape, checksum)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_hex(text: object) -> bool:
    return isinstance(text, str) and bool(text) and all(c in "0123456789abcdef" for c in text)


@functools.lru_cache(maxsize=32)
def _shapes(width: int, residual_blocks: int, palette: bool) -> dict[str, tuple[int, ...]]:
    """Each weight's shape in a network of this architecture, from a network on the meta
    device (which allocates nothing); kept, since building one costs more than reading a
    header."""
    with torch.device("meta"):
        state = TransformerNet(width, residual_blocks, palette).state_dict()
    return {name: tuple(tensor.shape) for name, tensor in state.items()}


def _check_fit(tensors: dict[str, tuple[str, tuple]], architecture: dict, path: Path) -> None:
    """Whether the tensors, as (dtype, shape) by name, are those of the network."""
    expected = _shapes(**architecture)
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ModelFileError(
            f"{path}: the weights do not fit the network (missing {missing[:3]}, "
            f"unexpected {[name[:80] for name in extra[:3]]})"
        )
    for name, needed in expected.items():
        dtype, shape = tensors[name]
        if shape != needed:
            raise ModelFileError(
                f"{path}: weight {name} has shape {shape}, the network needs {needed}"
            )
        if dtype != "F32":
            raise ModelFileError(f"{path}: weight {name} is {dtype}, not F32 (float32)")


def _model(
    description: _Description, weights: dict[str, torch.Tensor], path: Path
) -> FastStyleModel:
    """The loaded model, once its weights pass their checksum and are finite."""
    if description.checksum != weights_checksum(weights):
        raise ModelFileError(f"{path}: the weights fail their checksum; the file is damaged")
    if not all(bool(torch.isfinite(t).all()) for t in weights.values()):
        raise ModelFileError(f"{path}: the weights contain NaN or infinite values")
    network = TransformerNet(**description.architecture)
    network.load_state_dict(weights)
    return FastStyleModel(
        network,
        description.name,
        description.thumbnail_png,
        description.options,
        description.architecture,
        path,
    )


_warned: set[Path] = set()


def _read_pickled(path: Path, warn_if_old: bool) -> tuple[_Description, dict[str, torch.Tensor]]:
    """A model file of format version 1, held to the same checks as the current format."""
    data = read_torch_file(path, WHAT, MODEL_FORMAT, version=None)
    if data.get("version") != PICKLED_MODEL_VERSION:
        raise _other_version(data.get("version"), path)
    description = _checked(
        data.get("name"),
        data.get("thumbnail_png"),
        data.get("options"),
        data.get("architecture"),
        data.get("checksum"),
        path,
    )
    weights = data.get("weights")
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()
    ):
        raise ModelFileError(f"{path}: the weights entry is missing or damaged")
    names = {torch.float32: "F32"}
    table = {k: (names.get(v.dtype, str(v.dtype)), tuple(v.shape)) for k, v in weights.items()}
    _check_fit(table, description.architecture, path)
    if warn_if_old and path not in _warned:
        _warned.add(path)
        log.warning(
            "%s: a style model file of the old format (version 1); it loads, but convert it "
            "once with `nst convert-model %s`",
            path,
            path,
        )
    return description, weights
