"""Fast mode: a feed-forward style network per style, trained once, applied in one pass.

`network` holds the transformation network, `model_file` the model file format and applying
a model, `training` the training loop with its checkpoints. Everything public is importable
from `nst_engine.fast`.
"""

from .model_file import (
    CHECKPOINT_FORMAT,
    FORMAT_VERSION,
    MODEL_FORMAT,
    MODEL_SUFFIX,
    FastStyleModel,
    ModelFileError,
    ModelInfo,
    apply_model,
    list_models,
    load_model,
    weights_checksum,
)
from .network import TransformerNet
from .training import (
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
    "FORMAT_VERSION",
    "MODEL_FORMAT",
    "MODEL_SUFFIX",
    "FastStyleModel",
    "ModelFileError",
    "ModelInfo",
    "PerceptualLoss",
    "TrainOptions",
    "TrainResult",
    "TrainingInterrupted",
    "TransformerNet",
    "_Batches",
    "apply_model",
    "checkpoint_path",
    "find_images",
    "list_models",
    "load_model",
    "model_from_checkpoint",
    "train_style",
    "weights_checksum",
]
