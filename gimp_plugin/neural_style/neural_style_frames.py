"""Layers as frames: "All layers as frames" in the Neural Style dialog (GIMP's animations),
and "All layers, each alone" (the same layers and job, each frame styled on its own).

GIMP's animations are images whose top-level layers are the frames, the bottom layer first
(Filters > Animation > Playback and the GIF and WebP export "as animation" read them so, and
read a frame's time and disposal from tags in its name: "(100ms)", "(combine)", "(replace)").
This module chooses the frames (the selected layers when several are selected, else every
top-level layer), checks them before any work, names their new layers, and runs the one job
that styles them all, writing each frame's layer as the server sends it. Only the class at
the end calls GIMP, through the `Gimp` and `Gegl` modules neural_style.py hands it; the rest
runs in the ordinary test suite with a host double (tests/test_plugin_frames.py).

Where the new layers go: directly above the topmost frame, in the frames' order (the first
frame's layer lowest), as top-level layers beside the frames (or in the frames' group). A
layer group would be a single frame to Playback and to the export, which take every top-level
layer as a frame, hidden or not; so once the source frames are deleted the image plays and
exports as the styled animation, with the sources' timing.

Undo: while the job runs each finished frame is a layer inserted with undo frozen around that
call only (as the preview layer is), so the user watches the frames arrive; when the last one
is in they are replaced by copies inserted in one undo group, the one step Edit > Undo
removes. On any failure, a timeout or a cancel the plug-in sees, the frames' layers are
removed with undo frozen: the image and its undo history are as they were.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import neural_style_core as core

# The procedure's "apply-to" argument: (nick, label, help).
APPLY_TO = (
    ("layer", "This layer", "Style the selected layer"),
    ("frames", "All layers as frames",
     "Style the image's layers as the frames of an animation, bottom layer first (the "
     "selected layers when several are selected): one new layer per frame"),
    ("layers", "All layers, each alone",
     "Style the image's layers (the selected ones when several are selected) as separate "
     "pictures in one job: one new layer per layer, none steadied by the one before (any "
     "method)"),
)  # fmt: skip
FRAMES, EACH_ALONE = "frames", "layers"
# GIMP's frame tags as Playback and the GIF export parse them (animation-play.c: is_ms_tag,
# is_disposal_tag): "(" digits "ms" ")" with spaces allowed inside, anywhere in the name;
# "(combine)" or "(replace)" exactly, and only at the very end of the name.
FRAME_TAG = re.compile(r"\( *\d+ *[mM][sS] *\)|\((?:combine|replace)\)")
# The name a frame's layer has while the job runs; a run killed by GIMP's Cancel button
# leaves such layers, and the next run removes them (GimpFrameLayers.sweep).
PAINTING_NAME = re.compile(r"^Neural Style frame \d+ of \d+$")


@dataclass(frozen=True)
class Frame:
    """What the plug-in needs to know of a frame's layer before any work."""

    name: str
    width: int
    height: int
    offsets: tuple[int, int]
    has_alpha: bool
    is_group: bool = False
    # positions from the top level down (GIMP's item positions: 0 is the top of a stack)
    stack: tuple[int, ...] = ()


@dataclass
class FrameResult:
    """One frame's result, handed from the job's thread to GIMP's in the event queue."""

    index: int
    result: Any  # the transport's JobResult


def wants_frames(apply_to: str | None) -> bool:
    """Whether the job styles several layers (as frames, or each alone)."""
    return (apply_to or "layer") in (FRAMES, EACH_ALONE)


def request_fields(apply_to: str | None, count: int) -> dict[str, Any]:
    """The JobRequest (and Estimate) fields of a job on `count` layers: a frames job styles
    them in order as one moving painting, unless each is styled alone (`independent`)."""
    if count < 2:
        return {}
    return {"frames": count, "independent": apply_to == EACH_ALONE}


def chosen(selected: Sequence, top_level: Sequence) -> list:
    """The frames' layers: the selected ones when several are selected, else every
    top-level layer of the image (what Playback and the export play)."""
    return list(selected) if len(selected) > 1 else list(top_level)


def playback_order(frames: Sequence[Frame]) -> list[int]:
    """Indexes of `frames` in GIMP's frame order: the bottom layer first."""
    return sorted(range(len(frames)), key=lambda i: frames[i].stack, reverse=True)


def check_frames(frames: Sequence[Frame]) -> None:
    """Raise PluginError, in one line, for frames that cannot be one animation."""
    if not frames:
        raise core.PluginError("Neural Style found no layers to use as frames.")
    for frame in frames:
        if frame.is_group:
            raise core.PluginError(
                f'The frame "{frame.name}" is a layer group: use pixel layers as frames '
                "(Layer > Merge Layer Group first)."
            )
    first = frames[0]
    for frame in frames[1:]:
        if (frame.width, frame.height, frame.offsets) != (first.width, first.height, first.offsets):
            raise core.PluginError(
                f'All frames must have the same size and position: "{first.name}" is '
                f'{first.width}x{first.height} at {first.offsets}, "{frame.name}" is '
                f"{frame.width}x{frame.height} at {frame.offsets} (Layer > Layer to Image Size "
                "on each frame makes them so)."
            )
        if frame.has_alpha != first.has_alpha:
            raise core.PluginError(
                f'The frames mix layers with and without alpha ("{first.name}" and '
                f'"{frame.name}"): Layer > Transparency > Add Alpha Channel on each frame.'
            )


