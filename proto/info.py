"""What the server says about itself, as both clients return it: ServerInfo (GetInfo),
StyleModel (ListModels), GalleryPainting (ListGallery) and JobEstimate (Estimate), and the
first two read from their messages. Pure Python (the plug-in ships it): the standard
library and the generated messages only; nst_proto.job imports these names too."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import style_pb2 as pb


@dataclass
class ServerInfo:
    protocol: str
    server_version: str
    engine_version: str
    torch_version: str
    grpc_version: str
    protobuf_version: str
    python_version: str
    device: str
    gpu_name: str
    gpu_memory_bytes: int
    weights: str
    limits: dict[str, int]
    methods: list[str]
    qualities: list[str]
    queued: int
    busy: bool
    uptime_seconds: float
    pid: int
    model_folder: str = ""
    gallery: list[str] = field(default_factory=list)  # painting names (JobRequest.styles)


@dataclass
class StyleModel:
    """A trained fast-mode style network in the server's style library."""

    id: str  # what JobRequest.model names
    name: str
    thumbnail_png: bytes
    training_size: int
    strength: float
    steps: int


@dataclass
class GalleryPainting:
    """A painting of the server's style gallery (JobRequest.styles names it)."""

    name: str
    title: str
    artist: str
    year: str
    kind: str  # what the style brings: strokes, flat colour, line, texture
    thumbnail_png: bytes


@dataclass
class JobEstimate:
    """What a job would take (StyleClient.estimate)."""

    seconds: float  # the job itself, queue not counted; 0 while the server measured none
    measured_jobs: int  # how many of the server's jobs (or its calibration) it comes from
    work_width: int  # the working size it would run at
    work_height: int
    refused: str = ""  # not empty: the server would refuse the job, and why
    fits_work_size: int = 0  # with a refusal for memory: the largest working size that fits


def info_from_message(reply: pb.ServerInfo) -> ServerInfo:
    return ServerInfo(
        protocol=reply.protocol,
        server_version=reply.server_version,
        engine_version=reply.engine_version,
        torch_version=reply.torch_version,
        grpc_version=reply.grpc_version,
        protobuf_version=reply.protobuf_version,
        python_version=reply.python_version,
        device=reply.device,
        gpu_name=reply.gpu_name,
        gpu_memory_bytes=reply.gpu_memory_bytes,
        weights=reply.weights,
        limits={f.name: v for f, v in reply.limits.ListFields()},
        methods=list(reply.methods),
        qualities=list(reply.qualities),
        queued=reply.queued,
        busy=reply.busy,
        uptime_seconds=reply.uptime_seconds,
        pid=reply.pid,
        model_folder=reply.model_folder,
        gallery=list(reply.gallery),
    )


def models_from_message(reply: pb.ModelList) -> list[StyleModel]:
    return [
        StyleModel(m.id, m.name, m.thumbnail_png, m.training_size, m.strength, m.steps)
        for m in reply.models
    ]
