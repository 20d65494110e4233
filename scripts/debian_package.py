"""Reading files out of a Debian package (.deb) in plain Python: the scripts that fetch the
project's photographs use it, on any system (no dpkg needed)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile

DECOMPRESS = {".xz": lzma.decompress, ".gz": gzip.decompress, ".bz2": bz2.decompress}


def deb_files(blob: bytes, wanted: set[str], name: str = "the .deb") -> dict[str, bytes]:
    """The wanted files (paths without a leading ./) of a .deb's bytes: an ar archive whose
    data.tar.* holds the package's files. Files not in the package are left out."""
    if not blob.startswith(b"!<arch>\n"):
        raise SystemExit(f"{name}: not a .deb (ar) archive")
    offset = 8
    while offset + 60 <= len(blob):
        member = blob[offset : offset + 16].decode().strip().rstrip("/")
        size = int(blob[offset + 48 : offset + 58].decode().strip())
        body = blob[offset + 60 : offset + 60 + size]
        offset += 60 + size + (size % 2)
        if not member.startswith("data.tar"):
            continue
        suffix = member[len("data.tar") :]
        if suffix and suffix not in DECOMPRESS:
            raise SystemExit(f"{name}: {member} is compressed in a way Python can't read")
        raw = DECOMPRESS[suffix](body) if suffix else body
        found = {}
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            for info in tar.getmembers():
                path = info.name.removeprefix("./")
                if path in wanted and (info.isfile() or info.islnk() or info.issym()):
                    found[path] = tar.extractfile(info).read()
        return found
    raise SystemExit(f"{name}: the .deb has no data archive")
