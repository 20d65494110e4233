"""The optimisation driver: the `proposed` method and the `gatys` baseline.

`proposed` (the method paper): coarse-to-fine levels, Adam with a per-level cosine learning
rate that also backs off when the loss jumps, multi-scale style loss, secondary styled-content
loss, combined-image loss toward the previous level's result, total variation, a structure
term (1 - SSIM, the measure dynamic weighting steers by), and dynamic weighting of style
against content (see `DynamicWeight`).

`gatys` (Gatys et al. 2015): one level, the raw loss formulas with fixed weights, L-BFGS,
started from the content image.

Both work on RGB tensors in [0, 1] at the working size; masks, cropping, colour, alpha and
sample types are handled around them in `api.py`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .devices import autocast, low_precision
from .errors import Cancelled
from .features import FeatureExtractor, LayerSpec, gram
from .images import add_detail, detail_band, fit_long_side, resize_tensor, to_numpy
from .losses import (
    ContentLoss,
    GatysContentLoss,
    GatysStyleLoss,
    StructureLoss,
    StyleLoss,
    TemporalLoss,
    total_variation,
)
from .metrics import mean_ssim
from .options import CancelCheck, Progress, ProgressCallback, StyleOptions
from .temporal import ITERATION_SHARE, TEMPORAL_WEIGHT, Prior

# Iterations per level, coarsest first, for the "normal" preset; other presets scale them.
LEVEL_ITERATIONS = (80, 30, 15, 8, 5)
PRESET_SCALE = {"draft": 0.5, "normal": 1.0, "high": 2.0}
GATYS_ITERATIONS = 300
COARSEST_SIDE = 128
# The seed's noise on the starting image: small, because flat regions (a clear sky) lose
# their SSIM to any visible noise, which the dynamic weighting would then fight.
INIT_NOISE = 0.004
# relu5_1 sits behind four 2x poolings: an input under 16 pixels leaves it nothing.
MIN_FEATURE_SIDE = 16
# Adam moves every pixel by about the learning rate per step, whatever the loss's scale, so
# the rate is what sets how fast texture appears. The coarse level paints the composition;
# finer levels only refine it and need a gentler hand.
COARSE_LR = 0.02
FINE_LR = 0.01
# A fresh Adam's first steps are full-sized in every pixel at once; ramping the rate up over
# the first iterations of a level keeps SSIM from crashing before the controller can react
# (flat regions such as a clear sky lose their SSIM to any sudden texture).
COARSE_WARMUP = 15
FINE_WARMUP = 4

# Loss weights of the proposed method (content weight is 1; style weight is dynamic).
STYLED_CONTENT_WEIGHT = 0.1
COMBINED_WEIGHT = 0.2
TV_WEIGHT = 2.0
STRUCTURE_WEIGHT = 1.0
# Every level matches every style layer. Finer levels once stopped at relu4_1 to save a
# third of their cost, but the deepest layer's statistics depend on the scale they are
# taken at: a result whose relu5_1 was matched only at the coarse level ended far from the
# style's at full size (at 256 px, relu5_1 Gram difference 0.58 against 0.36 when matched).
# Fine levels keep the composition through the combined-image loss rather than the main
# content loss: with both, the content term pulled the deep layers back (GMD 0.23 vs 0.17).
COMBINED_LAYER = "relu4_1"

# Gatys et al.'s fixed weights on the raw formulas (alpha/beta as in their Fig. 3 range).
GATYS_CONTENT_WEIGHT = 1.0
GATYS_STYLE_WEIGHT = 1e3


def target_ssim(strength: float) -> float:
    """The structural similarity to the content that a user strength in [0, 1] asks for.

    0 keeps the content (SSIM 0.95), 1 lets the style take over (0.2); linear between, so
    equal steps of strength cost equal amounts of structure whatever the style.
    """
    return 0.95 - 0.75 * strength


def fixed_style_weight(strength: float) -> float:
    """The proposed method's style weight without dynamic weighting (and the centre of its
    range with it): two decades around 30, the weight at which typical styles are balanced
    against the content terms, the structure term among them."""
    return 30.0 * 10 ** (2 * (strength - 0.5))


def gatys_style_weight(strength: float) -> float:
    """Gatys' fixed style weight; strength moves it over two decades around the default."""
    return GATYS_STYLE_WEIGHT * 10 ** (2 * (strength - 0.5))


