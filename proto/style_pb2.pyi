from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SampleType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAMPLE_TYPE_UNSPECIFIED: _ClassVar[SampleType]
    SAMPLE_TYPE_U8: _ClassVar[SampleType]
    SAMPLE_TYPE_U16: _ClassVar[SampleType]
    SAMPLE_TYPE_F32: _ClassVar[SampleType]

class Stream(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STREAM_UNSPECIFIED: _ClassVar[Stream]
    STREAM_CONTENT: _ClassVar[Stream]
    STREAM_MASK: _ClassVar[Stream]
    STREAM_STYLE: _ClassVar[Stream]
SAMPLE_TYPE_UNSPECIFIED: SampleType
SAMPLE_TYPE_U8: SampleType
SAMPLE_TYPE_U16: SampleType
SAMPLE_TYPE_F32: SampleType
STREAM_UNSPECIFIED: Stream
STREAM_CONTENT: Stream
STREAM_MASK: Stream
STREAM_STYLE: Stream

class Options(_message.Message):
    __slots__ = ("method", "strength", "size", "quality", "preserve_color", "seed", "iterations", "pooling", "preview_max_side", "preview_interval", "style_scale", "full_resolution")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    PRESERVE_COLOR_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    POOLING_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_MAX_SIDE_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    STYLE_SCALE_FIELD_NUMBER: _ClassVar[int]
    FULL_RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    method: str
    strength: float
    size: int
    quality: str
    preserve_color: bool
    seed: int
    iterations: int
    pooling: str
    preview_max_side: int
    preview_interval: float
    style_scale: float
    full_resolution: str
    def __init__(self, method: _Optional[str] = ..., strength: _Optional[float] = ..., size: _Optional[int] = ..., quality: _Optional[str] = ..., preserve_color: _Optional[bool] = ..., seed: _Optional[int] = ..., iterations: _Optional[int] = ..., pooling: _Optional[str] = ..., preview_max_side: _Optional[int] = ..., preview_interval: _Optional[float] = ..., style_scale: _Optional[float] = ..., full_resolution: _Optional[str] = ...) -> None: ...

class StyleSpec(_message.Message):
    __slots__ = ("weight", "byte_size", "name", "gallery")
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    BYTE_SIZE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    GALLERY_FIELD_NUMBER: _ClassVar[int]
    weight: float
    byte_size: int
    name: str
    gallery: str
    def __init__(self, weight: _Optional[float] = ..., byte_size: _Optional[int] = ..., name: _Optional[str] = ..., gallery: _Optional[str] = ...) -> None: ...

class JobSpec(_message.Message):
    __slots__ = ("width", "height", "channels", "sample_type", "has_mask", "styles", "options", "model", "frames", "independent")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_TYPE_FIELD_NUMBER: _ClassVar[int]
    HAS_MASK_FIELD_NUMBER: _ClassVar[int]
    STYLES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    INDEPENDENT_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    channels: int
    sample_type: SampleType
    has_mask: bool
    styles: _containers.RepeatedCompositeFieldContainer[StyleSpec]
    options: Options
    model: str
    frames: int
    independent: bool
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., channels: _Optional[int] = ..., sample_type: _Optional[_Union[SampleType, str]] = ..., has_mask: _Optional[bool] = ..., styles: _Optional[_Iterable[_Union[StyleSpec, _Mapping]]] = ..., options: _Optional[_Union[Options, _Mapping]] = ..., model: _Optional[str] = ..., frames: _Optional[int] = ..., independent: _Optional[bool] = ...) -> None: ...

