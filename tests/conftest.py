"""Shared fixtures: small copies of the example images, so the real VGG-19 runs fast on a CPU."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from nst_engine.images import load_image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
STYLE_FILES = ("starry_night.jpg", "shipwreck.jpg", "woman-with-hat-matisse.jpg")


def small(array: np.ndarray, long_side: int) -> np.ndarray:
    from nst_engine.arrays import resized

    return resized(array, long_side)


@pytest.fixture(scope="session", autouse=True)
def server_files_outside_home(tmp_path_factory):
    """Servers started by the tests (they inherit the environment) keep their default style
    library and their state (pid file, log, measured speed) in temporary folders, not in the
    home directory of whoever runs the tests."""
    folders = {"NST_MODELS": "default-models", "XDG_STATE_HOME": "state"}
    previous = {name: os.environ.get(name) for name in folders}
    for name, folder in folders.items():
        os.environ[name] = str(tmp_path_factory.mktemp(folder))
    yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def examples() -> Path:
    """The repository's example images (credits in examples/README.md)."""
    return EXAMPLES


@pytest.fixture(scope="session")
def content() -> np.ndarray:
    """The cat, 96x64, uint8 RGB."""
    return small(load_image(EXAMPLES / "chelsea.png"), 96)


@pytest.fixture(scope="session")
def content_256() -> np.ndarray:
    """The cat, 256x170: large enough for two coarse-to-fine levels (128 and 256 px)."""
    return small(load_image(EXAMPLES / "chelsea.png"), 256)


@pytest.fixture(scope="session")
def starry_whole() -> np.ndarray:
    """The Starry Night at its own size (what a user hands the engine, and GMD judges by)."""
    return load_image(EXAMPLES / "starry_night.jpg")


@pytest.fixture(scope="session")
def styles() -> dict[str, np.ndarray]:
    """Three very different paintings at 96 pixels on the long side."""
    return {name: small(load_image(EXAMPLES / name), 96) for name in STYLE_FILES}


@pytest.fixture(scope="session")
def starry(styles) -> np.ndarray:
    return styles["starry_night.jpg"]
