"""The transformation network of fast mode: Johnson et al.'s (2016) residual network with
instance normalisation (Ulyanov et al. 2016) in place of batch normalisation, reflection
padding, and upsampling by nearest-neighbour resize followed by a convolution instead of
transposed convolutions (which leave checkerboard artefacts). It adds its output to the input
image, and its last convolution starts at zero, so an untrained network is the identity and
training starts from the content, as the optimisation does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# The network's last layer speaks in 0..255 units, as in Johnson et al.: Adam moves every
# weight by about the learning rate, and on a 0..1 scale its first steps would throw the
# image far off; on this scale lr = 1e-3 moves it by a few percent.
RESIDUAL_SCALE = 1 / 255


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
    """

    def __init__(self, width: int = 32, residual_blocks: int = 5) -> None:
        super().__init__()
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
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % 4, -width % 4
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else x
        residual = self.up(self.res(self.down(padded)))[..., :height, :width]
        # The sum in float32: under reduced precision the input would lose its low bits.
        return x.float() + RESIDUAL_SCALE * residual.float()
