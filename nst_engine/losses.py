"""The terms of the composite loss, one small class each.

Every term is normalised by its target's own magnitude, so a weight of 1 means "about as
important as a complete mismatch": that keeps the same weights meaningful across styles and
layers whose raw activations differ by orders of magnitude. The `gatys` method instead uses
the paper's raw formulas (see `GatysStyleLoss`), which is exactly what makes its balance
depend on the style.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .features import gram
from .metrics import mean_ssim


def resize_mask(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    """The mask at a feature map's resolution (area-averaged, so soft edges stay soft)."""
    if mask is None:
        return None
    return F.adaptive_avg_pool2d(mask, like.shape[-2:])


class ContentLoss(nn.Module):
    """Squared feature error relative to the target's energy: 1/2 sum (F(x)-F(c))^2 / sum F(c)^2.

    Used for the main content term (deep layer), the secondary styled-content term (shallow
    layer, same target) and the combined-image term (target: the previous level's result).
    """

    def __init__(self, target: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("target", target.detach().float())
        self.scale = float(target.float().pow(2).sum().clamp_min(1e-8))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return 0.5 * (features.float() - self.target).pow(2).sum() / self.scale


class StyleLoss(nn.Module):
    """Relative Gram mismatch ||G(x) - G(s)|| / ||G(s)|| (Frobenius), one target per layer:
    the GMD metric's own figure for the layer.

    Not squared: the gradient of a squared error fades as a layer nears its target, so the
    optimiser kept pushing the layer that was furthest off (relu5_1) and left the others
    half matched; the plain norm pulls every layer with the same force whatever its error
    (lower GMD at the same SSIM, docs/benchmarks.md). With a mask, the image's
    Gram is taken only where the mask is on, so a small selection is compared with the whole
    style rather than diluted by unselected pixels.
    """

    def __init__(self, target_gram: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("target", target_gram.detach().float())
        self.scale = float(target_gram.float().pow(2).sum().clamp_min(1e-12))

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        squared = (gram(features, resize_mask(mask, features)) - self.target).pow(2).sum()
        # The small floor keeps the square root differentiable at an exact match.
        return (squared / self.scale + 1e-12).sqrt()


class StructureLoss(nn.Module):
    """1 - SSIM between the image's luminance and the content's, where the mask is on.

    The content's fine structure, measured the way the result is judged (metrics.ssim) and
    the way dynamic weighting steers the balance. The feature content losses also keep
    colour and the deep layers' layout, which SSIM does not see; with this term the
    optimiser spends the structure budget the strength allows where SSIM measures it, and
    moves colour, texture and large-scale tone toward the style's where SSIM does not mind
    (the largest single gain of GMD at the same SSIM, docs/benchmarks.md).
    """

    def __init__(self, content: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("content", content.detach().float())
        self.mask = mask

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return 1 - mean_ssim(image, self.content, self.mask)


class TemporalLoss(nn.Module):
    """Ruder et al.'s (2016) short-term temporal term: the mean squared difference from the
    previous frame's result warped into this frame, counted only where the flow is reliable
    (`reliable` 1) and nowhere else (0: occlusions, motion boundaries), so what the camera
    newly sees is painted freely and what it saw before keeps its strokes."""

    def __init__(self, warped: torch.Tensor, reliable: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("warped", warped.detach().float())
        self.register_buffer("reliable", reliable.detach().float())

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return (self.reliable * (image.float() - self.warped).pow(2)).mean()


class GatysStyleLoss(nn.Module):
    """The 2015 paper's per-layer term: 1/(4 N^2 M^2) sum (G(x) - G(s))^2, G unnormalised.

    With G = F F^T / M (our `gram`) this is sum (G(x)-G(s))^2 / (4 N^2). Its size follows the
    style's raw activation energy, which is why fixed weights treat styles so differently.
    """

    def __init__(self, target_gram: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("target", target_gram.detach().float())

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        n = features.shape[1]
        diff = gram(features, resize_mask(mask, features)) - self.target
        return diff.pow(2).sum() / (4 * n * n)


class GatysContentLoss(nn.Module):
    """The 2015 paper's content term: 1/2 sum (F(x) - F(c))^2."""

    def __init__(self, target: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("target", target.detach().float())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return 0.5 * (features.float() - self.target).pow(2).sum()


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels (against noise and checkerboards)."""
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()
