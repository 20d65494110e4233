"""Neural style transfer engine: Gatys-style optimisation on VGG-19 features.

The engine knows nothing of gRPC or GIMP. Its public API is `stylize` and `apply_model` (a
trained fast-mode network, `fast.load_model`), the value types in `options`, the errors in
`errors`, image files in `images`, the array conventions in `arrays` and the metrics in
`metrics`. `stylize` and `apply_model` are imported on first use, so that
`nst_engine.options` and `nst_engine.errors` cost no torch import (the server's command line
reads its defaults from them).
"""

from .errors import Cancelled, InputError, NSTError, WeightsUnavailable
from .options import Progress, StyleOptions, StyleResult

__all__ = [
    "Cancelled",
    "InputError",
    "NSTError",
    "Progress",
    "StyleOptions",
    "StyleResult",
    "WeightsUnavailable",
    "apply_model",
    "stylize",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "stylize":
        from .api import stylize

        return stylize
    if name == "apply_model":
        from .instant import apply_model

        return apply_model
    raise AttributeError(f"module 'nst_engine' has no attribute {name!r}")
