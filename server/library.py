"""The style library: the folder of trained fast-mode networks (`*.nstmodel`) a server offers.

A model is named by its file name without the suffix (its id), so a user adds a style by
copying a file into the folder and removes it by deleting the file; the folder is read again
on every listing and every job, so no restart is needed. A listing reads each file's header
only; a job loads the whole file and verifies its checksum, and loaded networks are kept per
file and loaded again when the file changes.

Beside the user's folder, the networks that ship with the package (nst_engine/gallery/networks:
the gallery's trained networks, scripts/train_gallery.py) are offered out of the box; a user's
file of the same id takes their place.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import platformdirs

from nst_engine import gallery


def default_folder() -> Path:
    """$NST_MODELS, else "models" in this OS's per-user data folder for "neural-style", as
    platformdirs names it: $XDG_DATA_HOME/neural-style/models (~/.local/share/...) on Linux,
    %LOCALAPPDATA%\\neural-style\\models on Windows, ~/Library/Application
    Support/neural-style/models on macOS."""
    if os.environ.get("NST_MODELS"):
        return Path(os.environ["NST_MODELS"]).expanduser()
    return Path(platformdirs.user_data_dir("neural-style", appauthor=False)) / "models"


class StyleLibrary:
    """Lists and loads the models of one folder; thread-safe."""

    def __init__(self, folder: str | os.PathLike, shipped: Path | None = None) -> None:
        self.folder = Path(folder).expanduser()
        self.shipped = shipped if shipped is not None else gallery.network_folder()
        self._loaded: dict[Path, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def ensure_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def list(self) -> list:
        """Every valid model (nst_engine.fast.ModelInfo, from the files' headers), sorted by
        name; damaged files are skipped (and logged by the engine). A missing folder lists
        nothing."""
        from nst_engine.fast import list_models

        by_id = {}
        for folder in (self.shipped, self.folder):  # the user's own file wins
            if folder.is_dir():
                by_id.update({info.path.stem: info for info in list_models(folder)})
        return sorted(by_id.values(), key=lambda info: (info.name.lower(), str(info.path)))

    def get(self, model_id: str):
        """The loaded FastStyleModel with this id. Raises InputError (a job's
        INVALID_ARGUMENT) naming the folder and the models available when there is none, and
        the engine's ModelFileError when its file is damaged."""
        from nst_engine.errors import InputError
        from nst_engine.fast import MODEL_SUFFIX, load_model

        path = self.folder / f"{model_id}{MODEL_SUFFIX}"
        if not path.is_file():
            path = self.shipped / f"{model_id}{MODEL_SUFFIX}"
        if "/" in model_id or "\\" in model_id or model_id.startswith(".") or not path.is_file():
            available = ", ".join(info.path.stem for info in self.list()) or "none"
            raise InputError(
                f"no style model {model_id[:80]!r} in the style library {self.folder} "
                f"(available: {available}); train one with `nst train-style` and copy the "
                f".nstmodel file there"
            )
        mtime = path.stat().st_mtime
        with self._lock:
            cached = self._loaded.get(path)
            if cached is not None and cached[0] == mtime:
                return cached[1]
        model = load_model(path)
        with self._lock:
            self._loaded[path] = (mtime, model)
        return model
