"""`nst bench`: the paper's Fig. 10 evaluation, reproduced with this project's own methods.

Every method runs on the same content/style pairs at the same square sizes on one device;
`speed_sizes` add sizes at which only `proposed` runs, for a speed target that the baseline
would take too long to reach (512x512 on the CPU: gatys needs about 8 minutes a pair there).
The fast feed-forward mode (`fast`, the paper's Johnson et al. row) needs one trained network
per style: the bench loads `<style>-<size>px-<steps>steps.nstmodel` from its models folder,
or trains it there first (training time reported apart, like model loading).
Reported per method: mean SSIM and GMD (`metrics.py`), runtime (median of the repeats after
a warm-up run; model loading is timed apart), peak memory (GPU: peak allocated; CPU: peak
resident set, sampled) and the speed-up over `gatys` measured in the same run. Outputs: a
Markdown table, a JSON file with every figure, a contact sheet and an SSIM-against-GMD plot
as the strength varies. Targets (`targets.py`) are checked and reported plainly, met or not.
"""

from __future__ import annotations

import datetime
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import gallery
from ..devices import device_name
from ..fast import FastStyleModel, TrainOptions, load_model, train_style
from ..features import load_extractor
from ..options import StyleOptions
from ..workspace import Workspace
from . import report, targets
from .measure import (
    FIXED,
    MethodFigures,
    Pair,
    make_fast_runner,
    make_runner,
    measure_methods,
    strength_curve,
)

CURVE_STRENGTHS = (0.1, 0.3, 0.5, 0.7, 0.9)


@dataclass(frozen=True)
class FastTraining:
    """Where the fast row's networks live and how a missing one is trained."""

    models_dir: Path
    steps: int = 2000
    size: int = 256
    batch_size: int = 4
    images: tuple[Path, ...] = ()  # empty: the pairs' content images


def _fast_model(
    pair: Pair, training: FastTraining, images: list[Path], device: torch.device, log
) -> tuple[FastStyleModel, dict]:
    """The pair's network and how it was obtained: shipped, loaded, or trained here."""
    path = (
        training.models_dir / f"{pair.style_name}-{training.size}px-{training.steps}steps.nstmodel"
    )
    shipped = gallery.network(pair.painting) if pair.painting else None
    tic = time.perf_counter()
    if shipped is not None:
        model, made = load_model(shipped), {"path": str(shipped), "trained": False, "shipped": True}
    elif path.exists():
        model, made = load_model(path), {"path": str(path), "trained": False}
    else:
        training.models_dir.mkdir(parents=True, exist_ok=True)
        log(f"     fast: training {path.name} on {len(images)} image(s)")
        options = TrainOptions(size=training.size, steps=training.steps,
                               batch_size=training.batch_size, device=str(device),
                               name=pair.style_name)  # fmt: skip
        result = train_style(pair.style, images, path, options)
        model = result.model
        made = {"path": str(path), "trained": True, "images": [str(i) for i in images],
                   "steps": result.steps, "size": training.size,
                   "batch_size": training.batch_size, "losses": result.losses}  # fmt: skip
    seconds = made["seconds"] = time.perf_counter() - tic
    if made["trained"]:  # its training was timed: time its loading too
        tic = time.perf_counter()
        load_model(path)
        seconds = time.perf_counter() - tic
    made["load_seconds"] = seconds
    return model, made


def fast_models(
    pairs: list[Pair], training: FastTraining, device: torch.device, log: Callable[[str], None]
) -> tuple[dict[str, FastStyleModel], dict[str, dict]]:
    """One network per style: the one that ships with the gallery when the style is a gallery
    painting that has one, else from the models folder, else trained into it first.

    Returns the models and, per style, what it cost (load or training seconds; steps, the
    training images and the final losses of one trained here), how long its file takes to
    load (`load_seconds`, part of the fast target on the CPU) and which of the pairs'
    photographs the network was trained on (`trained_on`: its figures there are not held out).
    """
    images = list(training.images) or sorted({p.content_path for p in pairs})
    models, made = {}, {}
    for pair in pairs:
        if pair.style_name not in models:
            models[pair.style_name], made[pair.style_name] = _fast_model(
                pair, training, images, device, log
            )
    for style, model in models.items():
        mine = [p for p in pairs if p.style_name == style]
        seen = {p.content_path.name: model.trained_on(p.content) for p in mine}
        # None: the file does not say what it was trained on
        made[style]["trained_on"] = (
            None if None in seen.values() else [name for name, yes in seen.items() if yes]
        )
    return models, made


