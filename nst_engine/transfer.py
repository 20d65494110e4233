"""The optimisation drivers: the `proposed` method and the `gatys` baseline.

`proposed` (the method paper): coarse-to-fine levels, Adam with a per-level cosine learning
rate that also backs off when the loss jumps, multi-scale style loss, secondary styled-content
loss, combined-image loss toward the previous level's result, total variation, a structure
term (1 - SSIM, the measure dynamic weighting steers by), and dynamic weighting of style
against content (see `DynamicWeight`).

`gatys` (Gatys et al. 2015): one level, the raw loss formulas with fixed weights, L-BFGS,
started from the content image.

Both work on RGB tensors in [0, 1] at the working size, and take the job as a RunContext
(nst_engine.context); masks, cropping, colour, alpha and sample types are handled around
them in `api.py`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .arrays import fit_long_side, resize_tensor
from .context import Plan, RunContext
from .devices import autocast, low_precision
from .fullres import add_detail, detail_band
from .losses import (
    ContentLoss,
    GatysContentLoss,
    GatysStyleLoss,
    StructureLoss,
    StyleLoss,
    TemporalLoss,
)
from .metrics import mean_ssim
from .objective import (
    COARSE_LR,
    COARSE_WARMUP,
    COMBINED_LAYER,
    COMBINED_WEIGHT,
    FINE_LR,
    FINE_WARMUP,
    fixed_style_weight,
    image_terms,
    weighted_style,
)
from .options import PRESET_SCALE, StyleOptions
from .temporal import ITERATION_SHARE, TEMPORAL_WEIGHT

# Iterations per level, coarsest first, for the "normal" preset; other presets scale them.
LEVEL_ITERATIONS = (80, 30, 15, 8, 5)
GATYS_ITERATIONS = 300
COARSEST_SIDE = 128
# The seed's noise on the starting image: small, because flat regions (a clear sky) lose
# their SSIM to any visible noise, which the dynamic weighting would then fight.
INIT_NOISE = 0.004

# Gatys et al.'s fixed weights on the raw formulas (alpha/beta as in their Fig. 3 range).
GATYS_CONTENT_WEIGHT = 1.0
GATYS_STYLE_WEIGHT = 1e3


def target_ssim(strength: float) -> float:
    """The structural similarity to the content that a user strength in [0, 1] asks for.

    0 keeps the content (SSIM 0.95), 1 lets the style take over (0.2); linear between, so
    equal steps of strength cost equal amounts of structure whatever the style.
    """
    return 0.95 - 0.75 * strength


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


def planned(
    method: str, height: int, width: int, options: StyleOptions, later_frame: bool = False
) -> Plan:
    if method == "gatys":
        steps = gatys_iterations(options)
        return Plan(steps, 1, steps * height * width)
    levels = plan_levels(height, width, options, later_frame)
    return Plan(
        sum(level.iterations for level in levels),
        len(levels),
        sum(level.iterations * level.height * level.width for level in levels),
    )


def plan_levels(
    height: int, width: int, options: StyleOptions, later_frame: bool = False
) -> list[Level]:
    """Sizes double from about COARSEST_SIDE up to the working size. A later frame of an
    animation starts from a finished painting (nst_engine.temporal) and runs
    ITERATION_SHARE of each level's iterations."""
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
    if later_frame:
        iterations = [max(1, round(n * ITERATION_SHARE)) for n in iterations]
    levels = []
    for i, (side, its) in enumerate(zip(sides, iterations, strict=True)):
        h, w = (height, width) if side == long_side else fit_long_side(height, width, side)
        levels.append(Level(h, w, its, main_content=i == 0))
    return levels


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

    def hold(self, value: float, similarity: float | None) -> None:
        """A later frame of an animation: restart from `value`, the weight the first frame
        ended this level with, and steer to `similarity`, the SSIM the first frame ended
        at, not to the strength's target (None: fix the weight at `value`). Holding the
        weight alone let every frame add style to the painting it started from, frame
        after frame (docs/animation.md); holding the balance does not."""
        self.log_weight = math.log(value)
        if similarity is None:
            self.rate = 0.0
        else:
            self.target = similarity

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
class LevelSetup:
    """One level of the proposed method, prepared before its first iteration: the content
    and mask at its size, its loss terms, and the layers an iteration extracts."""

    index: int
    level: Level
    base: torch.Tensor  # the content at the level's size
    mask: torch.Tensor | None
    style: dict[int, dict[str, StyleLoss]]  # by scale: 1 at the level's size, 2 at half
    styled_content: ContentLoss
    main_content: ContentLoss | None  # the coarsest level only
    structure: StructureLoss
    wanted: set[str]
    # The content's detail finer than this level (None at the last level): what the level's
    # result is measured with, as the next level will start from it.
    band: torch.Tensor | None
    combined_layer: str
    combined: ContentLoss | None = None  # from the second level on (_start_image)
    temporal: TemporalLoss | None = None  # a later frame of an animation


