"""The wire mapping: nst.v1 messages to Jobs, and a job's events back to messages.

- check_spec: a JobSpec, field by field, before anything is allocated from it; the engine's
  options are checked by the engine's own validator (StyleOptions.validate), the server's
  limits here.
- Upload: the job's byte streams as they arrive in Chunks, each checked against the spec,
  and, once complete, the Job (every style's header checked against the pixel limit).
- messages: a job event as the StylizeEvent messages the client reads (a finished image as
  its Finished header and the result in chunks).

The sample-type table is nst_proto.job's (one table for both ends of the wire).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import numpy as np
from nst_proto import style_pb2 as pb
from nst_proto.job import PROGRESS_FIELDS, SAMPLE_DTYPES, SAMPLE_NAMES, SAMPLE_TYPES

from nst_engine import gallery
from nst_engine.errors import InputError
from nst_engine.options import MIN_SIDE, StyleOptions, check_sequence

from .jobs import (
    Engine,
    Estimate,
    Failed,
    Finished,
    Job,
    Limits,
    Previewed,
    Progressed,
    Queued,
    Started,
    invalid,
)

# An array's sample type by its dtype's name ("uint8" -> "u8"), for both directions.
SAMPLE_OF_DTYPE = {np.dtype(code).name: name for name, code in SAMPLE_DTYPES.items()}
STREAM_NAMES = {pb.STREAM_CONTENT: "content", pb.STREAM_MASK: "mask", pb.STREAM_STYLE: "style"}
MAX_PREVIEW_SIDE = 4096
MAX_PREVIEW_INTERVAL = 3600.0
# The ProgressEvent fields an engine Progress has under the same name (fraction is its
# property); the losses are filtered to numbers, the time left and the frame are the
# scheduler's.
_PROGRESS_COPIED = tuple(
    name for name in PROGRESS_FIELDS if name not in ("losses", "eta", "frame", "frames")
)


def check_spec(spec: pb.JobSpec, limits: Limits) -> StyleOptions:
    """Check a JobSpec field by field; return the job's engine options."""
    options = _check_image(spec, limits)
    if spec.frames > 1:
        try:
            check_sequence(options.method, not spec.independent, bool(spec.model))
        except InputError as exc:
            raise invalid(str(exc)) from None
    return options


def _check_image(spec: pb.JobSpec, limits: Limits) -> StyleOptions:
    """The JobSpec's checks but those of a sequence's method."""
    if spec.sample_type not in SAMPLE_NAMES:
        raise invalid(f"sample_type {spec.sample_type} is not one of u8 (1), u16 (2), f32 (3)")
    if not 1 <= spec.channels <= 4:
        raise invalid(
            f"channels must be 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA); got {spec.channels}"
        )
    if spec.width < MIN_SIDE or spec.height < MIN_SIDE:
        raise invalid(
            f"the content is {spec.width}x{spec.height} pixels; both sides must be at least "
            f"{MIN_SIDE} pixels"
        )
    if spec.width * spec.height > limits.max_pixels:
        raise invalid(
            f"the content is {spec.width}x{spec.height} = {spec.width * spec.height:,} pixels, "
            f"over the server's limit of {limits.max_pixels:,}; scale the layer down or crop it"
        )
    if spec.frames > 1 and spec.frames * spec.width * spec.height > limits.max_sequence_pixels:
        raise invalid(
            f"{spec.frames} frames of {spec.width}x{spec.height} are "
            f"{spec.frames * spec.width * spec.height:,} pixels, over the server's limit of "
            f"{limits.max_sequence_pixels:,} for one job; send fewer or smaller frames"
        )
    if spec.model:
        if spec.styles:
            raise invalid(
                f"both style images and the style model {spec.model[:80]!r}; a job takes one "
                "or the other"
            )
        return check_options(spec.options, [], limits)
    if not spec.styles:
        raise invalid(
            "no style image: send at least one style (its encoded file bytes), or name a "
            "style model from ListModels"
        )
    if len(spec.styles) > limits.max_styles:
        raise invalid(
            f"{len(spec.styles)} style images; the server takes at most {limits.max_styles}"
        )
    weights = []
    for i, style in enumerate(spec.styles):
        if style.gallery:
            if style.byte_size or gallery.find(style.gallery) is None:
                raise invalid(
                    f"style {i + 1}: {style.gallery[:80]!r} is not a painting of the gallery "
                    f"(named styles: {', '.join(gallery.names())}), or it also announced bytes"
                )
        elif not 0 < style.byte_size <= limits.max_style_bytes:
            raise invalid(
                f"style image {i + 1} is {style.byte_size:,} bytes; it must be between 1 byte and "
                f"{limits.max_style_bytes:,} bytes (an encoded PNG or JPEG file)"
            )
        if not math.isfinite(style.weight) or style.weight < 0:
            raise invalid(f"style image {i + 1} has weight {style.weight}; use a number >= 0")
        weights.append(style.weight)
    if sum(weights) <= 0:
        raise invalid("the style weights are all 0; give at least one style a positive weight")
    return check_options(spec.options, weights, limits)


