"""The transformation network of fast mode: Johnson et al.'s (2016) residual network with
instance normalisation (Ulyanov et al. 2016) in place of batch normalisation, reflection
padding, and upsampling by nearest-neighbour resize followed by a convolution instead of
transposed convolutions (which leave checkerboard artefacts). It adds its output to the input
image, and its last convolution starts at zero, so an untrained network is the identity and
training starts from the content, as the optimisation does.

A network trained with a palette (`Palette`) first moves the photograph's colours to the
painting's (the mean and covariance of its RGB), then paints on that: a feed-forward network
learns a global change of colour only slowly (its last layer moves the image by a fraction
of a percent per step), and without the palette the first VGG layer's Gram, mostly colour,
stayed unmatched after thousands of steps (docs/benchmarks.md, "Gallery networks on the
CPU, again").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..devices import full_precision

# The network's last layer speaks in 0..255 units, as in Johnson et al.: Adam moves every
# weight by about the learning rate, and on a 0..1 scale its first steps would throw the
# image far off; on this scale lr = 1e-3 moves it by a few percent.
RESIDUAL_SCALE = 1 / 255


def _matrix_sqrt(c: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """Square root (or inverse square root) of symmetric positive semi-definite matrices."""
    values, vectors = torch.linalg.eigh(c)
    values = values.clamp_min(1e-8)
    root = values.rsqrt() if inverse else values.sqrt()
    return vectors @ torch.diag_embed(root) @ vectors.transpose(-1, -2)


def colour_statistics(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (B x 3) and covariance (B x 3 x 3) of the colours of B x 3 x H x W images."""
    flat = rgb.float().flatten(2)
    mean = flat.mean(-1)
    centred = flat - mean[..., None]
    # A tiny ridge keeps a flat (single-colour) image's covariance invertible.
    ridge = 1e-5 * torch.eye(3, device=rgb.device)
    return mean, centred @ centred.transpose(1, 2) / flat.shape[-1] + ridge


def match_colours(rgb: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """Each image's colours moved to the given mean and covariance by the linear map that
    moves them least (the Wasserstein-2 optimal map between Gaussians), clamped to [0, 1]."""
    # In float32 whatever the autocast: the covariance sums over every pixel.
    with full_precision(rgb.device):
        own_mean, own_cov = colour_statistics(rgb)
        root, inverse_root = _matrix_sqrt(own_cov), _matrix_sqrt(own_cov, inverse=True)
        transform = inverse_root @ _matrix_sqrt(root @ cov.float() @ root) @ inverse_root
        centred = rgb.float().flatten(2) - own_mean[..., None]
        moved = transform @ centred + mean.float().reshape(-1, 3, 1)
    return moved.reshape(rgb.shape).clamp(0, 1)


class Palette(nn.Module):
    """The painting's colour statistics, and the step that moves a photograph's colours to
    them (`match_colours`, over the whole image, so the same photograph gets the same colours
    whatever part of it is painted)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.full((3,), 0.5))
        self.register_buffer("cov", torch.eye(3) * 0.05)

    def set_style(self, rgb: torch.Tensor) -> None:
        """Take the statistics of a 1 x 3 x H x W painting."""
        mean, cov = colour_statistics(rgb)
        self.mean.copy_(mean[0])
        self.cov.copy_(cov[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return match_colours(x, self.mean, self.cov)


def _conv(channels_in: int, channels_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.ReflectionPad2d(kernel // 2), nn.Conv2d(channels_in, channels_out, kernel, stride)
    )


def _norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=True)


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, 3),
            _norm(channels),
            nn.ReLU(),
            _conv(channels, channels, 3),
            _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _Upsample(nn.Module):
    """Nearest-neighbour resize by 2, then a convolution: no checkerboard artefacts."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv = _conv(channels_in, channels_out, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class TransformerNet(nn.Module):
    """Johnson et al.'s residual network with instance normalisation.

    `width` is the first layer's channel count (the next two double it); 32 with 5 residual
    blocks is the published network (1.7 M parameters, 6.7 MB in float32). Any input size
    works: the input is reflection-padded to a multiple of 4 and the output cropped back.
    The output is the input plus the network's residual (RGB, nominally [0, 1], unclamped).
    With `palette`, the input's colours are first moved to the painting's (`Palette`) and
    the residual is added to that: `forward(x)` is `paint(palette(x))`.
    """

    def __init__(self, width: int = 32, residual_blocks: int = 5, palette: bool = False) -> None:
        super().__init__()
        self.palette = Palette() if palette else None
        w = width
        self.down = nn.Sequential(
            _conv(3, w, 9),
            _norm(w),
            nn.ReLU(),
            _conv(w, 2 * w, 3, stride=2),
            _norm(2 * w),
            nn.ReLU(),
            _conv(2 * w, 4 * w, 3, stride=2),
            _norm(4 * w),
            nn.ReLU(),
        )
        self.res = nn.Sequential(*(_Residual(4 * w) for _ in range(residual_blocks)))
        self.up = nn.Sequential(
            _Upsample(4 * w, 2 * w),
            _norm(2 * w),
            nn.ReLU(),
            _Upsample(2 * w, w),
            _norm(w),
            nn.ReLU(),
            _conv(w, 3, 9),
        )
        last = self.up[-1][1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.paint(x if self.palette is None else self.palette(x))

    def paint(self, x: torch.Tensor) -> torch.Tensor:
        """The network after the palette step: x plus the painted residual."""
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % 4, -width % 4
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else x
        residual = self.up(self.res(self.down(padded)))[..., :height, :width]
        # The sum in float32: under reduced precision the input would lose its low bits.
        return x.float() + RESIDUAL_SCALE * residual.float()
