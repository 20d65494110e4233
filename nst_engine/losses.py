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


def gram(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Gram matrix per image, averaged over (optionally mask-weighted) positions.

    features: B x C x H x W; mask: B x 1 x H x W soft weights in [0, 1]. Returns B x C x C.
    Computed in float32 even under autocast: the sums are over many positions.
    """
    b, c, h, w = features.shape
    flat = features.float().reshape(b, c, h * w)
    if mask is None:
        return flat @ flat.transpose(1, 2) / (h * w)
    weights = mask.float().reshape(b, 1, h * w)
    total = weights.sum(dim=2, keepdim=True).clamp_min(1e-6)
    return (flat * weights) @ flat.transpose(1, 2) / total


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
    """Relative Gram mismatch: sum (G(x)-G(s))^2 / sum G(s)^2, one target Gram per layer.

    With a mask, the image's Gram is taken only where the mask is on, so a small selection
    is compared with the whole style rather than diluted by unselected pixels.
    """

    def __init__(self, target_gram: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("target", target_gram.detach().float())
        self.scale = float(target_gram.float().pow(2).sum().clamp_min(1e-12))

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return (gram(features, resize_mask(mask, features)) - self.target).pow(2).sum() / self.scale


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
