"""Image files keep their precision: 8-bit, 16-bit and float, with and without alpha."""

from __future__ import annotations

import numpy as np
import pytest

from nst_engine import InputError
from nst_engine.images import load_image, save_image


@pytest.mark.parametrize(
    "suffix, dtype, channels",
    [
        (".png", np.uint8, 3),
        (".png", np.uint8, 4),
        (".png", np.uint16, 3),
        (".png", np.uint16, 4),
        (".png", np.uint16, 1),
        (".tif", np.uint16, 4),
        (".tif", np.float32, 3),
        (".tif", np.float32, 4),
    ],
)
def test_round_trip_is_exact(tmp_path, suffix, dtype, channels):
    rng = np.random.default_rng(0)
    if dtype == np.float32:
        array = rng.random((40, 50, channels), dtype=np.float32)
    else:
        array = rng.integers(0, np.iinfo(dtype).max, (40, 50, channels), endpoint=True).astype(
            dtype
        )
    path = tmp_path / f"img{suffix}"
    save_image(path, array)
    back = load_image(path)
    assert back.dtype == array.dtype and np.array_equal(back, array)


def test_load_from_bytes_and_reject_garbage(tmp_path):
    array = np.full((40, 40, 3), 7, np.uint8)
    save_image(tmp_path / "a.png", array)
    assert np.array_equal(load_image((tmp_path / "a.png").read_bytes()), array)
    with pytest.raises(InputError, match="not an image"):
        load_image(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "missing.png")
