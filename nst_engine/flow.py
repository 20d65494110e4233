"""Optical flow between frames, backward warping, and where the flow can be trusted.

Conventions: a flow `w` from frame a to frame b is H x W x 2 (x, y) in pixels, such that
a(x) ~ b(x + w(x)); `warp(b, w)` samples b at x + w(x) and so brings b into a's frame.

The flow is OpenCV's DIS (dense inverse search, its MEDIUM preset), chosen by measuring it
against Farneback and scikit-image's ILK and TV-L1 on a camera pan whose motion is known
(docs/benchmarks.md, "Optical flow"): as accurate as the best, a tenth of their time, and
offline. OpenCV is an optional extra (`video`): the rest of the engine imports without it.

`reliability` is the forward-backward check of Ruder, Dosovitskiy and Brox (2016): a pixel
whose flow there and back does not return to it is occluded in the other frame, and one on a
motion boundary (where the flow changes sharply) is not trusted either; both get weight 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .errors import NSTError

INSTALL_HINT = (
    "optical flow needs OpenCV: pip install 'neural-style-gimp[video]' "
    "(or pip install opencv-python-headless)"
)


class FlowUnavailable(NSTError):
    """OpenCV, which computes the optical flow, is not installed."""


def _cv2():
    try:
        import cv2
    except ImportError:
        raise FlowUnavailable(INSTALL_HINT) from None
    return cv2


def require() -> None:
    """FlowUnavailable now, before any frame is painted, unless OpenCV is installed."""
    _cv2()


def _grey8(rgb: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 1] (H x W x 3) as the 8-bit luminance DIS works on."""
    y = rgb[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return (np.clip(y, 0, 1) * 255 + 0.5).astype(np.uint8)


def optical_flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The flow from `source` to `target` (float RGB H x W x 3 in [0, 1], same size):
    H x W x 2 float32 with source(x) ~ target(x + flow(x))."""
    cv2 = _cv2()
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(_grey8(source), _grey8(target), None).astype(np.float32)


def flow_tensor(flow: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """An H x W x 2 flow as a 1 x 2 x H x W tensor on `device`."""
    return torch.from_numpy(np.ascontiguousarray(flow.transpose(2, 0, 1)))[None].to(device)


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A 1 x 2 x H x W flow at another size (h, w): resampled, and its vectors scaled."""
    h, w = flow.shape[-2:]
    if (h, w) == tuple(size):
        return flow
    resized = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    scale = torch.tensor([size[1] / w, size[0] / h], device=flow.device, dtype=flow.dtype)
    return resized * scale.view(1, 2, 1, 1)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """`image` (B x C x H x W) sampled at x + flow(x) (bilinear, edges repeated): the image
    brought into the frame the flow starts from. Runs on the image's device."""
    _, _, h, w = image.shape
    flow = resize_flow(flow.to(image.device, image.dtype), (h, w))
    ys = torch.arange(h, device=image.device, dtype=image.dtype)
    xs = torch.arange(w, device=image.device, dtype=image.dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    x = grid_x + flow[:, 0]
    y = grid_y + flow[:, 1]
    # grid_sample's coordinates: -1 and 1 are the outer edges of the corner pixels.
    grid = torch.stack(((2 * x + 1) / w - 1, (2 * y + 1) / h - 1), dim=-1)
    grid = grid.expand(image.shape[0], -1, -1, -1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


def reliability(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """1 x 1 x H x W mask, 1 where `forward` (a -> b) can be trusted, 0 where not, given
    `backward` (b -> a), both 1 x 2 x H x W: Ruder et al.'s two tests, plus pixels whose flow
    leaves the frame.

    Occlusion: with w = forward(x) and v = backward(x + w), a pixel is occluded in b where
    |w + v|^2 > 0.01 (|w|^2 + |v|^2) + 0.5. Motion boundary: where
    |grad u|^2 + |grad v|^2 > 0.01 |w|^2 + 0.002 (u, v the flow's components)."""
    _, _, h, w = forward.shape
    back = warp(backward, forward)
    round_trip = (forward + back).pow(2).sum(1, keepdim=True)
    occluded = round_trip > 0.01 * (forward.pow(2).sum(1, True) + back.pow(2).sum(1, True)) + 0.5
    dx = F.pad(forward[..., :, 1:] - forward[..., :, :-1], (0, 1, 0, 0))
    dy = F.pad(forward[..., 1:, :] - forward[..., :-1, :], (0, 0, 0, 1))
    gradient = (dx.pow(2) + dy.pow(2)).sum(1, keepdim=True)
    boundary = gradient > 0.01 * forward.pow(2).sum(1, keepdim=True) + 0.002
    ys = torch.arange(h, device=forward.device, dtype=forward.dtype).view(1, 1, h, 1)
    xs = torch.arange(w, device=forward.device, dtype=forward.dtype).view(1, 1, 1, w)
    x, y = xs + forward[:, :1], ys + forward[:, 1:]
    outside = (x < -0.5) | (x > w - 0.5) | (y < -0.5) | (y > h - 0.5)
    return (~(occluded | boundary | outside)).to(forward.dtype)


@dataclass(frozen=True)
class Motion:
    """How frame t relates to frame t-1: `flow` from t to t-1 (so `warp(result_prev, flow)`
    brings the previous result into frame t) and `reliable`, where that is trusted (1 x 1 x
    H x W, 0 at occlusions, motion boundaries and pixels from outside the frame)."""

    flow: torch.Tensor
    reliable: torch.Tensor

    def at(self, size: tuple[int, int]) -> Motion:
        """The same motion at another size (h, w)."""
        if tuple(self.flow.shape[-2:]) == tuple(size):
            return self
        reliable = F.interpolate(self.reliable, size=size, mode="bilinear", align_corners=False)
        return Motion(resize_flow(self.flow, size), (reliable > 0.999).to(reliable.dtype))


def motion(current: np.ndarray, previous: np.ndarray, device: torch.device | str = "cpu") -> Motion:
    """The Motion from frame `previous` to frame `current` (float RGB H x W x 3 in [0, 1],
    same size), computed on the CPU (OpenCV), held on `device`."""
    to_previous = flow_tensor(optical_flow(current, previous), device)
    to_current = flow_tensor(optical_flow(previous, current), device)
    return Motion(to_previous, reliability(to_previous, to_current))
