"""Animations as files: a folder of frames (taken in name order), an animated GIF, WebP or
PNG (Pillow reads and writes them, frame durations and looping kept), or a video file
(nst_engine.video, through OpenCV: the `video` extra).

Every frame is read and checked before any work (`read_animation`): none at all, an
unreadable one and one of another size are each refused in one line. Results are written
one frame at a time, atomically (`FrameFolder`), so an interrupted run leaves only whole
frames and the next run resumes after the last one; an animated output file is assembled
from such a folder at the end (`write_animated`).
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from .arrays import from_float, to_float
from .errors import InputError
from .images import OUTPUT_TYPES, load_image, save_image, written_whole
from .options import DEFAULT_MAX_PIXELS
from .video import WRITE_CODECS, is_video, read_video, write_video

ANIMATED_TYPES = {".gif": "GIF", ".webp": "WEBP", ".png": "PNG", ".apng": "PNG"}
VIDEO_OUTPUTS = tuple(WRITE_CODECS)
DEFAULT_DURATION_MS = 100  # a frame folder says nothing of timing: 10 frames a second


@dataclass
class Animation:
    """The frames (H x W x C arrays), a file name for each, and for an animated file the
    duration of each frame in milliseconds and its loop count (0: for ever)."""

    frames: list[np.ndarray]
    names: list[str]
    durations: list[int]
    loop: int = 0
    fps: float | None = None  # a video's own rate (durations are whole milliseconds)


def is_animated_file(path: Path) -> bool:
    """An output written as one file (an animation or a video), not a folder of frames."""
    suffix = path.suffix.lower()
    return (suffix in ANIMATED_TYPES or suffix in VIDEO_OUTPUTS) and not path.is_dir()


def read_animation(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Animation:
    """The frames of a folder or an animated file, checked; InputError, in one line, for no
    frames, an unreadable frame or frames of different sizes."""
    if path.is_dir():
        animation = _read_folder(path, max_pixels)
    elif not path.exists():
        raise InputError(f"{path}: no such file or folder")
    elif is_video(path):
        frames, fps = read_video(path, max_pixels)
        names = [f"{path.stem}-{i + 1:04d}.png" for i in range(len(frames))]
        animation = Animation(frames, names, [round(1000 / fps)] * len(frames), fps=fps)
    else:
        animation = _read_animated(path, max_pixels)
    first = animation.frames[0].shape[:2]
    for name, frame in zip(animation.names, animation.frames, strict=True):
        if frame.shape[:2] != first:
            raise InputError(
                f"{path}: frame {name} is {frame.shape[1]}x{frame.shape[0]} and "
                f"{animation.names[0]} {first[1]}x{first[0]}; every frame needs one size"
            )
    return animation


def _read_folder(path: Path, max_pixels: int) -> Animation:
    files = sorted(
        p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
        and p.suffix.lower() in (*OUTPUT_TYPES, ".gif")
    )  # fmt: skip
    if not files:
        raise InputError(f"{path}: no frames (image files) in this folder")
    frames = [load_image(p, max_pixels) for p in files]  # InputError names the bad one
    return Animation(frames, [p.name for p in files], [DEFAULT_DURATION_MS] * len(files))


def _read_animated(path: Path, max_pixels: int) -> Animation:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
            if image.width * image.height > max_pixels:
                raise InputError(
                    f"{path}: frames of {image.width}x{image.height}, over the limit of "
                    f"{max_pixels:,} pixels"
                )
            frames, durations = [], []
            for frame in ImageSequence.Iterator(image):
                alpha = "A" in frame.getbands() or "transparency" in frame.info
                frames.append(np.asarray(frame.convert("RGBA" if alpha else "RGB")))
                durations.append(int(frame.info.get("duration", DEFAULT_DURATION_MS)))
            loop = int(image.info.get("loop", 0))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not an animation this program can read ({exc})") from None
    if len(frames) < 2:
        raise InputError(f"{path}: a single image, not an animation; use `nst stylize`")
    stem = path.stem
    names = [f"{stem}-{i + 1:04d}.png" for i in range(len(frames))]
    return Animation(frames, names, durations, loop)


class FrameFolder:
    """Where finished frames go, each under its name, written atomically (a partial file is
    renamed into place only when complete)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def done(self, names: list[str]) -> int:
        """How many frames, from the first, are already written: a resumed run starts
        after them."""
        count = 0
        while count < len(names) and (self.folder / names[count]).is_file():
            count += 1
        return count

    def read(self, name: str) -> np.ndarray:
        return load_image(self.folder / name)

    def write(self, name: str, image: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with written_whole(self.folder / name) as partial:
            save_image(partial, image)


def partial_folder(output: Path) -> Path:
    """Where the frames of an animated output file wait until all are done."""
    return output.parent / f".{output.name}.frames"


def write_animated(output: Path, frames: list[np.ndarray], animation: Animation) -> None:
    """The frames as one animated file (or video) of the output's type, with the input's
    timing; the partial folder is removed once it is written."""
    if output.suffix.lower() in VIDEO_OUTPUTS:
        fps = animation.fps or 1000 * len(frames) / sum(animation.durations)
        # A video holds 8-bit RGB: alpha is dropped (composited on nothing).
        write_video(output, [_eight_bit(frame)[..., :3] for frame in frames], fps)
    else:
        images = [Image.fromarray(_eight_bit(frame)) for frame in frames]
        extra = {"lossless": True} if output.suffix.lower() == ".webp" else {}
        with written_whole(output) as partial:
            images[0].save(
                partial,
                format=ANIMATED_TYPES[output.suffix.lower()],
                save_all=True,
                append_images=images[1:],
                duration=animation.durations,
                loop=animation.loop,
                **extra,
            )
    shutil.rmtree(partial_folder(output), ignore_errors=True)


def _eight_bit(frame: np.ndarray) -> np.ndarray:
    """An animated file holds 8-bit RGB or RGBA frames."""
    frame = frame if frame.dtype == np.uint8 else from_float(to_float(frame), np.uint8)
    if frame.shape[2] in (1, 2):
        grey = np.repeat(frame[..., :1], 3, axis=2)
        frame = grey if frame.shape[2] == 1 else np.concatenate([grey, frame[..., 1:]], 2)
    return np.ascontiguousarray(frame)
