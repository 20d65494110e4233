"""The stylisation is measured: it moves toward the style, keeps structure, and balances
content and style the same way across styles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nst_engine import StyleOptions, stylize
from nst_engine.devices import low_precision
from nst_engine.metrics import gram_difference, gram_differences, ssim

# Slow: every test runs the real VGG-19 optimisation for tens of iterations.
pytestmark = pytest.mark.slow

# Structure floor: an unrelated image scores about 0.0-0.1 SSIM against the cat, and the
# content itself 1.0. A styled result that keeps the cat recognisable stays well above 0.3.
SSIM_FLOOR = 0.3
RELU5_1_CEILING = 0.5


def run(content, style, **kw):
    return stylize(content, style, options=StyleOptions(**kw))


@pytest.mark.parametrize("method", ["proposed", "gatys"])
def test_output_moves_toward_style_and_keeps_structure(content, starry, method):
    result = run(content, starry, method=method, iterations=40)
    before = gram_difference(content, starry)
    after = gram_difference(result.image, starry)
    assert after < 0.8 * before, (before, after)
    assert ssim(content, result.image) > SSIM_FLOOR


def test_loss_terms_fall_over_a_run(content, starry):
    seen = []
    run_kw = dict(method="proposed", iterations=40, dynamic_weighting=False)
    stylize(content, starry, options=StyleOptions(**run_kw), progress=seen.append)
    first, last = seen[0].losses, seen[-1].losses
    # With fixed weights every term's weight is constant, so the totals compare directly.
    assert last["total"] < 0.5 * first["total"]
    assert last["style"] < 0.5 * first["style"]


def test_gatys_loss_falls(content, starry):
    seen = []
    stylize(
        content, starry, options=StyleOptions(method="gatys", iterations=30), progress=seen.append
    )
    assert seen[-1].losses["total"] < 0.5 * seen[0].losses["total"]
    assert seen[-1].losses["style"] < 0.5 * seen[0].losses["style"]


def test_strength_orders_content_preservation(content, starry):
    weak = run(content, starry, strength=0.1, iterations=40)
    strong = run(content, starry, strength=0.9, iterations=40)
    assert ssim(content, weak.image) > ssim(content, strong.image) + 0.1
    assert gram_difference(strong.image, starry) < gram_difference(weak.image, starry)


def test_dynamic_weighting_spreads_ssim_less_than_fixed_weights(content, styles):
    def spread(dynamic: bool) -> float:
        scores = [
            ssim(content, run(content, s, iterations=40, dynamic_weighting=dynamic).image)
            for s in styles.values()
        ]
        return max(scores) - min(scores)

    dynamic, fixed = spread(True), spread(False)
    assert dynamic < 0.6 * fixed, (dynamic, fixed)


def test_preserve_color_keeps_the_content_chroma(content, starry):
    def chroma(img):
        rgb = img.astype(np.float32) / 255
        y = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return rgb - y[..., None]

    plain = run(content, starry, iterations=20)
    kept = run(content, starry, iterations=20, preserve_color=True)
    drift_plain = np.abs(chroma(plain.image) - chroma(content)).mean()
    drift_kept = np.abs(chroma(kept.image) - chroma(content)).mean()
    assert drift_kept < 0.35 * drift_plain, (drift_kept, drift_plain)
    # ... while the texture (luminance) is the styled one, not the content's.
    assert ssim(content, kept.image) < 0.95


def test_style_blend_weights(content, styles):
    a, b = styles["starry_night.jpg"], styles["woman-with-hat-matisse.jpg"]
    only_a = run(content, a, iterations=20, seed=3)
    blend_all_a = stylize(
        content, [a, b], options=StyleOptions(iterations=20, seed=3, style_weights=(1.0, 0.0))
    )
    assert np.array_equal(only_a.image, blend_all_a.image)
    half = stylize(
        content, [a, b], options=StyleOptions(iterations=20, seed=3, style_weights=(0.5, 0.5))
    )
    assert not np.array_equal(half.image, only_a.image)


def test_finer_levels_match_the_deepest_style_layer(content_256, starry_whole):
    # Two levels (128 and 256 px). relu5_1's statistics depend on the scale they are taken
    # at: when only the coarse level matched it, this run's relu5_1 Gram difference at full
    # size was 0.64; matched at every level, 0.44.
    result = run(content_256, starry_whole, iterations=60)
    layers = gram_differences(result.image, starry_whole)
    assert layers["relu5_1"] < RELU5_1_CEILING, layers
    assert ssim(content_256, result.image) > SSIM_FLOOR


@pytest.mark.skipif(
    not low_precision(torch.device("cpu")), reason="this CPU has no native bf16: float32 only"
)
def test_bf16_on_the_cpu_reaches_the_quality_of_float32(content, starry, monkeypatch):
    fast = run(content, starry, iterations=40).image
    monkeypatch.setenv("NST_CPU_BF16", "0")
    exact = run(content, starry, iterations=40).image
    assert not np.array_equal(fast, exact)  # the switch really changed the arithmetic
    assert abs(ssim(content, fast) - ssim(content, exact)) < 0.03
    g_fast, g_exact = gram_difference(fast, starry), gram_difference(exact, starry)
    assert abs(g_fast - g_exact) < 0.15 * g_exact, (g_fast, g_exact)
