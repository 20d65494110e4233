"""`nst bench` writes a consistent table, JSON, contact sheet and plot (a smoke run: the
figures of a real benchmark live in docs/benchmarks.md, never asserted on here)."""

from __future__ import annotations

import json
import statistics

import numpy as np
from PIL import Image

from nst_engine import bench


def test_square_crops_the_centre(content):
    out = bench.square(content, 40)
    assert out.shape == (40, 40, 3) and out.dtype == np.uint8


def test_bench_writes_consistent_outputs(tmp_path, examples):
    pairs = bench.load_pairs([f"{examples / 'chelsea.png'}:{examples / 'starry_night.jpg'}"])
    lines = []
    result = bench.run_bench(
        pairs,
        [48],
        ["gatys", "proposed"],
        "cpu",
        repeats=2,
        out_dir=tmp_path,
        iterations=3,
        curve_size=48,
        strengths=(0.2, 0.8),
        log=lines.append,
    )
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"results.md", "results.json", "contact_sheet.png", "ssim_vs_gmd.png"}
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == json.loads(json.dumps(result))
    for method in ("gatys", "proposed"):
        figures = saved["methods"][method]
        assert len(figures["seconds"]["48"]) == 2  # one pair, two repeats
        assert figures["median_seconds"]["48"] == statistics.median(figures["seconds"]["48"])
        assert 0 < figures["ssim"]["48"][0] <= 1 and figures["gmd"]["48"][0] > 0
        assert [pt["strength"] for pt in saved["curve"][method]] == [0.2, 0.8]
    table = (tmp_path / "results.md").read_text()
    assert "| gatys |" in table and "| proposed |" in table
    assert any(line.startswith("- OWED") for line in saved["targets"])  # CPU run
    sheet = Image.open(tmp_path / "contact_sheet.png")
    assert sheet.size == (4 * 192, 192 + 20)
    plot = np.asarray(Image.open(tmp_path / "ssim_vs_gmd.png").convert("L"))
    assert (plot < 128).mean() > 0.005  # axes, lines and labels were drawn