@dataclass
class Level:
    height: int
    width: int
    iterations: int
    main_content: bool  # the coarsest level only; finer ones follow the previous result


def gatys_iterations(options: StyleOptions) -> int:
    return options.iterations or max(1, round(GATYS_ITERATIONS * PRESET_SCALE[options.quality]))


@dataclass(frozen=True)
class Plan:
    """What a method runs at a working size: the progress bar's totals.

    `pixels` counts each iteration's image pixels: an iteration costs about in proportion to
    them, so the fraction of them done is the fraction of the time spent (levels at half the
    size are a quarter of the work), which makes the time-left estimate hold across sizes."""

    steps: int
    levels: int
    pixels: int


def planned(method: str, height: int, width: int, options: StyleOptions) -> Plan:
    if method == "gatys":
        steps = gatys_iterations(options)
        return Plan(steps, 1, steps * height * width)
    levels = plan_levels(height, width, options)
    return Plan(
        sum(level.iterations for level in levels),
        len(levels),
        sum(level.iterations * level.height * level.width for level in levels),
    )


def plan_levels(height: int, width: int, options: StyleOptions) -> list[Level]:
    """Sizes double from about COARSEST_SIDE up to the working size."""
    scale = PRESET_SCALE[options.quality]
    long_side = max(height, width)
    sides = [long_side]
    while sides[-1] // 2 >= COARSEST_SIDE and sides[-1] >= 2 * COARSEST_SIDE:
        sides.append(sides[-1] // 2)
    sides.reverse()
    iterations = [max(1, round(LEVEL_ITERATIONS[min(i, 4)] * scale)) for i in range(len(sides))]
    if options.iterations is not None:
        total = sum(iterations)
        iterations = [max(1, round(n * options.iterations / total)) for n in iterations]
    levels = []
    for i, (side, its) in enumerate(zip(sides, iterations, strict=True)):
        h, w = (height, width) if side == long_side else fit_long_side(height, width, side)
        levels.append(Level(h, w, its, main_content=i == 0))
    return levels


class StyleTargets:
    """Blended target Gram matrices per layer and size, cached across the jobs of one
    workspace (one device: see nst_engine.workspace).

    The cache key includes a digest of the style pixels, so a server applying the same style
    to many layers computes its targets once.
    """

    def __init__(self, max_entries: int = 64) -> None:
        self._cache: OrderedDict[tuple, dict[str, torch.Tensor]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def grams(
        self,
        extractor: FeatureExtractor,
        styles: list[tuple[str, torch.Tensor]],
        weights: list[float],
        side: int,
        layers: tuple[str, ...],
    ) -> dict[str, torch.Tensor]:
        total = sum(weights)
        blended: dict[str, torch.Tensor] = {}
        for (digest, style), weight in zip(styles, weights, strict=True):
            one = self._one(extractor, digest, style, side, layers)
            for name in layers:
                part = one[name] * (weight / total)
                blended[name] = part if name not in blended else blended[name] + part
        return blended

    def _one(self, extractor, digest, style, side, layers):
        key = (id(extractor), digest, side, layers)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        h, w = fit_long_side(*style.shape[-2:], side)
        if min(h, w) < 2 * MIN_FEATURE_SIDE:  # a wide style at a small size: keep it usable
            grow = 2 * MIN_FEATURE_SIDE / min(h, w)
            h, w = round(h * grow), round(w * grow)
        with torch.no_grad(), autocast(style.device):
            feats = extractor(resize_tensor(style, (h, w)), set(layers))
        result = {name: gram(feats[name]) for name in layers}
        with self._lock:
            self._cache[key] = result
            if len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return result


class DynamicWeight:
    """Adapts the style weight so the image's similarity to the content settles at the
    level the user's strength asks for.

    Fixed weights let a high-energy style (large Gram entries) overwhelm the content and a
    quiet one barely show. Here the controlled quantity is SSIM between the current image
    and the content (luminance, inside the mask), measured every iteration at the level's
    size: while the image is more similar than asked, the log style weight grows by a
    bounded step, and shrinks while it is less similar. Every style is thus pushed until it
    has used the same structural budget, no further.

    The weight starts `START_BELOW` (in log units) under the balanced fixed weight and
    climbs: approaching the target from above, a strong style cannot crash SSIM in the
    first iterations, which it did from the balanced start (texture once painted is slow
    to unpaint). Each finer level starts `LEVEL_BACKOFF` under where the last one ended,
    for the same reason: the level's new frequencies take the style quickly, and SSIM,
    measured at a size with more detail, falls further than the coarse level suggested.
    It stays within `RANGE` of the balanced weight, a factor of 20 either way, so a level
    on which SSIM cannot reach the target does not drive the weight to nothing.
    """

    START_BELOW = 2.0
    LEVEL_BACKOFF = 3.0
    RANGE = 3.0

    def __init__(
        self, strength: float, adaptive: bool = True, rate: float = 0.1, lookahead: float = 8.0
    ) -> None:
        self.target = target_ssim(strength)
        balanced = math.log(fixed_style_weight(strength))
        self.bounds = (balanced - self.RANGE, balanced + self.RANGE)
        self.log_weight = balanced - self.START_BELOW if adaptive else balanced
        self.rate = rate if adaptive else 0.0
        self.lookahead = lookahead
        self.previous: float | None = None
        self.slope = 0.0

    @property
    def value(self) -> float:
        return math.exp(self.log_weight)

    def new_level(self) -> None:
        """A finer level begins: back off by LEVEL_BACKOFF (adaptive weights only), and forget
        SSIM's slope: the image was just upsampled, so SSIM jumped, and that jump is not a
        trend to act on."""
        self.previous, self.slope = None, 0.0
        if self.rate:
            self.log_weight = max(self.bounds[0], self.log_weight - self.LEVEL_BACKOFF)

    def hold(self, value: float) -> None:
        """Fix the weight at `value` from now on: a later frame of an animation holds what
        the first frame settled on, level by level, so the style does not drift."""
        self.log_weight, self.rate = math.log(value), 0.0

    def update(self, similarity: float, authority: float = 1.0) -> None:
        """One iteration's measurement. `authority` (0..1) is how far the optimiser can act
        on the weight now: the driver passes its learning rate relative to the level's
        peak, so the weight does not wind up while a decayed rate leaves SSIM unmoved."""
        # SSIM keeps falling for a while after the style weight stops growing (the optimiser
        # has momentum, and texture once painted is not unpainted), so the controller acts on
        # where SSIM is heading, `lookahead` iterations on, not on where it is.
        if self.previous is not None:
            self.slope = 0.7 * self.slope + 0.3 * (similarity - self.previous)
        self.previous = similarity
        predicted = similarity + self.lookahead * self.slope
        error = (predicted - self.target) / 0.05
        self.log_weight += self.rate * authority * max(-1.0, min(1.0, error))
        self.log_weight = max(self.bounds[0], min(self.bounds[1], self.log_weight))


def masked_ssim(image: torch.Tensor, content: torch.Tensor, mask: torch.Tensor | None) -> float:
    """SSIM of two B x 3 x H x W images' luminance, averaged where the mask is on."""
    with torch.no_grad():
        return float(mean_ssim(image, content, mask))


@dataclass
class Run:
    """What the driver reports: per-level timings and the latest loss terms."""

    timings: dict[str, float] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)
    iterations: int = 0
    style_weight: float | None = None  # where dynamic weighting ended (for the refinement)
    level_weights: list[float] = field(default_factory=list)  # where each level ended


class Reporter:
    """Calls the progress callback and checks cancellation once per iteration."""

    def __init__(
        self,
        plan: Plan,
        progress: ProgressCallback | None,
        cancel: CancelCheck | None,
    ) -> None:
        self.plan = plan
        self.progress, self.cancel = progress, cancel
        self.start = time.perf_counter()
        self.step = self.pixels = 0

    def __call__(
        self,
        level: int,
        iteration: int,
        iterations: int,
        losses: dict[str, float],
        image: torch.Tensor,
    ) -> None:
        self.step += 1
        self.pixels += image.shape[-2] * image.shape[-1]
        if self.cancel is not None and self.cancel():
            raise Cancelled("the job was cancelled")
        if self.progress is not None:
            snapshot = image.detach()

            def preview(max_side: int) -> np.ndarray:
                side = min(max_side, max(snapshot.shape[-2:]))
                small = resize_tensor(snapshot.float(), fit_long_side(*snapshot.shape[-2:], side))
                return (to_numpy(small).clip(0, 1) * 255 + 0.5).astype(np.uint8)

            self.progress(
                Progress(
                    level=level,
                    levels=self.plan.levels,
                    iteration=iteration,
                    iterations=iterations,
                    losses=losses,
                    elapsed=time.perf_counter() - self.start,
                    step=self.step,
                    total_steps=self.plan.steps,
                    done=self.pixels / self.plan.pixels if self.plan.pixels else None,
                    _preview=preview,
                )
            )


def weighted_style(
    spec: LayerSpec,
    losses: dict[str, StyleLoss],
    feats: dict[str, torch.Tensor],
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """The style term: each style layer's loss, by the extractor's layer weights over their
    sum (the proposed method's levels and the full-resolution tiles alike)."""
    norm = sum(spec.style_weights)
    return sum(
        weight / norm * losses[name](feats[name], mask)
        for name, weight in zip(spec.style, spec.style_weights, strict=True)
    )


def run_proposed(
    extractor: FeatureExtractor,
    targets: StyleTargets,
    content: torch.Tensor,
    styles: list[tuple[str, torch.Tensor]],
    weights: list[float],
    mask: torch.Tensor | None,
    options: StyleOptions,
    reporter: Reporter,
    run: Run,
    prior: Prior | None = None,
) -> torch.Tensor:
    """`prior`: a later frame of an animation (nst_engine.temporal): every level starts from
    the previous result warped into this frame where the flow holds, a temporal term keeps
    it there, each level holds the style weight the first frame ended it with, and a share
    of the iterations is run."""
    spec = extractor.spec
    levels = plan_levels(*content.shape[-2:], options)
    weight = DynamicWeight(options.strength, adaptive=options.dynamic_weighting)
    generator = torch.Generator(device="cpu").manual_seed(options.seed)
    device = content.device
    image = None
    for index, level in enumerate(levels):
        if prior is not None and prior.level_weights:
            weight.hold(prior.level_weights[min(index, len(prior.level_weights) - 1)])
        elif index > 0:
            weight.new_level()
        iterations = level.iterations
        if prior is not None:
            iterations = max(1, round(level.iterations * ITERATION_SHARE))
        tic = time.perf_counter()
        size = (level.height, level.width)
        base = resize_tensor(content, size)
        level_mask = None if mask is None else resize_tensor(mask, size).clamp(0, 1)

        # Targets at this level: style Grams at full and half scale (multi-scale loss),
        # content features, and the previous level's result for the combined-image loss.
        # The half-size copy only from the second level on: at the coarse level it would be
        # smaller than the coarsest level itself, its deep Grams are statistics of a handful
        # of positions, and matching them pulled the full-size Grams away from the style
        # (measured at 128 px: GMD 0.32 with it, 0.19 without, at the same SSIM).
        scales = (1, 2) if min(size) // 2 >= COARSEST_SIDE else (1,)
        style_losses = {}
        for scale in scales:
            side = round(max(size) * options.style_scale) // scale
            grams = targets.grams(extractor, styles, weights, side, spec.style)
            style_losses[scale] = {n: StyleLoss(grams[n]) for n in spec.style}
        wanted = set(spec.style) | {spec.styled_content}
        if level.main_content:
            wanted.add(spec.content)
        with torch.no_grad(), autocast(device):
            content_feats = extractor(base, wanted)
        styled_content = ContentLoss(content_feats[spec.styled_content])
        main_content = ContentLoss(content_feats[spec.content]) if level.main_content else None
        structure = StructureLoss(base, level_mask)
        temporal = None if prior is None else TemporalLoss(*prior.at(size))

        if image is None and prior is not None:
            image, combined = prior.at(size)[0].clone(), None
        elif image is None:
            noise = torch.randn(base.shape, generator=generator).to(device) * INIT_NOISE
            image = (base + noise).clamp(0, 1)
            combined = None
        else:
            # Upsampling blurs: put back the content's detail band, the difference between
            # the content at this size and at the previous one. The level then starts about
            # as similar to the content as the last one ended and only has to texture the
            # new frequencies (without it SSIM fell by 0.15 per level).
            image = add_detail(image, base)
            if prior is not None:
                warped, reliable = prior.at(size)
                image = reliable * warped + (1 - reliable) * image
            combined_layer = COMBINED_LAYER if COMBINED_LAYER in wanted else spec.styled_content
            wanted.add(combined_layer)
            with torch.no_grad(), autocast(device):
                combined = ContentLoss(extractor(image, {combined_layer})[combined_layer])
        if low_precision(device):
            image = image.contiguous(memory_format=torch.channels_last)
        image = image.detach().requires_grad_(True)
        base_lr = COARSE_LR if index == 0 else FINE_LR
        warmup = min(COARSE_WARMUP if index == 0 else FINE_WARMUP, max(1, iterations // 4))
        optimizer = torch.optim.Adam([image], lr=base_lr, betas=(0.9, 0.99))
        previous_total = math.inf
        # Dynamic weighting steers by the SSIM the result will have at the working size. A
        # coarse level is measured as the next level will start from it (upsampled, with the
        # content's finer detail put back): measured at its own size, where the style's
        # texture hides between fewer pixels, it over-states what survives, which left
        # photographs with fine detail less styled than others at the same strength.
        band = None if index == len(levels) - 1 else detail_band(content, size)

        for it in range(iterations):
            # Linear warm-up, then cosine decay to a tenth over the level (base_lr halves when
            # the loss jumps, below).
            cosine = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * it / max(1, iterations)))
            schedule = cosine * min(1.0, (it + 1) / warmup)
            blended = image if level_mask is None else level_mask * image + (1 - level_mask) * base
            with autocast(device):
                feats = extractor(blended, wanted)
            style_term = 0.0
            for scale, losses_at in style_losses.items():
                if scale == 1:
                    scaled_feats, scaled_mask = feats, level_mask
                else:
                    with autocast(device):
                        scaled_feats = extractor(F.avg_pool2d(blended, scale), set(spec.style))
                    scaled_mask = None if level_mask is None else F.avg_pool2d(level_mask, scale)
                style_term = style_term + weighted_style(
                    spec, losses_at, scaled_feats, scaled_mask
                ) / len(style_losses)
            terms = {
                "style": weight.value * style_term,
                "styled_content": STYLED_CONTENT_WEIGHT
                * styled_content(feats[spec.styled_content]),
                "tv": TV_WEIGHT * total_variation(blended),
                "structure": STRUCTURE_WEIGHT * structure(blended),
            }
            if main_content is not None:
                terms["content"] = main_content(feats[spec.content])
            if combined is not None:
                terms["combined"] = COMBINED_WEIGHT * combined(feats[combined_layer])
            if temporal is not None:
                terms["temporal"] = TEMPORAL_WEIGHT * temporal(blended)
            total = sum(terms.values())
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            # A jump of the loss means the step overshot: halve this level's rate for good.
            total_value = float(total.detach())
            if total_value > 1.5 * previous_total:
                base_lr *= 0.5
            previous_total = total_value
            for group in optimizer.param_groups:
                group["lr"] = base_lr * schedule
            optimizer.step()
            with torch.no_grad():
                image.clamp_(0, 1)
            seen = image if band is None else add_detail(image.detach(), content, band)
            similarity = masked_ssim(seen, content, mask)
            weight.update(similarity, authority=schedule)
            losses = {k: float(v.detach()) for k, v in terms.items()}
            losses["total"] = total_value
            losses["style_weight"] = weight.value
            losses["ssim"] = similarity
            run.losses = losses
            run.iterations += 1
            reporter(index, it, iterations, losses, image)
        run.level_weights.append(weight.value)
        run.timings[f"level{index}_{level.width}x{level.height}"] = time.perf_counter() - tic
    assert image is not None
    run.style_weight = weight.value
    # The caller blends through the mask once, at full resolution.
    return image.detach()


def run_gatys(
    extractor: FeatureExtractor,
    targets: StyleTargets,
    content: torch.Tensor,
    styles: list[tuple[str, torch.Tensor]],
    weights: list[float],
    mask: torch.Tensor | None,
    options: StyleOptions,
    reporter: Reporter,
    run: Run,
) -> torch.Tensor:
    spec = extractor.spec
    tic = time.perf_counter()
    iterations = gatys_iterations(options)
    device = content.device
    side = round(max(content.shape[-2:]) * options.style_scale)
    grams = targets.grams(extractor, styles, weights, side, spec.style)
    style_losses = {n: GatysStyleLoss(grams[n]) for n in spec.style}
    wanted = set(spec.style) | {spec.content}
    with torch.no_grad(), autocast(device):
        content_loss = GatysContentLoss(extractor(content, {spec.content})[spec.content])
    # Gatys weights the style layers equally (w_l = 1/5).
    layer_weight = 1.0 / len(spec.style)
    style_weight = gatys_style_weight(options.strength)
    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([image], lr=1.0, max_iter=1, history_size=50)
    state: dict[str, dict[str, float]] = {}

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        blended = image if mask is None else mask * image + (1 - mask) * content
        with autocast(device):
            feats = extractor(blended, wanted)
        terms = {
            "content": GATYS_CONTENT_WEIGHT * content_loss(feats[spec.content]),
            "style": style_weight
            * sum(layer_weight * style_losses[n](feats[n], mask) for n in spec.style),
        }
        total = terms["content"] + terms["style"]
        # The raw formulas reach 1e9 on Caffe-scaled activations; L-BFGS's curvature pairs
        # lose precision in float32 there, so it minimises total / (its first value).
        scale = state.setdefault("scale", {"value": float(total.detach()) or 1.0})["value"]
        (total / scale).backward()
        state["losses"] = {
            **{k: float(v.detach()) for k, v in terms.items()},
            "total": float(total.detach()),
        }
        return total.detach() / scale

    for it in range(iterations):
        optimizer.step(closure)
        run.losses = state["losses"]
        run.iterations += 1
        reporter(0, it, iterations, state["losses"], image)
    run.timings[f"level0_{content.shape[-1]}x{content.shape[-2]}"] = time.perf_counter() - tic
    return image.detach().clamp(0, 1)
