"""Which optical flow the animation work uses: accuracy and speed on a camera pan whose
motion is known (docs/benchmarks.md, "Optical flow").

The pan (nst_engine.evaluation.animation.camera_pan) is a 256x192 window moving over
examples/rocket.jpg by a fractional step each frame while zooming in slightly, so every
pixel's true flow is known. For each method: the mean
endpoint error against the true flow (pixels staying in view), the mean absolute difference
between a frame and the next one warped back with the method's flow on those pixels (the
unwarped difference is the floor's opposite), and the seconds per frame pair (one thread).

Run: .venv/bin/python scripts/flow_comparison.py (needs opencv-python-headless and
scikit-image, both in the `test` extra).
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage.registration import optical_flow_ilk, optical_flow_tvl1

from nst_engine.arrays import to_float
from nst_engine.evaluation.animation import camera_pan
from nst_engine.flow import flow_tensor, warp
from nst_engine.images import load_image

ROOT = Path(__file__).resolve().parent.parent
SIZE = (192, 256)  # h, w
FRAMES = 8


def grey8(rgb: np.ndarray) -> np.ndarray:
    return (np.clip(rgb @ np.array([0.299, 0.587, 0.114]), 0, 1) * 255 + 0.5).astype(np.uint8)


def dis(preset):
    def flow(a, b):
        return cv2.DISOpticalFlow_create(preset).calc(grey8(a), grey8(b), None)

    return flow


def farneback(a, b):
    return cv2.calcOpticalFlowFarneback(grey8(a), grey8(b), None, 0.5, 4, 15, 3, 5, 1.2, 0)


def skimage_method(function):
    def flow(a, b):
        v, u = function(grey8(a) / 255.0, grey8(b) / 255.0)
        return np.stack((u, v), -1)

    return flow


METHODS = {
    "OpenCV DIS ultrafast": dis(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST),
    "OpenCV DIS fast": dis(cv2.DISOPTICAL_FLOW_PRESET_FAST),
    "OpenCV DIS medium": dis(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM),
    "OpenCV Farneback": farneback,
    "scikit-image ILK": skimage_method(optical_flow_ilk),
    "scikit-image TV-L1": skimage_method(optical_flow_tvl1),
}


def warp_error(a, b, flow, valid):
    ta = torch.from_numpy(a.transpose(2, 0, 1))[None].float()
    tb = torch.from_numpy(b.transpose(2, 0, 1))[None].float()
    back = warp(tb, flow_tensor(flow.astype(np.float32)))
    return float((ta - back).abs().mean(1)[0][torch.from_numpy(valid)].mean())


def main() -> None:
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    photo = to_float(load_image(ROOT / "examples" / "rocket.jpg"))[..., :3]
    frames, truths = camera_pan(photo, FRAMES, SIZE)
    h, w = SIZE
    gy, gx = np.mgrid[0:h, 0:w]
    valid = [
        (gx + t[..., 0] > 0)
        & (gx + t[..., 0] < w - 1)
        & (gy + t[..., 1] > 0)
        & (gy + t[..., 1] < h - 1)
        for t in truths
    ]
    pairs = zip(frames, frames[1:], valid, strict=False)
    still = np.mean([np.abs(a - b).mean(-1)[v].mean() for a, b, v in pairs])
    print(f"{FRAMES} frames {w}x{h} (camera_pan's defaults); unwarped difference {still:.4f}")
    print("| method | endpoint error (px) | warp error | ms per pair |")
    print("| --- | --- | --- | --- |")
    for name, method in METHODS.items():
        epe, err, seconds = [], [], 0.0
        for a, b, truth, v in zip(frames, frames[1:], truths, valid, strict=False):
            tic = time.perf_counter()
            flow = method(a, b)
            seconds += time.perf_counter() - tic
            epe.append(np.linalg.norm(flow - truth, axis=-1)[v].mean())
            err.append(warp_error(a, b, flow, v))
        ms = 1000 * seconds / len(truths)
        print(f"| {name} | {np.mean(epe):.3f} | {np.mean(err):.4f} | {ms:.1f} |")


if __name__ == "__main__":
    main()