class Chunk(_message.Message):
    __slots__ = ("stream", "style_index", "offset", "data")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    STYLE_INDEX_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    stream: Stream
    style_index: int
    offset: int
    data: bytes
    def __init__(self, stream: _Optional[_Union[Stream, str]] = ..., style_index: _Optional[int] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class Submit(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Cancel(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StylizeRequest(_message.Message):
    __slots__ = ("spec", "chunk", "submit", "cancel")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    spec: JobSpec
    chunk: Chunk
    submit: Submit
    cancel: Cancel
    def __init__(self, spec: _Optional[_Union[JobSpec, _Mapping]] = ..., chunk: _Optional[_Union[Chunk, _Mapping]] = ..., submit: _Optional[_Union[Submit, _Mapping]] = ..., cancel: _Optional[_Union[Cancel, _Mapping]] = ...) -> None: ...

class Queued(_message.Message):
    __slots__ = ("position", "job_id")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    position: int
    job_id: str
    def __init__(self, position: _Optional[int] = ..., job_id: _Optional[str] = ...) -> None: ...

class Started(_message.Message):
    __slots__ = ("job_id", "device", "queued_seconds")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    QUEUED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    device: str
    queued_seconds: float
    def __init__(self, job_id: _Optional[str] = ..., device: _Optional[str] = ..., queued_seconds: _Optional[float] = ...) -> None: ...

class ProgressEvent(_message.Message):
    __slots__ = ("level", "levels", "iteration", "iterations", "step", "total_steps", "fraction", "losses", "elapsed", "eta", "frame", "frames")
    class LossesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    ITERATION_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_FIELD_NUMBER: _ClassVar[int]
    ETA_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    level: int
    levels: int
    iteration: int
    iterations: int
    step: int
    total_steps: int
    fraction: float
    losses: _containers.ScalarMap[str, float]
    elapsed: float
    eta: float
    frame: int
    frames: int
    def __init__(self, level: _Optional[int] = ..., levels: _Optional[int] = ..., iteration: _Optional[int] = ..., iterations: _Optional[int] = ..., step: _Optional[int] = ..., total_steps: _Optional[int] = ..., fraction: _Optional[float] = ..., losses: _Optional[_Mapping[str, float]] = ..., elapsed: _Optional[float] = ..., eta: _Optional[float] = ..., frame: _Optional[int] = ..., frames: _Optional[int] = ...) -> None: ...

class Preview(_message.Message):
    __slots__ = ("width", "height", "rgb", "frame", "frames")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    RGB_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    rgb: bytes
    frame: int
    frames: int
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., rgb: _Optional[bytes] = ..., frame: _Optional[int] = ..., frames: _Optional[int] = ...) -> None: ...

class Finished(_message.Message):
    __slots__ = ("width", "height", "channels", "sample_type", "byte_size", "stats", "frame", "frames")
    class StatsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_TYPE_FIELD_NUMBER: _ClassVar[int]
    BYTE_SIZE_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    channels: int
    sample_type: SampleType
    byte_size: int
    stats: _containers.ScalarMap[str, str]
    frame: int
    frames: int
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., channels: _Optional[int] = ..., sample_type: _Optional[_Union[SampleType, str]] = ..., byte_size: _Optional[int] = ..., stats: _Optional[_Mapping[str, str]] = ..., frame: _Optional[int] = ..., frames: _Optional[int] = ...) -> None: ...

class ResultChunk(_message.Message):
    __slots__ = ("offset", "data")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    offset: int
    data: bytes
    def __init__(self, offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class Failed(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class StylizeEvent(_message.Message):
    __slots__ = ("queued", "started", "progress", "preview", "finished", "result_chunk", "failed")
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    RESULT_CHUNK_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    queued: Queued
    started: Started
    progress: ProgressEvent
    preview: Preview
    finished: Finished
    result_chunk: ResultChunk
    failed: Failed
    def __init__(self, queued: _Optional[_Union[Queued, _Mapping]] = ..., started: _Optional[_Union[Started, _Mapping]] = ..., progress: _Optional[_Union[ProgressEvent, _Mapping]] = ..., preview: _Optional[_Union[Preview, _Mapping]] = ..., finished: _Optional[_Union[Finished, _Mapping]] = ..., result_chunk: _Optional[_Union[ResultChunk, _Mapping]] = ..., failed: _Optional[_Union[Failed, _Mapping]] = ...) -> None: ...

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_pixels", "max_styles", "max_style_bytes", "max_iterations", "max_queue", "chunk_bytes", "max_message_bytes", "max_sequence_pixels")
    MAX_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_STYLES_FIELD_NUMBER: _ClassVar[int]
    MAX_STYLE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_SEQUENCE_PIXELS_FIELD_NUMBER: _ClassVar[int]
    max_pixels: int
    max_styles: int
    max_style_bytes: int
    max_iterations: int
    max_queue: int
    chunk_bytes: int
    max_message_bytes: int
    max_sequence_pixels: int
    def __init__(self, max_pixels: _Optional[int] = ..., max_styles: _Optional[int] = ..., max_style_bytes: _Optional[int] = ..., max_iterations: _Optional[int] = ..., max_queue: _Optional[int] = ..., chunk_bytes: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., max_sequence_pixels: _Optional[int] = ...) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("protocol", "server_version", "engine_version", "torch_version", "grpc_version", "protobuf_version", "python_version", "device", "gpu_name", "gpu_memory_bytes", "weights", "limits", "methods", "qualities", "queued", "busy", "uptime_seconds", "pid", "model_folder", "gallery")
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    TORCH_VERSION_FIELD_NUMBER: _ClassVar[int]
    GRPC_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOBUF_VERSION_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    GPU_NAME_FIELD_NUMBER: _ClassVar[int]
    GPU_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    QUALITIES_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    BUSY_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FOLDER_FIELD_NUMBER: _ClassVar[int]
    GALLERY_FIELD_NUMBER: _ClassVar[int]
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
    limits: Limits
    methods: _containers.RepeatedScalarFieldContainer[str]
    qualities: _containers.RepeatedScalarFieldContainer[str]
    queued: int
    busy: bool
    uptime_seconds: float
    pid: int
    model_folder: str
    gallery: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, protocol: _Optional[str] = ..., server_version: _Optional[str] = ..., engine_version: _Optional[str] = ..., torch_version: _Optional[str] = ..., grpc_version: _Optional[str] = ..., protobuf_version: _Optional[str] = ..., python_version: _Optional[str] = ..., device: _Optional[str] = ..., gpu_name: _Optional[str] = ..., gpu_memory_bytes: _Optional[int] = ..., weights: _Optional[str] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., methods: _Optional[_Iterable[str]] = ..., qualities: _Optional[_Iterable[str]] = ..., queued: _Optional[int] = ..., busy: _Optional[bool] = ..., uptime_seconds: _Optional[float] = ..., pid: _Optional[int] = ..., model_folder: _Optional[str] = ..., gallery: _Optional[_Iterable[str]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StyleModel(_message.Message):
    __slots__ = ("id", "name", "thumbnail_png", "training_size", "strength", "steps")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_PNG_FIELD_NUMBER: _ClassVar[int]
    TRAINING_SIZE_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    thumbnail_png: bytes
    training_size: int
    strength: float
    steps: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., thumbnail_png: _Optional[bytes] = ..., training_size: _Optional[int] = ..., strength: _Optional[float] = ..., steps: _Optional[int] = ...) -> None: ...

class ModelList(_message.Message):
    __slots__ = ("models", "folder")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    FOLDER_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[StyleModel]
    folder: str
    def __init__(self, models: _Optional[_Iterable[_Union[StyleModel, _Mapping]]] = ..., folder: _Optional[str] = ...) -> None: ...

class ListGalleryRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GalleryPainting(_message.Message):
    __slots__ = ("name", "title", "artist", "year", "kind", "thumbnail_png")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ARTIST_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_PNG_FIELD_NUMBER: _ClassVar[int]
    name: str
    title: str
    artist: str
    year: str
    kind: str
    thumbnail_png: bytes
    def __init__(self, name: _Optional[str] = ..., title: _Optional[str] = ..., artist: _Optional[str] = ..., year: _Optional[str] = ..., kind: _Optional[str] = ..., thumbnail_png: _Optional[bytes] = ...) -> None: ...

class Gallery(_message.Message):
    __slots__ = ("paintings",)
    PAINTINGS_FIELD_NUMBER: _ClassVar[int]
    paintings: _containers.RepeatedCompositeFieldContainer[GalleryPainting]
    def __init__(self, paintings: _Optional[_Iterable[_Union[GalleryPainting, _Mapping]]] = ...) -> None: ...

class JobEstimate(_message.Message):
    __slots__ = ("seconds", "measured_jobs", "work_width", "work_height", "refused", "fits_work_size")
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    MEASURED_JOBS_FIELD_NUMBER: _ClassVar[int]
    WORK_WIDTH_FIELD_NUMBER: _ClassVar[int]
    WORK_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    FITS_WORK_SIZE_FIELD_NUMBER: _ClassVar[int]
    seconds: float
    measured_jobs: int
    work_width: int
    work_height: int
    refused: str
    fits_work_size: int
    def __init__(self, seconds: _Optional[float] = ..., measured_jobs: _Optional[int] = ..., work_width: _Optional[int] = ..., work_height: _Optional[int] = ..., refused: _Optional[str] = ..., fits_work_size: _Optional[int] = ...) -> None: ...
