"""Video files as animations (nst_engine.video): read and written through OpenCV, their
frame rate kept, bad ones refused in one line before any frame is painted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nst_engine.arrays import resized
from nst_engine.errors import InputError
from nst_engine.images import load_image

pytest.importorskip("cv2", reason="video files need the `video` extra (opencv)")

from nst_engine.frames import read_animation  # noqa: E402
from nst_engine.video import read_video, write_video  # noqa: E402

STREET = Path(__file__).resolve().parent.parent / "examples" / "frames" / "street"


@pytest.fixture(scope="module")
def street() -> list[np.ndarray]:
    """Four frames of the street video at 96 px: real motion and texture."""
    return [resized(load_image(p), 96)[..., :3] for p in sorted(STREET.glob("*.jpg"))[:4]]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255**2 / mse)


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".mkv"])
def test_a_written_video_reads_back_with_its_frames_and_rate(street, tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    write_video(path, street, 12.5)
    frames, fps = read_video(path, 10**6)
    assert fps == pytest.approx(12.5)
    assert len(frames) == len(street)
    for got, sent in zip(frames, street, strict=True):
        assert got.shape == sent.shape and got.dtype == np.uint8
        assert psnr(got, sent) > 24  # lossy, but the same pictures, in the same order
    assert psnr(frames[0], street[1]) < psnr(frames[0], street[0])
    assert not list(tmp_path.glob(".partial-*"))


def test_a_video_input_becomes_named_frames_with_its_timing(street, tmp_path):
    write_video(tmp_path / "walk.mp4", street, 20)
    animation = read_animation(tmp_path / "walk.mp4")
    assert animation.names == [f"walk-{i:04d}.png" for i in range(1, 5)]
    assert animation.durations == [50] * 4


def test_bad_videos_are_refused_in_one_line_before_decoding(street, tmp_path, monkeypatch):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(InputError, match="not a video this program can read"):
        read_video(broken, 10**6)
    write_video(tmp_path / "ok.mp4", street, 10)
    with pytest.raises(InputError, match="over the limit of 1,000 pixels"):
        read_video(tmp_path / "ok.mp4", 1000)
    monkeypatch.setattr("nst_engine.memory.free_ram_bytes", lambda: 10_000)
    with pytest.raises(InputError, match="more than is free; cut the video into shorter"):
        read_video(tmp_path / "ok.mp4", 10**6)


def test_nst_animate_paints_a_video_into_a_video(street, tmp_path):
    """A trained network (the gallery's Starry Night) keeps this quick: the output video has
    the input's frames, size and rate, and is painted (far from the source frames)."""
    from nst_engine.cli import main
    from nst_engine.gallery import network_folder

    source, out = tmp_path / "in.mp4", tmp_path / "out.avi"
    write_video(source, street, 15)
    model = str(network_folder() / "starry-night.nstmodel")
    assert main(["animate", str(source), "--model", model, "-o", str(out), "--device", "cpu"]) == 0
    frames, fps = read_video(out, 10**6)
    sources, _ = read_video(source, 10**6)
    assert fps == pytest.approx(15) and len(frames) == 4
    assert frames[0].shape == sources[0].shape
    assert all(psnr(f, s) < 20 for f, s in zip(frames, sources, strict=True))
    assert not (tmp_path / ".out.avi.frames").exists()
