"""The paper's two quality metrics, defined precisely so every figure can be reproduced.

SSIM (content preservation, higher is better): the output is resized to the content's size
(antialiased bilinear), both are reduced to luminance (BT.601 luma of RGB in [0, 1], alpha
ignored), and the standard SSIM of Wang et al. 2004 is averaged over the image: an 11x11
Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, data range 1, valid positions only.

Gram Matrix Difference (style match, lower is better): the style is resized so its long side
equals the output's (aspect kept; both capped at GMD_MAX_SIDE), so the style is judged at the
scale it was asked for, and both are passed through the embedded
Oxford VGG-19 with max pooling (the network as trained). At relu1_1, relu2_1, relu3_1,
relu4_1 and relu5_1, G = F F^T / (H W) (C x C, averaged over positions); the layer's
difference is the relative Frobenius norm ||G_out - G_style|| / ||G_style||, and GMD is the
mean over the five layers. 0 means identical style statistics; an unrelated photograph
typically scores 0.6 to 1.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .features import VGG19_LAYERS, load_extractor
from .images import as_array, fit_long_side, resize_tensor, split_channels, to_tensor
from .losses import gram

GMD_MAX_SIDE = 1024
GMD_LAYERS = VGG19_LAYERS.style


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return (g / g.sum()).float()


def ssim_map(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-position SSIM of two B x 1 x H x W luminance tensors in [0, 1] (valid region)."""
    g = _gaussian_window().to(x.device)
    win_h, win_w = g.view(1, 1, -1, 1), g.view(1, 1, 1, -1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, win_h), win_w)

    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )


def luminance_tensor(rgb: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of a B x 3 x H x W tensor -> B x 1 x H x W."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=rgb.device, dtype=rgb.dtype)
    return (rgb * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def ssim(content: np.ndarray, output: np.ndarray) -> float:
    """Mean SSIM between the content's and the output's luminance (see module docstring)."""
    a = to_tensor(split_channels(as_array(content, "the content image"))[0])
    b = to_tensor(split_channels(as_array(output, "the output image"))[0])
    b = resize_tensor(b, a.shape[-2:])
    return float(ssim_map(luminance_tensor(a), luminance_tensor(b)).mean())


@torch.no_grad()
def style_grams(image: np.ndarray, side: int) -> dict[str, torch.Tensor]:
    """The GMD's Gram matrices of one image (see module docstring)."""
    rgb = split_channels(as_array(image))[0]
    extractor = load_extractor("vgg19", "max")  # always on the CPU: figures comparable anywhere
    t = resize_tensor(to_tensor(rgb), fit_long_side(*rgb.shape[:2], min(side, GMD_MAX_SIDE)))
    feats = extractor(t, set(GMD_LAYERS))
    return {name: gram(feats[name])[0] for name in GMD_LAYERS}


def gram_differences(output: np.ndarray, style: np.ndarray) -> dict[str, float]:
    """Each layer's relative Gram difference between an output and a style image; their mean
    is the GMD. Per layer, because one layer left unmatched can dominate the mean."""
    output = as_array(output, "the output image")
    side = max(output.shape[:2])
    target, got = style_grams(style, side), style_grams(output, side)
    return {n: float((got[n] - target[n]).norm() / target[n].norm()) for n in GMD_LAYERS}


def mean_gram_difference(layers: dict[str, float]) -> float:
    """The GMD from `gram_differences`' per-layer figures: their mean."""
    return float(np.mean(list(layers.values())))


def gram_difference(output: np.ndarray, style: np.ndarray) -> float:
    """Gram Matrix Difference between an output and a style image (see module docstring)."""
    return mean_gram_difference(gram_differences(output, style))