def run_proposed(ctx: RunContext, content: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The proposed method on `content` (1 x 3 x H x W, the working size) where `mask` is
    on. Returns the painting itself: the caller blends through the mask once, at full
    resolution.

    With `ctx.prior` (a later frame of an animation, nst_engine.temporal) every level starts
    from the previous result warped into this frame where the flow holds, a temporal term
    keeps it there, each level starts from the style weight the sequence carries
    (nst_engine.sequence) and steers to the SSIM frame 1 ended at, and a share of the
    iterations is run."""
    levels = plan_levels(*content.shape[-2:], ctx.options, later_frame=ctx.prior is not None)
    weight = DynamicWeight(ctx.options.strength, adaptive=ctx.options.dynamic_weighting)
    held = () if ctx.prior is None else ctx.prior.level_weights
    image = None
    for index, level in enumerate(levels):
        if held:
            assert ctx.prior is not None
            start = held[min(index, len(held) - 1)]
            weight.hold(start, ctx.prior.similarity)
        elif index > 0:
            weight.new_level()
        tic = time.perf_counter()
        setup = _level_setup(ctx, content, mask, index, level, last=index == len(levels) - 1)
        image = _start_image(ctx, setup, image)
        image = _optimise_level(ctx, setup, image, weight, content, mask)
        ctx.run.level_weights.append(weight.value)
        ctx.run.timings[f"level{index}_{level.width}x{level.height}"] = time.perf_counter() - tic
    assert image is not None
    ctx.run.style_weight, ctx.run.similarity = weight.value, weight.previous
    return image.detach()


def _level_setup(
    ctx: RunContext,
    content: torch.Tensor,
    mask: torch.Tensor | None,
    index: int,
    level: Level,
    last: bool,
) -> LevelSetup:
    """A level's targets: style Grams at full and half scale (multi-scale loss) and the
    content's features at the level's size."""
    spec = ctx.extractor.spec
    size = (level.height, level.width)
    base = resize_tensor(content, size)
    level_mask = None if mask is None else resize_tensor(mask, size).clamp(0, 1)
    # The half-size copy only from the second level on: at the coarse level it would be
    # smaller than the coarsest level itself, its deep Grams are statistics of a handful of
    # positions, and matching them pulled the full-size Grams away from the style.
    scales = (1, 2) if min(size) // 2 >= COARSEST_SIDE else (1,)
    style_losses = {}
    for scale in scales:
        grams = ctx.style_grams(round(max(size) * ctx.options.style_scale) // scale)
        style_losses[scale] = {n: StyleLoss(grams[n]) for n in spec.style}
    wanted = set(spec.style) | {spec.styled_content}
    if level.main_content:
        wanted.add(spec.content)
    with torch.no_grad(), autocast(ctx.device):
        content_feats = ctx.extractor(base, wanted)
    return LevelSetup(
        index=index,
        level=level,
        base=base,
        mask=level_mask,
        style=style_losses,
        styled_content=ContentLoss(content_feats[spec.styled_content]),
        main_content=ContentLoss(content_feats[spec.content]) if level.main_content else None,
        structure=StructureLoss(base, level_mask),
        wanted=wanted,
        # Dynamic weighting steers by the SSIM the result will have at the working size. A
        # coarse level is measured as the next level will start from it (upsampled, with
        # the content's finer detail put back): measured at its own size, where the style's
        # texture hides between fewer pixels, it over-states what survives, which left
        # photographs with fine detail less styled than others at the same strength.
        band=None if last else detail_band(content, size),
        combined_layer=COMBINED_LAYER if COMBINED_LAYER in wanted else spec.styled_content,
    )


def _start_image(ctx: RunContext, setup: LevelSetup, previous: torch.Tensor | None) -> torch.Tensor:
    """The level's starting image, ready to optimise: the content plus the seed's noise at
    the first level; later, the previous level's result at this size, which also becomes
    the target of the level's combined-image loss (set on `setup`). A later frame of an
    animation starts from the warped previous result wherever the flow holds, and as a
    frame alone would elsewhere: a pixel the camera newly sees starts from the content, not
    from whatever the warp dragged there (which left a smear behind a moving hand)."""
    if previous is None:
        noise = torch.randn(setup.base.shape, generator=ctx.generator).to(ctx.device)
        image = (setup.base + noise * INIT_NOISE).clamp(0, 1)
    else:
        # Upsampling blurs: put back the content's detail band, the difference between the
        # content at this size and at the previous one. The level then starts about as
        # similar to the content as the last one ended and only has to texture the new
        # frequencies.
        image = add_detail(previous, setup.base)
    if ctx.prior is not None:
        setup.temporal = TemporalLoss(*ctx.prior.at(setup.base.shape[-2:]))
        reliable = setup.temporal.reliable
        image = reliable * setup.temporal.warped + (1 - reliable) * image
    if previous is not None:
        layer = setup.combined_layer
        setup.wanted.add(layer)
        with torch.no_grad(), autocast(ctx.device):
            setup.combined = ContentLoss(ctx.extractor(image, {layer})[layer])
    if low_precision(ctx.device):
        image = image.contiguous(memory_format=torch.channels_last)
    return image.detach().requires_grad_(True)


def _optimise_level(
    ctx: RunContext,
    setup: LevelSetup,
    image: torch.Tensor,
    weight: DynamicWeight,
    content: torch.Tensor,
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """A level's iterations of Adam on `image`, steering `weight` by the SSIM to `content`
    (at the working size) after each."""
    iterations, first = setup.level.iterations, setup.index == 0
    base_lr = COARSE_LR if first else FINE_LR
    warmup = min(COARSE_WARMUP if first else FINE_WARMUP, max(1, iterations // 4))
    optimizer = torch.optim.Adam([image], lr=base_lr, betas=(0.9, 0.99))
    previous_total = math.inf
    for it in range(iterations):
        # Linear warm-up, then cosine decay to a tenth over the level (base_lr halves when
        # the loss jumps, below).
        cosine = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * it / max(1, iterations)))
        schedule = cosine * min(1.0, (it + 1) / warmup)
        terms = _level_terms(ctx, setup, image, weight.value)
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
        seen = image if setup.band is None else add_detail(image.detach(), content, setup.band)
        similarity = masked_ssim(seen, content, mask)
        weight.update(similarity, authority=schedule)
        losses = {k: float(v.detach()) for k, v in terms.items()}
        losses.update(total=total_value, style_weight=weight.value, ssim=similarity)
        ctx.run.losses = losses
        ctx.run.iterations += 1
        ctx.reporter(setup.index, it, iterations, losses, image)
    return image


def _level_terms(
    ctx: RunContext, setup: LevelSetup, image: torch.Tensor, style_weight: float
) -> dict[str, torch.Tensor]:
    """One iteration's weighted loss terms, by name."""
    spec, mask = ctx.extractor.spec, setup.mask
    blended = image if mask is None else mask * image + (1 - mask) * setup.base
    with autocast(ctx.device):
        feats = ctx.extractor(blended, setup.wanted)
    style_term = 0.0
    for scale, losses_at in setup.style.items():
        if scale == 1:
            scaled_feats, scaled_mask = feats, mask
        else:
            with autocast(ctx.device):
                scaled_feats = ctx.extractor(F.avg_pool2d(blended, scale), set(spec.style))
            scaled_mask = None if mask is None else F.avg_pool2d(mask, scale)
        part = weighted_style(spec, losses_at, scaled_feats, scaled_mask)
        style_term = style_term + part / len(setup.style)
    terms = {
        "style": style_weight * style_term,
        **image_terms(spec, feats, blended, setup.styled_content, setup.structure),
    }
    if setup.main_content is not None:
        terms["content"] = setup.main_content(feats[spec.content])
    if setup.combined is not None:
        terms["combined"] = COMBINED_WEIGHT * setup.combined(feats[setup.combined_layer])
    if setup.temporal is not None:
        terms["temporal"] = TEMPORAL_WEIGHT * setup.temporal(blended)
    return terms


def run_gatys(ctx: RunContext, content: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Gatys et al.'s method on `content` (1 x 3 x H x W, the working size) where `mask` is
    on, by L-BFGS from the content itself."""
    extractor, options, spec = ctx.extractor, ctx.options, ctx.extractor.spec
    tic = time.perf_counter()
    iterations = gatys_iterations(options)
    device = ctx.device
    grams = ctx.style_grams(round(max(content.shape[-2:]) * options.style_scale))
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
        ctx.run.losses = state["losses"]
        ctx.run.iterations += 1
        ctx.reporter(0, it, iterations, state["losses"], image)
    ctx.run.timings[f"level0_{content.shape[-1]}x{content.shape[-2]}"] = time.perf_counter() - tic
    return image.detach().clamp(0, 1)
