"""What fast mode's files share: their error, their size limit, writing one atomically, and
reading the files that `torch.save` writes (training checkpoints, and model files of format
version 1) without ever running pickled code."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import InputError

# The largest model or checkpoint file read (a width-32 model is 6.7 MB): a file is read
# whole, so a huge one is refused before it is read.
MAX_FILE_BYTES = 256 << 20


class ModelFileError(InputError):
    """A model or checkpoint file is missing, foreign, damaged or from another version."""


def checked_size(path: Path, what: str) -> int:
    """The size of the file at `path`; refuses a missing file and one too large to read."""
    if not path.is_file():
        raise ModelFileError(f"{path}: no such {what} file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ModelFileError(
            f"{path}: {size / 2**20:,.0f} MiB, far more than a {what} file of this program "
            f"(at most {MAX_FILE_BYTES >> 20} MiB); not read"
        )
    return size


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """`write` a temporary file beside `path`, then rename it: never a half-written file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def save_torch_file(data: dict, path: Path) -> None:
    """torch.save of plain tensors and values, atomically (training checkpoints)."""
    atomic_write(path, lambda temporary: torch.save(data, temporary))


def read_torch_file(path: Path, what: str, expected_format: str, version: int | None) -> dict:
    """A dict that `save_torch_file` wrote with {"format": expected_format, "version":
    version}, read with torch.load(weights_only=True): plain tensors and values, never code.
    With version None the caller checks the version."""
    checked_size(path, what)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a foreign or damaged file
        reason = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:160]
        raise ModelFileError(
            f"{path}: not a {what} file of this program, or a damaged one ({reason})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != expected_format:
        raise ModelFileError(f"{path}: not a {what} file of this program (no {what} header)")
    if version is not None and data.get("version") != version:
        raise ModelFileError(
            f"{path}: {what} format version {data.get('version')!r}; this program reads "
            f"version {version} only (start the training over, or use the program that wrote it)"
        )
    return data
