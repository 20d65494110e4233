"""Drawing what was measured: Markdown tables, contact sheets and the SSIM-against-GMD plot.
Nothing here measures or judges; the verdicts come in as lines from `targets`."""

from __future__ import annotations

import datetime
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..devices import device_name
from ..metrics import GMD_LAYERS
from .measure import FIXED, MethodFigures, Pair, Point, square

CURVE_COLOURS = {"gatys": "#c83c28", "proposed": "#1e5ac8", FIXED: "#78a0e6"}


def _bench_rows(figures: dict[str, MethodFigures], sizes: list[int]) -> list[str]:
    """The paper's table: per method its scores at the largest size, its times per size, its
    speed-up over gatys and its peak memory."""
    top = max(sizes)
    timed = sorted({s for fig in figures.values() for s in fig.seconds})
    head = ["approach", f"SSIM ({top}px)", f"GMD ({top}px)"]
    head += [f"{s}x{s}" for s in timed] + ["speed-up vs gatys", f"memory ({top}px)"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    gatys = figures.get("gatys")

    def median(fig: MethodFigures, size: int) -> float:
        return statistics.median(fig.seconds[size])

    for name, fig in figures.items():
        times = [f"{median(fig, s):.3f} s" if s in fig.seconds else "-" for s in timed]
        speed = ""
        if gatys is not None:
            speed = ", ".join(f"{median(gatys, s) / median(fig, s):.1f}x" for s in sizes)
        cells = [name, f"{np.mean(fig.ssim[top]):.3f}", f"{np.mean(fig.gmd[top]):.3f}"]
        cells += times + [speed, f"{fig.peak_mb[top]:.0f} MB"]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def bench_markdown(
    figures: dict[str, MethodFigures], sizes: list[int], info: dict, checks: list[str]
) -> str:
    """The paper's table, then how the fast networks were made, then the targets."""
    top = max(sizes)
    layer_lines = [
        f"- {name}: "
        + ", ".join(
            f"{layer} {np.mean([d[layer] for d in fig.gmd_layers[top]]):.3f}"
            for layer in GMD_LAYERS
        )
        for name, fig in figures.items()
    ]
    text = [
        f"Device: {info['device']}; {info['date']}; model load {info['model_load_s']:.2f} s "
        "(excluded from runtimes); runtimes are medians of "
        f"{info['repeats']} repeat(s) per pair after a warm-up; {len(info['pairs'])} pairs.",
        "",
        *_bench_rows(figures, sizes),
        "",
        f"GMD per layer at {top}px (the GMD is their mean):",
        *layer_lines,
        "",
        *fast_lines(info.get("fast_models", {})),
        "Targets:",
        *checks,
    ]
    return "\n".join(text) + "\n"


def fast_lines(report: dict[str, dict]) -> list[str]:
    """How each fast network was obtained: the fast row means little without it."""
    lines = []
    for style, r in report.items():
        if r["trained"]:
            images = ", ".join(Path(i).name for i in r["images"])
            made = (
                f"trained here, {r['steps']} steps of {r['batch_size']} crops at {r['size']} px "
                f"on {images}, {r['seconds']:.0f} s"
            )
        else:
            made = f"{'shipped with the package' if r.get('shipped') else 'loaded'}: {r['path']}"
        seen = r.get("trained_on")
        held = (
            f"; trained on {', '.join(seen)}: not held out there" if seen
            else "; none of the pairs' photographs trained on" if seen is not None
            else ""
        )  # fmt: skip
        lines.append(f"- fast network for {style}: {made}{held}")
    return ["Fast networks (time excluded from runtimes):", *lines, ""] if lines else []


def frontier_markdown(
    pairs: list[Pair],
    gatys: list[Point],
    proposed: dict[float, list[Point]],
    marks: list[list[bool]],
    checks: list[str],
    info: dict,
) -> str:
    """Per pair: gatys and proposed at each strength (SSIM / GMD, * where `marks` says both of
    the paper's margins are met: one list per strength), then the means, the mean time and the
    targets."""
    head = ["pair", "gatys"] + [f"proposed {s:g}" for s in proposed]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for i, pair in enumerate(pairs):
        cells = [pair.name, f"{gatys[i].ssim:.3f} / {gatys[i].gmd:.3f}"]
        for points, met in zip(proposed.values(), marks, strict=True):
            cells.append(f"{points[i].ssim:.3f} / {points[i].gmd:.3f}{' *' if met[i] else ''}")
        rows.append("| " + " | ".join(cells) + " |")

    def mean(points: list[Point]) -> str:
        return f"{np.mean([p.ssim for p in points]):.3f} / {np.mean([p.gmd for p in points]):.3f}"

    rows.append("| mean | " + " | ".join(mean(p) for p in [gatys, *proposed.values()]) + " |")
    rows.append(
        "| spread of SSIM | "
        + " | ".join(f"{np.ptp([p.ssim for p in ps]):.3f}" for ps in [gatys, *proposed.values()])
        + " |"
    )
    seconds = ", ".join(
        f"{s:g}: {np.mean([p.seconds for p in ps]):.1f} s" for s, ps in proposed.items()
    )
    text = [
        f"Device: {info['device']}; {info['date']}; {info['size']}x{info['size']}; SSIM / GMD "
        "per pair (* both of the paper's margins over gatys met).",
        "",
        *rows,
        "",
        f"Mean time per pair: gatys {np.mean([g.seconds for g in gatys]):.1f} s; proposed "
        f"{seconds}.",
        "",
        "Targets:",
        *checks,
    ]
    return "\n".join(text) + "\n"


def full_resolution_table(rows: list[dict], device: torch.device, checks: list[str]) -> str:
    """One row per photograph and quality, then the verdicts."""
    lines = [
        f"Full resolution on {device.type} ({device_name(device)}), "
        f"{datetime.date.today().isoformat()}",
        "",
        "| photograph | size | quality | working size | full size by | time | peak memory | "
        "SSIM | GMD | sharpness |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['photo']} | {r['size']} ({r['megapixels']} MP) | {r['quality']} | "
            f"{r['work_size']} | {r['full_resolution']} | {r['seconds']} s | {r['peak_mb']} MB | "
            f"{r['ssim']} | {r['gmd']} | {r['sharpness']} |"
        )
    lines.append("")
    return "\n".join([*lines, *checks]) + "\n"


def contact_sheet(
    pairs: list[Pair], columns: dict[str, list[np.ndarray]], path: Path, cell: int = 192
) -> None:
    """One row per pair: its content, its style, then one result per column (by label)."""
    sheet = Image.new("RGB", ((2 + len(columns)) * cell, len(pairs) * cell + 20), "white")
    draw = ImageDraw.Draw(sheet)
    for c, label in enumerate(["content", "style", *columns]):
        draw.text((c * cell + 4, 4), label, fill="black")
    for r, pair in enumerate(pairs):
        images = [square(pair.content, cell), square(pair.style, cell)]
        images += [square(outputs[r], cell) for outputs in columns.values()]
        for c, image in enumerate(images):
            sheet.paste(Image.fromarray(image), (c * cell, 20 + r * cell))
    sheet.save(path, **({"quality": 88} if path.suffix == ".jpg" else {}))


def file_sheet(
    columns: Sequence[str], rows: Sequence[Sequence[Path]], path: Path, cell: int = 256
) -> Path:
    """A grid of image files, one labelled column each, every picture fitted in cell x cell
    and kept at its aspect ratio; a file that does not exist is left grey."""
    label = 20
    pictures = []  # per row, its pictures at most cell x cell
    for files in rows:
        row = []
        for file in files:
            image = None
            if file.is_file():
                with Image.open(file) as opened:
                    image = opened.convert("RGB")
                    image.thumbnail((cell, cell))
            row.append(image)
        pictures.append(row)
    heights = [max((i.height for i in row if i is not None), default=cell) for row in pictures]
    sheet = Image.new("RGB", (cell * len(columns), label + sum(heights)), "gray")
    draw = ImageDraw.Draw(sheet)
    for x, name in enumerate(columns):
        draw.text((x * cell + 4, 4), name, fill="white")
    top = label
    for row, height in zip(pictures, heights, strict=True):
        for x, image in enumerate(row):
            if image is not None:
                sheet.paste(image, (x * cell, top))
        top += height
    sheet.save(path, quality=90)
    return path


def plot_curve(
    curve: dict[str, list[dict[str, float]]], path: Path, log: Callable[[str], None] = print
) -> None:
    """SSIM (y) against GMD (x), one line per method, strengths labelled (matplotlib, the
    `bench` extra; without it the figures are in results.json and the plot is skipped)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log(f"no {path.name}: matplotlib is not installed (pip install 'neural-style-gimp[bench]')")
        return
    figure, axes = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    for name, points in curve.items():
        gmd, ssim = [p["gmd"] for p in points], [p["ssim"] for p in points]
        axes.plot(gmd, ssim, "o-", color=CURVE_COLOURS.get(name, "black"), label=name)
        for point in points:
            axes.annotate(f"{point['strength']:g}", (point["gmd"], point["ssim"]),
                          textcoords="offset points", xytext=(5, 5), fontsize=8)  # fmt: skip
    axes.set_xlabel("GMD to the style (lower: more style)")
    axes.set_ylabel("SSIM to the content (higher: more content)")
    axes.set_title("Strength curve: each point one strength, mean over the pairs")
    if curve:
        axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
