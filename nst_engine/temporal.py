"""What a frame of an animation takes from the frame before it (Ruder, Dosovitskiy and Brox
2016, "Artistic style transfer for videos").

`TemporalGuide` is given to `stylize` for frame t at the frame's full size: the result of
frame t-1, frames t-1 and t, the Motion from t-1 to t, and the balance frame 1 settled on. `stylize`
turns it into a `Prior` at its working size (inside the mask's box), which the optimisation
starts from at every level and keeps close to where the flow is reliable (TemporalLoss); a
trained network's output is blended with it instead (`blend_fast`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .arrays import resize_tensor, to_tensor
from .flow import Motion, warp

# A frame after the first starts from the previous result, already styled where the flow
# holds: it needs only a share of an independent frame's iterations (the target: at
# most 60% of an independent frame's time, flow included).
ITERATION_SHARE = 0.45
# The temporal term's weight against the proposed method's (normalised) terms: a reliable
# pixel 0.1 away from the warped previous result costs about as much as the style term.
TEMPORAL_WEIGHT = 1000.0
# The previous result warped into frame t keeps the warp's misplacements of the content (a
# flow a fraction of a pixel off at every leaf, a bilinear blur); this share of the input's
# own change that the flow does not explain, frame t minus frame t-1 warped, is added back,
# so the content's edges come from frame t. 0 is Ruder et al.'s target (steadiest, but SSIM
# fell frame after frame on the tree clip), 1 carries only what the style added (SSIM holds,
# but the input's own flicker comes through: the street clip's warping error rose to 0.41x
# that of independent styling). Measured in docs/animation.md.
CONTENT_ANCHOR = 0.5
# A trained network's output moves this share of the way to the warped previous result
# where the flow is reliable: all of it would freeze the strokes and let warping errors
# pile up from frame to frame; none would boil.
FAST_BLEND = 0.6


@dataclass(frozen=True)
class Prior:
    """The previous result carried into this frame (warped, with CONTENT_ANCHOR of the
    frame's own change) at the working size (1 x 3 x H x W), where it is reliable (1 x 1 x
    H x W, 1 or 0), the style weight per level to start from and the SSIM to steer to
    (empty and None: let dynamic weighting settle them, as on a first frame)."""

    image: torch.Tensor
    reliable: torch.Tensor
    level_weights: tuple[float, ...] = ()
    similarity: float | None = None  # the SSIM the first frame ended at: later frames' target

    def at(self, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(warped previous result, reliability) at another size (h, w)."""
        if tuple(self.image.shape[-2:]) == tuple(size):
            return self.image, self.reliable
        image = resize_tensor(self.image, size).clamp(0, 1)
        return image, (resize_tensor(self.reliable, size) > 0.999).to(image.dtype)


@dataclass(frozen=True)
class TemporalGuide:
    """Frame t-1 for frame t at full size: its result, frames t-1 and t (float RGB H x W x 3
    in [0, 1]), the Motion from t-1 to t, the style weights per level to start from (carried
    from frame to frame: nst_engine.sequence) and the SSIM frame 1 ended at."""

    previous: np.ndarray
    previous_frame: np.ndarray
    frame: np.ndarray
    motion: Motion
    level_weights: tuple[float, ...] = ()
    similarity: float | None = None

    def prior(
        self, box: tuple[int, int, int, int], size: tuple[int, int], device: torch.device
    ) -> Prior:
        """The guide inside `box` (top, bottom, left, right) at the working `size`, on
        `device`."""
        top, bottom, left, right = box
        flow = self.motion.flow.to(device)
        warped = warp(to_tensor(self.previous, device), flow)
        change = to_tensor(self.frame, device) - warp(to_tensor(self.previous_frame, device), flow)
        warped = (warped + CONTENT_ANCHOR * change).clamp(0, 1)
        reliable = self.motion.reliable.to(device)
        crop = Prior(
            warped[..., top:bottom, left:right],
            reliable[..., top:bottom, left:right],
            self.level_weights,
        )
        return Prior(*crop.at(size), self.level_weights, self.similarity)


def blend_fast(output: torch.Tensor, prior: Prior | None) -> torch.Tensor:
    """A trained network's output moved FAST_BLEND of the way to the carried previous result
    where the flow is reliable (unchanged without a prior: a first or independent frame)."""
    if prior is None:
        return output
    warped, reliable = prior.at(tuple(output.shape[-2:]))
    return output + FAST_BLEND * reliable * (warped - output)
