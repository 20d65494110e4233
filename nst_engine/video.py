"""Video files as animations, through OpenCV (the optional extra `video`, which the optical
flow needs anyway): its wheels bundle FFmpeg, so MP4, AVI, MOV, MKV and WebM read without
any other program.

A video is read whole into memory, like every animation (`frames.read_animation`), so its
size is checked against the free RAM from its header before a frame is decoded. Results are
written as MP4 (MPEG-4 Part 2, 'mp4v'), AVI (Motion JPEG) or MKV at the input's frame rate:
lossy, as video is; for lossless frames, write a folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InputError
from .flow import INSTALL_HINT, FlowUnavailable
from .images import written_whole

READ_TYPES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm")
# The codec each writable container gets (OpenCV's four-character codes).
WRITE_CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}
DEFAULT_FPS = 10.0


def _cv2():
    try:
        import cv2
    except ImportError:
        raise FlowUnavailable(INSTALL_HINT.replace("optical flow", "video files")) from None
    return cv2


def is_video(path: Path) -> bool:
    return path.suffix.lower() in READ_TYPES


def read_video(path: Path, max_pixels: int) -> tuple[list[np.ndarray], float]:
    """The frames of a video file (RGB u8) and its frames per second; InputError, in one
    line, for a file OpenCV cannot open, frames over max_pixels, or a video that would not
    fit in the free memory."""
    from .memory import free_ram_bytes

    cv2 = _cv2()
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputError(f"{path}: not a video this program can read")
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
        if width * height > max_pixels:
            raise InputError(
                f"{path}: frames of {width}x{height}, over the limit of {max_pixels:,} pixels"
            )
        # The frames, and the float copies the painting makes of about as many again.
        needed = 2 * count * width * height * 3
        if needed > free_ram_bytes():
            raise InputError(
                f"{path}: {count} frames of {width}x{height} need about {needed / 2**30:.1f} "
                "GiB of memory, more than is free; cut the video into shorter pieces"
            )
        frames = []
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            frames.append(np.ascontiguousarray(bgr[..., ::-1]))
    finally:
        capture.release()
    if not frames:
        raise InputError(f"{path}: no frame could be decoded")
    return frames, fps


def write_video(output: Path, frames: list[np.ndarray], fps: float) -> None:
    """The frames (8-bit RGB) as a video file of the output's type at `fps`, written
    atomically."""
    cv2 = _cv2()
    height, width = frames[0].shape[:2]
    codec = cv2.VideoWriter_fourcc(*WRITE_CODECS[output.suffix.lower()])
    with written_whole(output) as partial:
        writer = cv2.VideoWriter(str(partial), codec, fps, (width, height))
        if not writer.isOpened():
            raise InputError(f"{output}: OpenCV cannot write this kind of video here")
        try:
            for frame in frames:
                writer.write(np.ascontiguousarray(frame[..., ::-1]))
        finally:
            writer.release()