# The Options fields that are StyleOptions fields of the same name, read from the contract's
# descriptor and the dataclass (a new option needs no edit here); the others (previews) are
# the server's own.
_ENGINE_FIELDS = tuple(
    f for f in pb.Options.DESCRIPTOR.fields if f.name in {g.name for g in fields(StyleOptions)}
)
MAX_TEXT_OPTION = 40  # characters: every text option is a short name


def check_options(o: pb.Options, weights: list[float], limits: Limits) -> StyleOptions:
    """The engine options the message sets, checked by StyleOptions.validate, and the
    server's own limits (iterations, previews). A field is set when the message says so, or,
    for a field without presence, when it is not its type's zero (the engine's default)."""
    options: dict[str, Any] = {"style_weights": tuple(weights)} if weights else {}
    for f in _ENGINE_FIELDS:
        value = getattr(o, f.name)
        is_set = o.HasField(f.name) if f.has_presence else bool(value)
        if is_set:
            options[f.name] = value[:MAX_TEXT_OPTION] if isinstance(value, str) else value
    try:
        checked = StyleOptions(**options)
        checked.validate()
    except InputError as exc:
        raise invalid(str(exc)) from None
    if o.HasField("iterations") and o.iterations > limits.max_iterations:
        raise invalid(
            f"iterations must be between 1 and {limits.max_iterations}, got {o.iterations}"
        )
    if o.preview_max_side > MAX_PREVIEW_SIDE:
        raise invalid(
            f"preview_max_side must be at most {MAX_PREVIEW_SIDE}, got {o.preview_max_side}"
        )
    if not (math.isfinite(o.preview_interval) and 0 <= o.preview_interval <= MAX_PREVIEW_INTERVAL):
        raise invalid(f"preview_interval must be between 0 and 3600 s, got {o.preview_interval}")
    return checked


