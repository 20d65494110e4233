"""Masks, alpha, sample types, determinism, progress and cancellation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nst_engine import Cancelled, InputError, StyleOptions, stylize
from nst_engine.objective import fixed_style_weight
from nst_engine.transfer import DynamicWeight, plan_levels


def opts(**kw):
    return StyleOptions(iterations=kw.pop("iterations", 8), **kw)


def soft_disc(height, width, cy, cx, radius, feather):
    yy, xx = np.mgrid[:height, :width]
    dist = np.hypot(yy - cy, xx - cx)
    return np.clip((radius + feather - dist) / (2 * feather), 0, 1).astype(np.float32)


@pytest.mark.slow
def test_pixels_outside_mask_are_bit_identical(content, starry):
    big = np.concatenate([content, content], axis=1)  # 192x64: room for a box
    mask = soft_disc(*big.shape[:2], 32, 40, 18, 6)
    result = stylize(big, starry, mask=mask, options=opts(iterations=20))
    outside = mask == 0
    assert np.array_equal(result.image[outside], big[outside])
    inside = mask == 1
    changed = np.abs(result.image[inside].astype(int) - big[inside].astype(int)).mean()
    assert changed > 5, changed
    # Only the mask's box plus a margin was processed, not the whole 192x64 image.
    width, height = map(int, str(result.stats["work_size"]).split("x"))
    assert width < 192 and width >= 48


def test_empty_mask_returns_the_input(content, starry):
    result = stylize(content, starry, mask=np.zeros(content.shape[:2], np.float32), options=opts())
    assert np.array_equal(result.image, content)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_sample_types_and_alpha_round_trip(content, starry, dtype):
    top = {np.uint8: 255, np.uint16: 65535, np.float32: 1.0}[dtype]
    rgb = content.astype(np.float32) / 255 * top
    alpha = np.linspace(0, top, content.shape[1], dtype=np.float32)[None, :].repeat(
        content.shape[0], 0
    )
    rgba = np.dstack([rgb, alpha]).astype(dtype)
    result = stylize(rgba, starry, options=opts())
    assert result.image.dtype == np.dtype(dtype)
    assert result.image.shape == rgba.shape
    assert np.array_equal(result.image[..., 3], rgba[..., 3])
    assert np.abs(result.image[..., :3].astype(np.float64) - rgba[..., :3]).mean() > 0.01 * top


@pytest.mark.slow
def test_greyscale_in_greyscale_out(content, starry):
    grey = content.mean(axis=2, keepdims=True).astype(np.uint8)
    result = stylize(grey, starry, options=opts())
    assert result.image.shape == grey.shape and result.image.dtype == np.uint8


@pytest.mark.slow
def test_same_seed_same_output_other_seed_differs(content, starry):
    a = stylize(content, starry, options=opts(seed=7))
    b = stylize(content, starry, options=opts(seed=7))
    c = stylize(content, starry, options=opts(seed=8))
    assert np.array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)


def test_a_seeded_job_repeats_and_leaves_the_global_random_state_alone(content, starry):
    """The seed is the job's own generator: torch's process-wide one is neither reseeded
    nor drawn from, so a caller's (or a neighbouring job's) random stream is undisturbed."""
    torch.manual_seed(1234)
    before = torch.random.get_rng_state()
    a = stylize(content, starry, options=opts(seed=5, iterations=4))
    b = stylize(content, starry, options=opts(seed=5, iterations=4))
    assert np.array_equal(a.image, b.image)
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.slow
def test_progress_reports_every_iteration_in_order(content, starry):
    seen = []
    stylize(content, starry, options=opts(iterations=6), progress=seen.append)
    assert [p.step for p in seen] == list(range(1, 7))
    assert all(b.elapsed >= a.elapsed for a, b in zip(seen, seen[1:], strict=False))
    assert seen[-1].fraction == 1.0
    assert {"content", "style", "styled_content", "tv", "total"} <= set(seen[0].losses)
    preview = seen[-1].preview(32)
    assert preview.dtype == np.uint8 and max(preview.shape[:2]) == 32


@pytest.mark.slow
def test_cancel_stops_within_one_iteration(content, starry):
    seen = []
    with pytest.raises(Cancelled):
        stylize(
            content,
            starry,
            options=opts(iterations=50),
            progress=seen.append,
            cancel=lambda: len(seen) >= 3,
        )
    assert len(seen) == 3


def test_coarse_to_fine_plan_spends_most_iterations_small():
    levels = plan_levels(512, 768, StyleOptions())
    assert [max(lv.height, lv.width) for lv in levels] == [192, 384, 768]
    assert levels[0].main_content and not levels[-1].main_content
    assert levels[0].iterations > levels[1].iterations > levels[2].iterations


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(strength=1.5), "strength must be between 0 and 1"),
        (dict(method="picasso"), "unknown method"),
        (dict(max_pixels=1000), "over the limit"),
    ],
)
def test_bad_options_give_clear_errors(content, starry, kwargs, message):
    with pytest.raises(InputError, match=message):
        stylize(content, starry, options=StyleOptions(**kwargs))


def test_bad_images_give_clear_errors(content, starry):
    with pytest.raises(InputError, match="at least 32 pixels"):
        stylize(content[:20, :20], starry)
    with pytest.raises(InputError, match="must be the same size"):
        stylize(content, starry, mask=np.ones((10, 10), np.float32))
    with pytest.raises(InputError, match="at least one style"):
        stylize(content, [])


@pytest.mark.slow
def test_small_and_wide_inputs_work(content, starry):
    """The smallest content (32 px), a very wide style, and a small mask crop all run."""
    tiny = content[:32, :48]
    wide_style = np.concatenate([starry] * 4, axis=1)
    result = stylize(tiny, wide_style, options=opts(iterations=3))
    assert result.image.shape == tiny.shape
    mask = np.zeros(content.shape[:2], np.float32)
    mask[30:34, 40:44] = 1
    masked = stylize(content, wide_style, mask=mask, options=opts(iterations=3))
    assert np.array_equal(masked.image[mask == 0], content[mask == 0])


def test_dynamic_weight_starts_low_stays_bounded_and_does_not_wind_up():
    weight = DynamicWeight(0.5)
    balanced = math.log(fixed_style_weight(0.5))
    assert math.isclose(weight.log_weight, balanced - DynamicWeight.START_BELOW)
    for _ in range(500):  # SSIM far below the target for ever: the weight falls, then stops
        weight.update(0.05)
    assert math.isclose(weight.log_weight, balanced - DynamicWeight.RANGE)
    for _ in range(500):  # far above: it climbs to the upper bound, no further
        weight.update(0.99)
    assert math.isclose(weight.log_weight, balanced + DynamicWeight.RANGE)
    before = weight.log_weight
    weight.update(0.05, authority=0.0)  # the optimiser cannot act: the weight holds
    assert weight.log_weight == before
    fixed = DynamicWeight(0.5, adaptive=False)
    fixed.update(0.05)
    fixed.new_level()
    assert math.isclose(fixed.log_weight, balanced)


def test_each_finer_level_starts_the_weight_lower_within_its_bounds():
    weight = DynamicWeight(0.5)
    balanced = math.log(fixed_style_weight(0.5))
    weight.log_weight = balanced + 2.0
    weight.update(0.9)
    weight.update(0.9)  # a slope that the next level must not inherit
    weight.new_level()
    assert math.isclose(weight.log_weight, balanced + 2.0 + 2 * weight.rate - weight.LEVEL_BACKOFF)
    assert weight.previous is None and weight.slope == 0.0
    for _ in range(5):
        weight.new_level()
    assert math.isclose(weight.log_weight, balanced - DynamicWeight.RANGE)
