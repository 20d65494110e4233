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


def test_fingerprint_tells_copies_of_a_photograph_from_other_photographs(examples, tmp_path):
    from PIL import Image

    from nst_engine.thumbnails import fingerprint, same_photograph

    photos = {name: load_image(examples / name) for name in
              ("chelsea.png", "astronaut.jpg", "coffee.jpg", "rocket.jpg")}  # fmt: skip
    chelsea = photos["chelsea.png"]
    height, width = chelsea.shape[:2]
    Image.fromarray(chelsea).resize((width // 3, height // 3)).save(tmp_path / "small.jpg",
                                                                    quality=50)  # fmt: skip
    copies = [
        load_image(tmp_path / "small.jpg"),
        chelsea.astype(np.uint16) * 257,
        chelsea.astype(np.float32) / 255,
        np.concatenate([chelsea, np.full_like(chelsea[..., :1], 255)], axis=2),  # with alpha
    ]
    original = fingerprint(chelsea)
    assert all(same_photograph(original, fingerprint(copy)) for copy in copies)

    others = [fingerprint(photos[name]) for name in photos if name != "chelsea.png"]
    others += [fingerprint(chelsea[:, ::-1]), fingerprint(chelsea[height // 4 :, width // 4 :])]
    assert not any(same_photograph(original, other) for other in others)
