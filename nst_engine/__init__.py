"""Neural style transfer engine: Gatys-style optimisation on VGG-19 features.

The engine knows nothing of gRPC or GIMP. Its public API is `stylize`, the value types in
`options`, the errors in `errors`, image I/O in `images` and the metrics in `metrics`.
"""

from .api import stylize
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
    "stylize",
]
__version__ = "0.1.0"
