"""Animations: optical flow and its reliability, the warping error, temporal styling of
frame sequences, and `nst animate` (frame folders, animated files, resume, bad input)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nst_engine.arrays import resized, to_float, to_tensor
from nst_engine.images import load_image

pytest.importorskip("cv2", reason="optical flow needs the `video` extra (opencv)")

from nst_engine.flow import motion, optical_flow, warp  # noqa: E402
from nst_engine.metrics import warping_error  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """The rocket photograph, 160 px wide, float RGB: texture for the flow to follow."""
    return to_float(resized(load_image(EXAMPLES / "rocket.jpg"), 160))[..., :3]


def pan(photo: np.ndarray, frames: int, step: tuple[int, int], size=(64, 96)) -> list:
    """Windows of `size` (h, w) moving `step` (x, y) pixels a frame over the photograph."""
    h, w = size
    return [
        np.ascontiguousarray(photo[8 + t * step[1] : 8 + t * step[1] + h, 8 + t * step[0] :][:, :w])
        for t in range(frames)
    ]


def test_flow_recovers_a_known_pan_within_a_third_of_a_pixel(photo):
    first, second = pan(photo, 2, (3, 2), size=(96, 128))
    flow = optical_flow(first, second)
    # first(x) = second(x - (3, 2)): the flow is (-3, -2) everywhere the window overlaps.
    inner = flow[6:-6, 6:-6]
    error = np.linalg.norm(inner - np.array([-3.0, -2.0]), axis=-1)
    assert np.median(error) < 0.33, np.median(error)
    assert error.mean() < 0.5, error.mean()


def test_warping_the_next_frame_back_reproduces_the_frame(photo):
    first, second = pan(photo, 2, (3, 2))
    step = motion(first, second)  # the flow from `first` to `second`
    back = warp(to_tensor(second), step.flow)
    reliable = step.reliable[0, 0].bool()
    difference = (back - to_tensor(first)).abs().mean(1)[0]
    unwarped = (to_tensor(second) - to_tensor(first)).abs().mean(1)[0]
    assert difference[reliable].mean() < 0.25 * unwarped[reliable].mean()
    # The strip whose content comes from outside the next window is not trusted.
    assert step.reliable[0, 0, :, :2].mean() < 0.1


def test_occlusion_check_marks_the_strip_a_moving_patch_uncovers():
    rng = np.random.default_rng(3)
    background = rng.random((72, 96, 3)).astype(np.float32)
    background = np.asarray(
        torch.nn.functional.avg_pool2d(
            torch.from_numpy(background).permute(2, 0, 1), 3, 1, 1
        ).permute(1, 2, 0)
    )
    patch = np.clip(rng.random((24, 24, 3)).astype(np.float32) * 0.5 + 0.4, 0, 1)
    before, after = background.copy(), background.copy()
    before[24:48, 20:44] = patch
    after[24:48, 30:54] = patch  # the patch moves 10 px right: x 20..30 is uncovered
    step = motion(after, before)  # from `after` back to `before`
    reliable = step.reliable[0, 0].numpy()
    assert reliable[28:44, 22:28].mean() < 0.3, reliable[28:44, 22:28].mean()
    assert reliable[4:16, 4:90].mean() > 0.9, reliable[4:16, 4:90].mean()


def test_warping_error_is_low_for_a_pan_and_high_for_flicker(photo):
    frames = pan(photo, 4, (2, 1))
    rng = np.random.default_rng(0)
    flicker = [np.clip(f + rng.normal(0, 0.1, f.shape), 0, 1).astype(np.float32) for f in frames]
    steady = warping_error(frames, frames)
    assert steady < 0.005, steady
    assert warping_error(flicker, frames) > 5 * steady


# Styling: tiny frames and a handful of iterations, so the real VGG-19 runs on a CPU.
FAST = dict(iterations=6, size=64, device="cpu")


@pytest.fixture(scope="module")
def starry() -> np.ndarray:
    return resized(load_image(EXAMPLES / "starry_night.jpg"), 64)


@pytest.fixture(scope="module")
def workspace():
    from nst_engine.workspace import Workspace

    return Workspace("cpu")


def test_temporal_styling_of_a_pan_flickers_less_than_styling_each_frame_alone(
    photo, starry, workspace
):
    from nst_engine.options import StyleOptions
    from nst_engine.sequence import stylize_sequence

    frames = pan(photo, 3, (2, 1), size=(48, 64))
    options = StyleOptions(**FAST)
    runs = {
        temporal: [
            r.image
            for r in stylize_sequence(
                frames, starry, options=options, temporal=temporal, workspace=workspace
            )
        ]
        for temporal in (False, True)
    }
    together, alone = (warping_error(runs[t], frames) for t in (True, False))
    assert together < 0.5 * alone, (together, alone)


def test_a_later_frame_plans_the_share_of_the_steps_it_runs(photo, starry, workspace):
    """The progress a later temporal frame reports counts the steps it runs (a share of the
    first frame's), so a bar over the frame fills, and the server's over the sequence."""
    from nst_engine.options import StyleOptions
    from nst_engine.sequence import stylize_sequence
    from nst_engine.temporal import ITERATION_SHARE

    last = {}
    options = StyleOptions(size=64, iterations=20, seed=0)
    frames = pan(photo, 2, (2, 1), size=(48, 64))
    for _ in stylize_sequence(
        frames, starry, options=options, workspace=workspace,
        progress=lambda index, p: last.__setitem__(index, (p.step, p.total_steps)),
    ):  # fmt: skip
        pass
    (first_ran, first_planned), (later_ran, later_planned) = last[0], last[1]
    assert first_ran == first_planned == 20
    assert later_ran == later_planned < first_planned
    assert later_planned == pytest.approx(first_planned * ITERATION_SHARE, abs=2)


def test_pixels_outside_the_mask_are_the_source_in_every_frame(photo, starry, workspace):
    from nst_engine.options import StyleOptions
    from nst_engine.sequence import stylize_sequence

    frames = [(f * 65535).astype(np.uint16) for f in pan(photo, 2, (2, 1), size=(48, 64))]
    mask = np.zeros((48, 64), np.float32)
    mask[8:40, 8:40] = 1.0
    options = StyleOptions(iterations=2, size=64, device="cpu")
    results = list(
        stylize_sequence(frames, starry, mask=mask, options=options, workspace=workspace)
    )
    for frame, result in zip(frames, results, strict=True):
        assert result.image.dtype == np.uint16
        outside = mask == 0
        assert np.array_equal(result.image[outside], frame[outside])
        assert not np.array_equal(result.image[~outside], frame[~outside])


def _nst(argv: list[str]) -> int:
    from nst_engine.cli import main

    return main(argv)


ANIMATE = ["--iterations", "2", "--work-size", "48", "--device", "cpu"]


def _frame_folder(photo, folder, count=3, size=(40, 56)):
    from nst_engine.arrays import from_float
    from nst_engine.images import save_image

    folder.mkdir()
    for t, frame in enumerate(pan(photo, count, (2, 1), size=size)):
        save_image(folder / f"f{t:02d}.png", from_float(frame, np.uint8))
    return folder


def test_a_rerun_after_an_interruption_writes_only_the_missing_frames(photo, tmp_path):
    frames, out = _frame_folder(photo, tmp_path / "in"), tmp_path / "out"
    style = str(EXAMPLES / "starry_night.jpg")
    assert _nst(["animate", str(frames), style, "-o", str(out), *ANIMATE]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["f00.png", "f01.png", "f02.png"]
    # As a run stopped while painting the last frame leaves it: two frames and no third.
    (out / "f02.png").unlink()
    (out / ".partial-f02.png").write_bytes(b"cut short")
    kept = {name: (out / name).stat().st_mtime_ns for name in ("f00.png", "f01.png")}
    assert _nst(["animate", str(frames), style, "-o", str(out), *ANIMATE]) == 0
    assert (out / "f02.png").is_file()
    assert {name: (out / name).stat().st_mtime_ns for name in kept} == kept
    assert not (out / ".partial-f02.png").exists()  # the stale partial was replaced


def test_size_and_mask_are_applied_to_every_frame_as_stylize_applies_them(photo, tmp_path):
    """--mask is of the frames' own size; --size sizes the frames and the mask alike, and
    outside the mask every written frame is the sized source frame."""
    from nst_engine.images import save_image
    from nst_engine.prepared import sized_mask

    frames = _frame_folder(photo, tmp_path / "in", size=(72, 96))
    out = tmp_path / "out"
    mask = np.zeros((72, 96), np.uint8)
    mask[18:54, 24:72] = 255
    save_image(tmp_path / "mask.png", mask)
    style = str(EXAMPLES / "starry_night.jpg")
    argv = ["animate", str(frames), style, "-o", str(out), "--size", "64", "--independent"]
    assert _nst([*argv, "--mask", str(tmp_path / "mask.png"), *ANIMATE]) == 0
    sized = sized_mask(tmp_path / "mask.png", (72, 96), 64)
    assert sized.shape == (48, 64)
    for name in ("f00.png", "f01.png", "f02.png"):
        source = resized(load_image(frames / name), 64)
        written = load_image(out / name)
        assert written.shape == source.shape == (48, 64, 3)
        assert np.array_equal(written[sized == 0], source[sized == 0])
        assert not np.array_equal(written[sized == 1], source[sized == 1])


def test_an_animated_gif_comes_back_with_its_frames_and_durations(photo, tmp_path):
    from PIL import Image, ImageSequence

    images = [Image.fromarray((f * 255).astype(np.uint8)) for f in pan(photo, 3, (2, 1))]
    source, out = tmp_path / "in.gif", tmp_path / "out.gif"
    images[0].save(source, save_all=True, append_images=images[1:], duration=[40, 90, 150])
    style = str(EXAMPLES / "starry_night.jpg")
    assert _nst(["animate", str(source), style, "-o", str(out), *ANIMATE]) == 0
    with Image.open(out) as result:
        # Pillow's frames are one object moved along: read each duration in its turn.
        assert [f.info["duration"] for f in ImageSequence.Iterator(result)] == [40, 90, 150]
        assert result.size == images[0].size
    assert not (tmp_path / ".out.gif.frames").exists()


def test_bad_input_is_refused_in_one_line_before_any_work(photo, tmp_path, capsys, monkeypatch):
    from nst_engine.arrays import from_float
    from nst_engine.images import save_image

    style = str(EXAMPLES / "starry_night.jpg")
    empty = tmp_path / "empty"
    empty.mkdir()
    mixed = _frame_folder(photo, tmp_path / "mixed", count=2)
    save_image(mixed / "f09.png", from_float(pan(photo, 1, (0, 0), size=(32, 56))[0], np.uint8))
    broken = _frame_folder(photo, tmp_path / "broken", count=2)
    (broken / "f01.png").write_bytes(b"not a png")
    cases = {
        str(empty): "no frames",
        str(mixed): "every frame needs one size",
        str(broken): "f01.png",
        str(tmp_path / "missing"): "no such file",
    }
    for source, words in cases.items():
        out = tmp_path / "out"
        assert _nst(["animate", source, style, "-o", str(out), *ANIMATE]) == 1
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and words in error, error
        assert not out.exists()
    monkeypatch.setitem(__import__("sys").modules, "cv2", None)  # OpenCV not installed
    assert _nst(["animate", str(broken), style, "-o", str(tmp_path / "o"), *ANIMATE]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "pip install" in error, error


def test_a_trained_network_is_drawn_toward_the_warped_previous_result_where_reliable():
    from nst_engine.temporal import FAST_BLEND, Prior, blend_fast

    output = torch.zeros(1, 3, 8, 8)
    warped = torch.ones(1, 3, 8, 8)
    reliable = torch.zeros(1, 1, 8, 8)
    reliable[..., :, :4] = 1  # the right half is occluded
    blended = blend_fast(output, Prior(warped, reliable))
    assert torch.allclose(blended[..., :4], torch.full_like(blended[..., :4], FAST_BLEND))
    assert torch.equal(blended[..., 4:], output[..., 4:])


def test_bench_frames_prints_each_sequence_against_its_targets(photo, tmp_path, capsys):
    folder = _frame_folder(photo, tmp_path / "walk", count=3, size=(48, 64))
    out = tmp_path / "bench"
    argv = ["bench", "--frames", str(folder), "--sizes", "64", "--iterations", "3"]
    assert _nst([*argv, "--frame-count", "3", "--device", "cpu", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    for mode in ("input", "independent", "temporal"):
        assert f"| walk | {mode} |" in printed
    assert "walk: warping error <= 0.4x independent:" in printed
    assert (out / "walk.jpg").is_file() and (out / "frames.json").is_file()


def test_later_frames_keep_the_first_frames_balance_of_style_and_content(photo, starry, workspace):
    # Holding frame 1's style weight alone let every later frame, started from a finished
    # painting, add more style: SSIM fell frame after frame. Steering to the SSIM frame 1
    # ended at keeps it level.
    from nst_engine.metrics import ssim
    from nst_engine.options import StyleOptions
    from nst_engine.sequence import stylize_sequence

    frames = pan(photo, 5, (2, 1), size=(64, 96))
    options = StyleOptions(iterations=30, size=96, device="cpu")
    similarity = {
        temporal: [
            ssim(frame, r.image)
            for frame, r in zip(
                frames,
                stylize_sequence(
                    frames, starry, options=options, temporal=temporal, workspace=workspace
                ),
                strict=True,
            )
        ]
        for temporal in (False, True)
    }
    together, alone = similarity[True], similarity[False]
    assert abs(np.mean(together) - np.mean(alone)) <= 0.05, (together, alone)
    assert together[-1] >= together[0] - 0.02, together


def test_a_long_shot_keeps_the_first_frames_balance_instead_of_drifting(photo, starry, workspace):
    # Every later frame started from frame 1's weight and steered back within its own few
    # iterations, so each frame's small excess of style was carried on in the painting: over
    # 16 frames SSIM fell 0.67 -> 0.59 and was still falling. The weight now carries from
    # frame to frame (moved half way to where each frame ended it), and SSIM stays level.
    from nst_engine.metrics import ssim
    from nst_engine.options import StyleOptions
    from nst_engine.sequence import stylize_sequence

    frames = pan(photo, 16, (2, 1), size=(64, 96))
    options = StyleOptions(iterations=30, size=96, device="cpu")
    results = stylize_sequence(frames, starry, options=options, workspace=workspace)
    together = [ssim(frame, r.image) for frame, r in zip(frames, results, strict=True)]
    assert min(together) >= together[0] - 0.05, together
    assert together[-1] >= together[0] - 0.03, together


def test_a_newly_uncovered_region_starts_from_the_content_not_the_warped_painting(
    starry, workspace
):
    # A bluish textured patch moves 10 px right over a textured background: x 20..30 is
    # uncovered in the second frame. Started from the warped previous result there, the
    # patch's blue painting stayed as a smear; started from the content, the region is
    # painted about as it would be alone.
    from nst_engine.options import StyleOptions
    from nst_engine.sequence import stylize_sequence

    rng = np.random.default_rng(3)
    background = torch.nn.functional.avg_pool2d(
        torch.from_numpy(rng.random((3, 72, 96)).astype(np.float32)), 3, 1, 1
    )
    background = np.ascontiguousarray(background.permute(1, 2, 0).numpy())
    patch = np.clip(rng.random((24, 24, 3)).astype(np.float32) * 0.4 + [0.0, 0.1, 0.6], 0, 1)
    before, after = background.copy(), background.copy()
    before[24:48, 20:44] = after[24:48, 30:54] = patch
    uncovered = np.zeros((72, 96), bool)
    uncovered[26:46, 21:29] = True
    uncovered &= motion(after, before).reliable[0, 0].numpy() == 0  # what the check found
    assert uncovered.sum() > 40, uncovered.sum()
    options = StyleOptions(iterations=6, size=96, device="cpu")
    second = {
        temporal: list(
            stylize_sequence(
                [before, after], starry, options=options, temporal=temporal, workspace=workspace
            )
        )[1].image[uncovered]
        for temporal in (False, True)
    }
    blue = {t: float((image[:, 2] - image[:, :2].mean(1)).mean()) for t, image in second.items()}
    assert blue[True] - blue[False] < 0.05, blue
