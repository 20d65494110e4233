"""Animations: optical flow and its reliability, the warping error, temporal styling of
frame sequences, and `nst animate` (frame folders, animated files, resume, bad input)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import EXAMPLES, small

from nst_engine.images import load_image, to_float, to_tensor

pytest.importorskip("cv2", reason="optical flow needs the `video` extra (opencv)")

from nst_engine.flow import motion, optical_flow, warp  # noqa: E402
from nst_engine.metrics import warping_error  # noqa: E402


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """The rocket photograph, 160 px wide, float RGB: texture for the flow to follow."""
    return to_float(small(load_image(EXAMPLES / "rocket.jpg"), 160))[..., :3]


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