class Upload:
    """The byte streams of one job as they arrive, each checked against the spec."""

    def __init__(self, spec: pb.JobSpec, limits: Limits) -> None:
        self.spec = spec
        self.limits = limits
        self.options = check_spec(spec, limits)
        self.dtype = np.dtype(SAMPLE_DTYPES[SAMPLE_NAMES[spec.sample_type]])
        self.frames = max(spec.frames, 1)
        frame_bytes = spec.width * spec.height * spec.channels * self.dtype.itemsize
        self.expected = {("content", 0): self.frames * frame_bytes}
        if spec.has_mask:
            self.expected[("mask", 0)] = spec.width * spec.height
        for i, style in enumerate(spec.styles):
            if not style.gallery:
                self.expected[("style", i)] = style.byte_size
        self.data = {key: bytearray() for key in self.expected}

    def add(self, chunk: pb.Chunk) -> None:
        if chunk.stream not in STREAM_NAMES:
            raise invalid(f"chunk for unknown stream {chunk.stream}")
        stream = STREAM_NAMES[chunk.stream]
        key = (stream, chunk.style_index if stream == "style" else 0)
        if key not in self.expected:
            what = (
                f"style {chunk.style_index + 1}, but only {len(self.spec.styles)} were announced"
                if stream == "style"
                else "a mask, but the spec says has_mask=false"
            )
            raise invalid(f"a chunk for {what}")
        if len(chunk.data) > self.limits.chunk_bytes:
            raise invalid(
                f"a chunk of {len(chunk.data):,} bytes; at most {self.limits.chunk_bytes:,}"
            )
        buffer = self.data[key]
        if chunk.offset != len(buffer):
            raise invalid(
                f"{self._name(key)} chunk at offset {chunk.offset}, expected {len(buffer)} "
                "(chunks of one stream must arrive in order)"
            )
        if len(buffer) + len(chunk.data) > self.expected[key]:
            raise invalid(
                f"{self._name(key)}: more than the {self.expected[key]:,} bytes the spec announced"
                + self._layout_hint(key)
            )
        buffer += chunk.data

    def _name(self, key) -> str:
        return f"style image {key[1] + 1}" if key[0] == "style" else key[0]

    def _layout_hint(self, key) -> str:
        if key[0] != "content":
            return ""
        s = self.spec
        frames = f"{s.frames} frames of " if self.frames > 1 else ""
        return (
            f" ({frames}{s.width}x{s.height}x{s.channels} {SAMPLE_NAMES[s.sample_type]}); check "
            f"{'frames, ' if frames else ''}width, height, channels and sample_type"
        )

    def finish(self, engine: Engine) -> Job:
        """The complete upload as a Job (ready to queue), or INVALID_ARGUMENT; each style
        file sent is checked by the engine's header check."""
        for key, size in self.expected.items():
            if len(self.data[key]) != size:
                raise invalid(
                    f"{self._name(key)}: {len(self.data[key]):,} bytes arrived, the spec announced "
                    f"{size:,}" + self._layout_hint(key)
                )
        s = self.spec
        content = np.frombuffer(self.data[("content", 0)], dtype=self.dtype)
        content = content.reshape(self.frames, s.height, s.width, s.channels).astype(
            self.dtype.newbyteorder("="), copy=False
        )
        if content.dtype.kind == "f" and not np.isfinite(content).all():
            raise invalid("the content pixels contain NaN or infinite values")
        mask = None
        if s.has_mask:
            mask = np.frombuffer(self.data[("mask", 0)], dtype=np.uint8).reshape(s.height, s.width)
            mask = mask.astype(np.float32) / 255.0
        styles = []
        for index, style in enumerate(s.styles):
            if style.gallery:
                styles.append(gallery.find(style.gallery).read_bytes())
            else:
                styles.append(bytes(self.data[("style", index)]))
                engine.check_style(styles[-1], index, self.limits.max_pixels)
        return Job(
            content[0],
            mask,
            styles,
            self.options,
            model=s.model,
            sample_type=SAMPLE_NAMES[s.sample_type],
            preview_max_side=s.options.preview_max_side,
            preview_interval=s.options.preview_interval or 1.0,
            frames=content if self.frames > 1 else None,
            independent=s.independent,
        )