def frame_layer_name(source: str) -> str:
    """The name of a frame's new layer: the frame's, marked as Neural Style's, with GIMP's
    timing and disposal tags kept and moved to the end (where "(replace)" must be)."""
    tags = FRAME_TAG.findall(source)
    base = " ".join(FRAME_TAG.sub(" ", source).split()) or "Frame"
    return " ".join([f"{base} (Neural Style)", *tags])


class FrameLayers(Protocol):
    """Where the frames' layers go (GimpFrameLayers in GIMP, a double in the tests)."""

    def add(self, index: int, pixels: bytes) -> Any:
        """Insert frame `index`'s layer above the frames (and the ones before it), outside
        the undo history; return it."""

    def remove(self, layer: Any) -> None:
        """Remove an added layer, outside the undo history."""

    def keep(self, layers: list, names: list[str]) -> list:
        """Make the added layers the result, named `names`, as one undo step."""


def run_frames(
    transport,
    request,
    address: str,
    timeout: float,
    settings: dict,
    names: Sequence[str],
    layers: FrameLayers,
    show: Callable,
    say: Callable[[str], None],
    cancel: core.Deadline,
    start=core.start_server,
) -> list:
    """Style the request's frames in one job; return the kept layers, one per frame in order.

    `show(event)` gets the job's events and `layers.add` each frame's pixels as the frame
    arrives, both in this (GIMP's) thread; on any failure the added layers are removed and
    the error raised."""
    frames = len(names)
    added: list = []

    def take(event) -> None:
        if not isinstance(event, FrameResult):
            show(event)
            return
        try:
            if event.index != len(added):
                raise core.PluginError(
                    f"The server sent frame {event.index + 1} where frame {len(added) + 1} "
                    "was due; update the server and the plug-in together."
                )
            core.check_result(event.result, request)
            say(f"Neural Style: writing frame {event.index + 1} of {frames}")
            added.append(layers.add(event.index, bytes(event.result.pixels)))
        except BaseException:
            cancel.signalled = True  # the job's thread cancels the job on the server
            raise

    def stylize(client, request, on_event, cancel):
        def on_frame(index, result):
            on_event(FrameResult(index, result))

        client.stylize_frames(request, on_frame, on_event=on_event, cancel=cancel)

    try:
        core.run_job(
            transport, request, address, timeout, settings, take, say, cancel, start, stylize
        )
        if len(added) != frames:
            raise core.PluginError(
                f"The server ended the job after {len(added)} of {frames} frames; see the "
                "server's log (`nst-server status`)."
            )
    except BaseException:
        for layer in reversed(added):
            layers.remove(layer)
        raise
    return layers.keep(added, list(names))


class GimpFrameLayers:
    """FrameLayers in a GIMP image (GIMP's thread only): the new layers directly above
    `top`, the topmost frame, in its stack; `gimp` and `gegl` are neural_style.py's
    gi.repository modules (this module imports no gi, for the tests)."""

    def __init__(self, gimp, gegl, image, top, fmt: str, frames: int, preview=None) -> None:
        self.gimp, self.gegl, self.image, self.top = gimp, gegl, image, top
        self.fmt, self.frames, self.preview = fmt, frames, preview
        self._previous = top
        self.layer_type = top.type()
        self.width, self.height = top.get_width(), top.get_height()
        _ok, self.x, self.y = top.get_offsets()

    @contextlib.contextmanager
    def _frozen(self):
        self.image.undo_freeze()
        try:
            yield
        finally:
            self.image.undo_thaw()

    def sweep(self) -> None:
        """Remove frames' layers that a run killed by GIMP's Cancel button left."""
        parent = self.top.get_parent()
        siblings = parent.get_children() if parent is not None else self.image.get_layers()
        for layer in siblings:
            if PAINTING_NAME.match(layer.get_name()):
                with self._frozen():
                    self.image.remove_layer(layer)
                core.trace("stale frame removed")

    def _insert(self, layer, above) -> None:
        self.image.insert_layer(layer, self.top.get_parent(), self.image.get_item_position(above))
        layer.set_offsets(self.x, self.y)

    def add(self, index: int, pixels: bytes):
        gimp = self.gimp
        name = f"Neural Style frame {index + 1} of {self.frames}"
        layer = gimp.Layer.new(
            self.image, name, self.width, self.height, self.layer_type, 100.0,
            gimp.LayerMode.NORMAL,
        )  # fmt: skip
        with self._frozen():
            self._insert(layer, self._previous)
        buffer = layer.get_buffer()
        buffer.set(self.gegl.Rectangle.new(0, 0, self.width, self.height), self.fmt, pixels)
        buffer.flush()
        layer.update(0, 0, self.width, self.height)
        self._previous = layer
        if self.preview is not None:  # the next frame's preview goes above this frame
            self.preview.remove()
            self.preview.source = layer
        gimp.displays_flush()
        core.trace("frame", index=index, layers=len(self.image.get_layers()), pid=os.getpid())
        return layer

    def remove(self, layer) -> None:
        with self._frozen():
            self.image.remove_layer(layer)
        self.gimp.displays_flush()
        core.trace("frame removed", layers=len(self.image.get_layers()))

    def keep(self, layers: list, names: list[str]) -> list:
        copies = [layer.copy() for layer in layers]
        for layer in layers:
            self.remove(layer)
        self.image.undo_group_start()
        try:
            above = self.top
            for copy, name in zip(copies, names, strict=True):
                self._insert(copy, above)
                copy.set_name(name)
                above = copy
        finally:
            self.image.undo_group_end()
        self.gimp.displays_flush()
        core.trace("frames kept", layers=len(self.image.get_layers()))
        return copies
