"""How soon the plug-in's first look at the painting arrives: the seconds from sending a
layer (as the GIMP plug-in sends it, through its pure-Python client, with its default
options) to the first preview image, on a server started cold and then warm.

    python scripts/first_look.py [--megapixels 1.0] [--quality normal] [--server ADDRESS]

Without --server a real `nst-server serve` is started on a free port (its model loads on
the first job, as after a login). Each job is cancelled once its first preview arrived.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
from local_server import local_server  # noqa: E402
from nst_proto.job import OPTION_TYPES, JobCancelled, JobRequest
from nst_proto.pure_client import StyleClient as PureClient
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def plugin_core():
    """The GIMP plug-in's gi-free core, imported from its file as GIMP does."""
    path = REPO / "gimp_plugin" / "neural_style" / "neural_style_core.py"
    spec = importlib.util.spec_from_file_location("neural_style_core", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def first_preview_seconds(address: str, request: JobRequest) -> float:
    seen: list[float] = []
    started = time.monotonic()

    def on_event(event) -> None:
        if event.kind == "preview" and not seen:
            seen.append(time.monotonic() - started)

    with contextlib.suppress(JobCancelled), PureClient(address, timeout=600) as client:
        client.stylize(request, on_event=on_event, cancel=lambda: bool(seen))
    if not seen:
        raise RuntimeError("the job ended without a preview")
    return seen[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--quality", default="normal", choices=("draft", "normal", "high"))
    parser.add_argument("--server", help="a running server (default: start one)")
    args = parser.parse_args()
    photo = Image.open(EXAMPLES / "chelsea.png").convert("RGB")
    scale = (args.megapixels * 1e6 / (photo.width * photo.height)) ** 0.5
    photo = photo.resize((round(photo.width * scale), round(photo.height * scale)))
    style = (EXAMPLES / "starry_night.jpg").read_bytes()
    core = plugin_core()
    dialog = {"method": "proposed", "strength": 0.5, "quality": args.quality, "seed": 0}
    options = core.job_options(dialog, OPTION_TYPES, long_side=max(photo.size))
    request = JobRequest(
        np.asarray(photo).tobytes(), photo.width, photo.height, 3, "u8",
        styles=[(style, 1.0)], options=options,
    )  # fmt: skip
    print(f"layer {photo.width}x{photo.height}, quality {args.quality}, options {options}")
    with local_server(args.server, print) as address:
        for run in ("cold", "warm"):
            seconds = first_preview_seconds(address, request)
            print(f"{run} server: first preview {seconds:.1f} s after sending the layer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