def _results(figures: dict[str, MethodFigures], info: dict, curve: dict, checks: list[str]) -> dict:
    """Every figure of a run, as results.json holds it."""
    methods = {
        name: {
            "seconds": {str(s): fig.seconds[s] for s in fig.seconds},
            "median_seconds": {str(s): statistics.median(v) for s, v in fig.seconds.items()},
            "peak_mb": {str(s): fig.peak_mb[s] for s in fig.seconds},
            "ssim": {str(s): fig.ssim[s] for s in fig.seconds},
            "gmd": {str(s): fig.gmd[s] for s in fig.seconds},
            "gmd_layers": {str(s): fig.gmd_layers[s] for s in fig.seconds},
        }
        for name, fig in figures.items()
    }
    return {"info": info, "methods": methods, "curve": curve, "targets": checks}


def run_bench(
    pairs: list[Pair],
    sizes: list[int],
    methods: list[str],
    device: str,
    repeats: int,
    out_dir: Path,
    iterations: int | None,
    curve_size: int | None,
    strengths: tuple[float, ...],
    log: Callable[[str], None] = print,
    fast: FastTraining | None = None,
    speed_sizes: Sequence[int] = (),
) -> dict:
    """Run everything, write the four outputs into out_dir, return the JSON figures.

    `fast` says where the fast row's networks are (default: `out_dir/models`, trained with
    FastTraining's defaults when missing); it matters only when "fast" is in `methods`.
    `speed_sizes` are timed for `proposed` alone (see the module docstring).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    workspace = Workspace(device)
    dev = workspace.device
    tic = time.perf_counter()
    workspace.extractor("vgg19", StyleOptions().pooling)
    load_extractor("vgg19", "max")  # the metrics' extractor (always on the CPU)
    model_load = time.perf_counter() - tic
    runners = {m: make_runner(m, workspace, iterations) for m in methods if m != "fast"}
    fast_report: dict[str, dict] = {}
    if "fast" in methods:
        models, fast_report = fast_models(pairs, fast or FastTraining(out_dir / "models"), dev, log)
        runners["fast"] = make_fast_runner(models, str(dev))
    figures = measure_methods(runners, pairs, sizes, repeats, dev, log, speed_sizes)
    curve_runners = {n: r for n, r in runners.items() if n in ("gatys", "proposed")}
    if "proposed" in runners:
        curve_runners[FIXED] = make_runner("proposed", workspace, iterations, False)
    size = curve_size or min(sizes)
    curve = strength_curve(curve_runners, pairs, size, strengths) if strengths else {}
    load = max((r["load_seconds"] for r in fast_report.values()), default=0.0)
    checks = targets.bench_verdicts(
        figures, sizes, dev, curve, presets=iterations is None, fast_load_s=load
    )
    info = {
        "device": f"{dev.type} ({device_name(dev)})",
        "date": datetime.date.today().isoformat(),
        "model_load_s": model_load,
        "repeats": repeats,
        "pairs": [p.name for p in pairs],
        "sizes": sizes,
        "speed_sizes": list(speed_sizes),
        "torch": torch.__version__,
        "iterations_override": iterations,
        "fast_models": fast_report,
    }
    table = report.bench_markdown(figures, sizes, info, checks)
    (out_dir / "results.md").write_text(table)
    result = _results(figures, info, curve, checks)
    (out_dir / "results.json").write_text(json.dumps(result, indent=2))
    columns = {name: fig.outputs[max(sizes)] for name, fig in figures.items()}
    report.contact_sheet(pairs, columns, out_dir / "contact_sheet.png")
    report.plot_curve(curve, out_dir / "ssim_vs_gmd.png", log)
    log(table)
    return result


def full_resolution_table(rows: list[dict], device: torch.device) -> str:
    """`nst bench --photos`' report: the rows measured by `measure.full_resolution_rows`,
    then their verdicts."""
    return report.full_resolution_table(
        rows, device, targets.full_resolution_verdicts(rows, device)
    )