def messages(event, limits: Limits) -> Iterator[pb.StylizeEvent]:
    """A job event as the messages the client reads (none for internal events)."""
    if isinstance(event, Queued):
        yield pb.StylizeEvent(queued=pb.Queued(position=event.position, job_id=event.job_id))
    elif isinstance(event, Started):
        yield pb.StylizeEvent(
            started=pb.Started(
                job_id=event.job_id, device=event.device, queued_seconds=event.queued_seconds
            )
        )
    elif isinstance(event, Progressed):
        p = event.progress
        yield pb.StylizeEvent(
            progress=pb.ProgressEvent(
                **{name: getattr(p, name) for name in _PROGRESS_COPIED},
                losses={
                    str(k): float(v) for k, v in p.losses.items() if isinstance(v, int | float)
                },
                eta=event.eta,
                **_frame(event),
            )
        )
    elif isinstance(event, Previewed):
        height, width = event.rgb.shape[:2]
        yield pb.StylizeEvent(
            preview=pb.Preview(width=width, height=height, rgb=event.rgb.tobytes(), **_frame(event))
        )
    elif isinstance(event, Finished):
        yield from _result(event, limits.result_chunk_bytes)
    elif isinstance(event, Failed):
        yield pb.StylizeEvent(failed=pb.Failed(code=event.error.code, message=event.error.message))


def _frame(event: Progressed | Previewed | Finished) -> dict[str, int]:
    """The frame fields of an event of a sequence (none for one image: today's messages)."""
    return {"frame": event.frame, "frames": event.frames} if event.frames > 1 else {}


def _result(event: Finished, chunk_bytes: int) -> Iterator[pb.StylizeEvent]:
    """The Finished header, then the pixels (little-endian) in ResultChunks."""
    image, stats = event.image, event.stats
    height, width = image.shape[:2]
    channels = image.shape[2] if image.ndim == 3 else 1
    data = np.ascontiguousarray(image, dtype=image.dtype.newbyteorder("<")).tobytes()
    yield pb.StylizeEvent(
        finished=pb.Finished(
            width=width,
            height=height,
            channels=channels,
            sample_type=SAMPLE_TYPES[SAMPLE_OF_DTYPE[image.dtype.name]],
            byte_size=len(data),
            stats={str(k): str(v) for k, v in stats.items()},
            **_frame(event),
        )
    )
    view = memoryview(data)
    for offset in range(0, len(data), chunk_bytes):
        yield pb.StylizeEvent(
            result_chunk=pb.ResultChunk(
                offset=offset, data=bytes(view[offset : offset + chunk_bytes])
            )
        )


def info_message(limits: Limits, static: dict[str, Any], **live: Any) -> pb.ServerInfo:
    """ServerInfo: the server's static facts, its limits, and what is live (queue, uptime)."""
    return pb.ServerInfo(
        limits=pb.Limits(
            max_pixels=limits.max_pixels,
            max_styles=limits.max_styles,
            max_style_bytes=limits.max_style_bytes,
            max_iterations=limits.max_iterations,
            max_queue=limits.max_queue,
            chunk_bytes=limits.chunk_bytes,
            max_message_bytes=limits.max_message_bytes,
            max_sequence_pixels=limits.max_sequence_pixels,
        ),
        **static,
        **live,
    )


def model_list_message(library) -> pb.ModelList:
    """ModelList: the style library's valid models, by name (empty without a library)."""
    if library is None:
        return pb.ModelList()
    return pb.ModelList(
        folder=str(library.folder),
        models=[
            pb.StyleModel(
                id=info.path.stem,
                name=info.name,
                thumbnail_png=info.thumbnail_png,
                training_size=info.training_size,
                strength=info.strength if math.isfinite(info.strength) else 0.0,
                steps=info.steps,
            )
            for info in library.list()
        ],
    )


def gallery_message() -> pb.Gallery:
    """Gallery: the style gallery's paintings with their thumbnails, in its order."""
    return pb.Gallery(
        paintings=[
            pb.GalleryPainting(
                name=p.name,
                title=p.title,
                artist=p.artist,
                year=p.year,
                kind=p.kind,
                thumbnail_png=p.thumbnail_png(),
            )
            for p in gallery.PAINTINGS
        ]
    )


def estimate_message(estimate: Estimate) -> pb.JobEstimate:
    return pb.JobEstimate(
        seconds=estimate.seconds,
        measured_jobs=estimate.measured_jobs,
        work_width=estimate.work_width,
        work_height=estimate.work_height,
        refused=estimate.refused,
        fits_work_size=estimate.fits,
    )
