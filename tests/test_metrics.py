"""The project's SSIM against scikit-image's, the reference implementation, on the same
definition (BT.601 luminance, 11x11 Gaussian window of sigma 1.5, K1 0.01, K2 0.03, mean
over the positions where the window fits): they must agree within 1e-3."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from nst_engine.arrays import luminance, split_channels
from nst_engine.metrics import ssim


def reference(content: np.ndarray, output: np.ndarray) -> float:
    a, b = (luminance(split_channels(x)[0]) for x in (content, output))
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
    )


def pairs(content, starry):
    rng = np.random.default_rng(3)
    noisy = np.clip(content.astype(int) + rng.integers(-40, 41, content.shape), 0, 255)
    blurred = (content.astype(float)[:-2:, :-2] + content[1:-1, 1:-1] + content[2:, 2:]) / 3
    shifted = np.roll(content, 5, axis=1)
    yield "noise", content, noisy.astype(np.uint8)
    yield "blur", content[1:-1, 1:-1], blurred.round().astype(np.uint8)
    yield "shift", content, shifted
    height, width = (min(a, b) for a, b in zip(content.shape[:2], starry.shape[:2], strict=True))
    yield "another image", content[:height, :width], starry[:height, :width]


@pytest.mark.parametrize("case", ["noise", "blur", "shift", "another image"])
def test_ssim_agrees_with_scikit_image(content, starry, case):
    _, a, b = next(p for p in pairs(content, starry) if p[0] == case)
    ours, theirs = ssim(a, b), reference(a, b)
    print(f"{case}: ours {ours:.5f}, scikit-image {theirs:.5f}")
    assert abs(ours - theirs) < 1e-3
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)
