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
typically scores 0.6 to 1. With a stroke size (`style_scale`) other than 1 the style is
resized to that many times the output's long side, the scale it was matched at.

Sharpness (the full-resolution measure): the mean gradient magnitude of the luminance, with
forward differences; `sharpness_ratio` divides the output's by the content's, both at the
content's full size (1: as sharp as the photograph; an upsampled small result falls far
below).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .arrays import as_array, fit_long_side, resize_tensor, split_channels, to_numpy, to_tensor
from .features import VGG19_LAYERS, gram, load_extractor

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


def mean_ssim(
    image: torch.Tensor, content: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """The SSIM of two B x 3 x H x W RGB tensors in [0, 1] as `ssim` measures it (luminance,
    valid positions), averaged over the batch, or where a B x 1 x H x W soft mask is on.
    Differentiable: the optimisation's structure loss is 1 minus this."""
    values = ssim_map(luminance_tensor(image.float()), luminance_tensor(content.float()))
    if mask is None:
        return values.mean()
    pad = (mask.shape[-2] - values.shape[-2]) // 2, (mask.shape[-1] - values.shape[-1]) // 2
    inner = mask[..., pad[0] : pad[0] + values.shape[-2], pad[1] : pad[1] + values.shape[-1]]
    return (values * inner).sum() / inner.sum().clamp_min(1e-6)


def ssim(content: np.ndarray, output: np.ndarray) -> float:
    """Mean SSIM between the content's and the output's luminance (see module docstring)."""
    a = to_tensor(split_channels(as_array(content, "the content image"))[0])
    b = to_tensor(split_channels(as_array(output, "the output image"))[0])
    return float(mean_ssim(resize_tensor(b, a.shape[-2:]), a))


@torch.no_grad()
def style_grams(image: np.ndarray, side: int, cap: bool = True) -> dict[str, torch.Tensor]:
    """The GMD's Gram matrices of one image at long side `side` (at most GMD_MAX_SIDE,
    unless `cap` is off: a style at a stroke scale above 1)."""
    rgb = split_channels(as_array(image))[0]
    extractor = load_extractor("vgg19", "max")  # always on the CPU: figures comparable anywhere
    side = min(side, GMD_MAX_SIDE) if cap else side
    t = resize_tensor(to_tensor(rgb), fit_long_side(*rgb.shape[:2], side))
    feats = extractor(t, set(GMD_LAYERS))
    return {name: gram(feats[name])[0] for name in GMD_LAYERS}


def gram_differences(
    output: np.ndarray, style: np.ndarray, style_scale: float = 1.0
) -> dict[str, float]:
    """Each layer's relative Gram difference between an output and a style image; their mean
    is the GMD. Per layer, because one layer left unmatched can dominate the mean."""
    output = as_array(output, "the output image")
    side = min(max(output.shape[:2]), GMD_MAX_SIDE)
    target = style_grams(style, round(side * style_scale), cap=False)
    got = style_grams(output, side)
    return {n: float((got[n] - target[n]).norm() / target[n].norm()) for n in GMD_LAYERS}


def mean_gram_difference(layers: dict[str, float]) -> float:
    """The GMD from `gram_differences`' per-layer figures: their mean."""
    return float(np.mean(list(layers.values())))


def gram_difference(output: np.ndarray, style: np.ndarray) -> float:
    """Gram Matrix Difference between an output and a style image (see module docstring)."""
    return mean_gram_difference(gram_differences(output, style))


def sharpness(image: np.ndarray) -> float:
    """Mean gradient magnitude of the image's luminance (see module docstring)."""
    y = luminance_tensor(to_tensor(split_channels(as_array(image, "the image"))[0]))
    dx = y[..., :-1, 1:] - y[..., :-1, :-1]
    dy = y[..., 1:, :-1] - y[..., :-1, :-1]
    return float((dx * dx + dy * dy).sqrt().mean())


def sharpness_ratio(output: np.ndarray, content: np.ndarray) -> float:
    """The output's sharpness over the content's, both at the content's full size."""
    content = as_array(content, "the content image")
    output = as_array(output, "the output image")
    if output.shape[:2] != content.shape[:2]:
        output = to_numpy(resize_tensor(to_tensor(split_channels(output)[0]), content.shape[:2]))
    return sharpness(output) / max(sharpness(content), 1e-12)


def warping_error(outputs: Sequence[np.ndarray], frames: Sequence[np.ndarray]) -> float:
    """Temporal consistency of `outputs` (lower is steadier), as Lai et al. (2018) define it:
    the optical flow and its occlusions are measured on the input `frames`; for each pair of
    consecutive outputs, the mean over the reliable pixels of the squared colour distance
    ||O_t(x) - O_t+1(x + w(x))||^2 (RGB in [0, 1], summed over the channels); averaged over
    the pairs. `warping_error(frames, frames)` is the input's own figure, the floor.

    Needs OpenCV (the `video` extra) for the flow."""
    from .flow import motion, warp

    if len(outputs) != len(frames) or len(frames) < 2:
        raise ValueError("the warping error needs two or more frames and one output each")
    errors = []
    for t in range(len(frames) - 1):
        current, following = (_rgb_float(f) for f in (frames[t], frames[t + 1]))
        # Motion from frame t+1 back to t: flow t -> t+1 and where it holds.
        step = motion(current, following)
        a = to_tensor(_rgb_float(outputs[t]))
        b = to_tensor(_rgb_float(outputs[t + 1]))
        squared = (a - warp(b, step.flow)).pow(2).sum(1, keepdim=True)
        reliable = step.reliable
        errors.append(float((squared * reliable).sum() / reliable.sum().clamp_min(1)))
    return float(np.mean(errors))


def _rgb_float(image: np.ndarray) -> np.ndarray:
    return split_channels(as_array(image))[0]
