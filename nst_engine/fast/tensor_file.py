"""A safetensors file, written and its header read by hand.

A safetensors file is an 8-byte little-endian length N, N bytes of JSON (the header), then
the tensors' bytes. The header maps each tensor's name to its dtype, shape and byte range, and
"__metadata__" to a str -> str dict.

`tensor_file` writes one with everything in name order, so the same model gives the same
bytes (the safetensors library orders the metadata at random). `read_header` reads only the
first 8 + N bytes, bounded, and checks that every range holds exactly what its shape needs
and that the ranges tile the rest of the file; a file that lies about its sizes is refused
before anything is allocated for its tensors. The tensors themselves are read by the
safetensors library.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .files import ModelFileError, checked_size

# Bytes per element of each safetensors dtype.
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
    "U32": 4, "I32": 4, "F32": 4,
    "U64": 8, "I64": 8, "F64": 8,
}  # fmt: skip
# The largest header read. A model's header holds its metadata (a thumbnail of about 30 kB,
# 72 characters per training photograph) and a line per tensor (a few kB).
MAX_HEADER_BYTES = 8 << 20


@dataclass(frozen=True)
class Header:
    """What a safetensors header says: the metadata and each tensor's (dtype, shape)."""

    metadata: dict[str, str]
    tensors: dict[str, tuple[str, tuple[int, ...]]]


def tensor_file(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """The bytes of a safetensors file of float32 `tensors` and `metadata`."""
    header: dict[str, object] = {"__metadata__": dict(sorted(metadata.items()))}
    chunks, offset = [], 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu()
        if tensor.dtype != torch.float32:
            raise ValueError(f"tensor {name} is {tensor.dtype}; model files hold float32 only")
        data = tensor.numpy().astype("<f4").tobytes()  # little-endian, as the format says
        header[name] = {
            "dtype": "F32",
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the tensors start 8-byte aligned
    return len(raw).to_bytes(8, "little") + raw + b"".join(chunks)


def read_header(path: Path, what: str) -> Header:
    """The checked header of the safetensors file at `path`, reading nothing past it."""
    size = checked_size(path, what)
    with path.open("rb") as file:
        length = _header_length(file.read(8), size, path, what)
        return _parse(file.read(length), size - 8 - length, path, what)


def read_file(path: Path, what: str) -> tuple[Header, bytes]:
    """The checked header of the file at `path` and the whole file, read once."""
    checked_size(path, what)
    data = path.read_bytes()
    length = _header_length(data[:8], len(data), path, what)
    return _parse(data[8 : 8 + length], len(data) - 8 - length, path, what), data


def _refused(path: Path, what: str, reason: str) -> ModelFileError:
    return ModelFileError(f"{path}: not a {what} file of this program, or a damaged one ({reason})")


def _header_length(prefix: bytes, size: int, path: Path, what: str) -> int:
    if len(prefix) < 8:
        raise _refused(path, what, f"{size} bytes, shorter than any header")
    length = int.from_bytes(prefix, "little")
    if length > MAX_HEADER_BYTES:
        raise _refused(path, what, f"it claims a header of {length:,} bytes")
    if 8 + length > size:
        raise _refused(path, what, f"it ends inside its {length:,}-byte header: truncated")
    return length


def _parse(raw: bytes, body_bytes: int, path: Path, what: str) -> Header:
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        raise _refused(path, what, "its header is not JSON") from None
    if not isinstance(header, dict):
        raise _refused(path, what, "its header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise _refused(path, what, "its metadata is not a map of strings")
    tensors, ranges = {}, []
    for name, entry in header.items():
        dtype, shape, begin, end = _entry(name, entry, path, what)
        if end - begin != math.prod(shape) * DTYPE_BYTES[dtype]:
            raise _refused(
                path, what, f"tensor {name[:80]!r} has {end - begin:,} bytes for {dtype} {shape}"
            )
        tensors[name] = (dtype, shape)
        ranges.append((begin, end))
    covered = 0
    for begin, end in sorted(ranges):
        if begin != covered:
            raise _refused(path, what, "its tensors' byte ranges overlap or leave gaps")
        covered = end
    if covered != body_bytes:
        raise _refused(
            path, what, f"its tensors take {covered:,} bytes but the file holds {body_bytes:,}"
        )
    return Header(metadata, tensors)


def _entry(name: str, entry: object, path: Path, what: str) -> tuple:
    """(dtype, shape, begin, end) of one tensor's header entry, checked for types."""

    def whole(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    if isinstance(entry, dict):
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if (
            dtype in DTYPE_BYTES
            and isinstance(shape, list)
            and len(shape) <= 8
            and all(map(whole, shape))
            and isinstance(offsets, list)
            and len(offsets) == 2
            and all(map(whole, offsets))
            and offsets[0] <= offsets[1]
        ):
            return dtype, tuple(shape), offsets[0], offsets[1]
    raise _refused(path, what, f"the header entry of tensor {name[:80]!r} is damaged")
