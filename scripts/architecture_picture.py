#!/usr/bin/env python3
"""Draw docs/images/architecture.png: the packages and the one way data flows through them.

    python scripts/architecture_picture.py [-o docs/images/architecture.png]

Needs matplotlib (the `bench` or `test` extra).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

# (x, y, width, height, title, lines, colour): the layers, top to bottom.
BOXES = {
    "gimp": (0.4, 8.6, 4.2, 1.0, "GIMP 3.0 / 3.2", ["its own Python 3.10-3.14"], "#eeeeee"),
    "plugin": (0.4, 6.7, 4.2, 1.5, "gimp_plugin/neural_style",
               ["neural_style.py: procedure, layers (gi)", "neural_style_dialog.py: its words",
                "neural_style_core.py: job, server start"], "#fde9c9"),
    "cli": (5.4, 6.7, 4.2, 1.5, "nst command (nst_server.frontend)",
            ["nst_engine.cli: stylize, evaluate, bench, ...;",
             "prepared: a job read once, run here", "or sent to a server (--server)"], "#fde9c9"),
    "proto": (0.4, 4.5, 9.2, 1.6, "nst_proto: the contract (nst/v1/style.proto)",
              ["job.py: JobRequest, JobEvent, JobResult, errors; option fields from the contract",
               "pure_client.py: grpclib, pure Python (the plug-in's, from vendor.zip)",
               "client.py: grpcio (the nst command's and the server tools')"], "#dbe8fb"),
    "server": (0.4, 2.2, 9.2, 1.8, "nst_server: the daemon (nst-server)",
               ["service.py: gRPC calls (thin)   wire.py: messages <-> typed jobs, chunks",
                "jobs.py: Job, events, Scheduler   engine.py: the Engine over nst_engine",
                "app.py, daemon.py, library.py, gimp_install.py, autostart.py"], "#dcf2dc"),
    "engine": (0.4, -0.5, 9.2, 2.0, "nst_engine: the engine (no gRPC, no GIMP)",
               ["api.stylize -> transfer (proposed, gatys: one RunContext), fullres",
                "instant.apply_model -> fast (trained networks in safetensors files)",
                "workspace, features (VGG-19), images, arrays, options, devices, metrics",
                "evaluation/: measure, targets, report, bench (never imported by the rest)"],
               "#f3dcf0"),
}  # fmt: skip
# (from, to, label): requests go down, results come back up.
ARROWS = [
    ("gimp", "plugin", "layer, selection"),
    ("plugin", "proto", "JobRequest"),
    ("cli", "proto", "JobRequest"),
    ("proto", "server", "gRPC: chunks up, events down"),
    ("server", "engine", "arrays, StyleOptions"),
]


def draw(output: Path) -> Path:
    figure, axes = plt.subplots(figsize=(10, 10.5), dpi=110)
    axes.set_xlim(0, 10)
    axes.set_ylim(-0.7, 9.9)
    axes.axis("off")
    centres = {}
    for name, (x, y, w, h, title, lines, colour) in BOXES.items():
        axes.add_patch(
            FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=colour, ec="#555555")
        )
        axes.text(x + 0.15, y + h - 0.28, title, fontsize=11, weight="bold", va="center")
        for i, line in enumerate(lines):
            axes.text(x + 0.15, y + h - 0.65 - 0.33 * i, line, fontsize=9, va="center")
        centres[name] = (x + w / 2, y, y + h)
    for start, end, label in ARROWS:
        x0, bottom0, _ = centres[start]
        x1, _, top1 = centres[end]
        if start == "cli":
            x0, x1 = 7.5, 7.5
        elif end == "proto":
            x0, x1 = 2.5, 2.5
        axes.add_patch(
            FancyArrowPatch((x0 - 0.15, bottom0), (x1 - 0.15, top1), arrowstyle="-|>",
                            mutation_scale=16, color="#333333")
        )  # fmt: skip
        axes.add_patch(
            FancyArrowPatch((x1 + 0.15, top1), (x0 + 0.15, bottom0), arrowstyle="-|>",
                            mutation_scale=12, color="#999999", linestyle="--")
        )  # fmt: skip
        axes.text(x0 + 0.3, (bottom0 + top1) / 2, label, fontsize=9, va="center")
    axes.text(5, 9.8, "Requests go down (solid); events and results come back up (dashed)",
              ha="center", fontsize=10, style="italic")  # fmt: skip
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, bbox_inches="tight")
    plt.close(figure)
    return output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-o", "--output", type=Path, default=REPO / "docs" / "images" / "architecture.png"
    )
    print(f"wrote {draw(parser.parse_args().output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
