"""Fast mode: a feed-forward style network per style, trained once, applied in one pass.

`network` holds the transformation network, `model_file` the model file format
(`tensor_file` its safetensors container, `files` what model and checkpoint files share),
`training` the training loop with its checkpoints. Everything public is importable from
`nst_engine.fast`; a model is applied with `nst_engine.apply_model`.
"""

from .files import ModelFileError
from .model_file import (
    MODEL_FORMAT,
    MODEL_SUFFIX,
    MODEL_VERSION,
    FastStyleModel,
    ModelInfo,
    convert_model,
    list_models,
    load_model,
    read_model_info,
    weights_checksum,
)
from .network import TransformerNet
from .training import (
    CHECKPOINT_FORMAT,
    PerceptualLoss,
    TrainingInterrupted,
    TrainOptions,
    TrainResult,
    _Batches,
    checkpoint_path,
    find_images,
    model_from_checkpoint,
    train_style,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "MODEL_FORMAT",
    "MODEL_SUFFIX",
    "MODEL_VERSION",
    "FastStyleModel",
    "ModelFileError",
    "ModelInfo",
    "PerceptualLoss",
    "TrainOptions",
    "TrainResult",
    "TrainingInterrupted",
    "TransformerNet",
    "_Batches",
    "checkpoint_path",
    "convert_model",
    "find_images",
    "list_models",
    "load_model",
    "model_from_checkpoint",
    "read_model_info",
    "train_style",
    "weights_checksum",
]
