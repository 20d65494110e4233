"""`nst bench` writes a consistent table, JSON, contact sheet and plot (a smoke run: the
figures of a real benchmark live in docs/benchmarks.md, never asserted on here)."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest
import torch
from PIL import Image

from nst_engine import gallery
from nst_engine.evaluation import bench, measure, report, targets
from nst_engine.thumbnails import fingerprint


@pytest.fixture(autouse=True)
def no_shipped_networks(tmp_path_factory, monkeypatch):
    """The bench as on a checkout whose gallery has no trained networks yet (whatever ships)."""
    empty = tmp_path_factory.mktemp("networks")
    monkeypatch.setattr(gallery, "network_folder", lambda: empty)
    return empty


def test_square_crops_the_centre(content):
    out = measure.square(content, 40)
    assert out.shape == (40, 40, 3) and out.dtype == np.uint8


@pytest.mark.slow
def test_bench_writes_consistent_outputs(tmp_path, examples):
    pairs = measure.load_pairs([f"{examples / 'chelsea.png'}:{examples / 'starry_night.jpg'}"])
    lines = []
    fast = bench.FastTraining(tmp_path / "models", steps=2, size=32, batch_size=1)
    result = bench.run_bench(
        pairs,
        [48],
        ["gatys", "proposed", "fast"],
        "cpu",
        repeats=2,
        out_dir=tmp_path,
        iterations=3,
        curve_size=48,
        strengths=(0.2, 0.5),
        log=lines.append,
        fast=fast,
        speed_sizes=[64],
    )
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {
        "results.md",
        "results.json",
        "contact_sheet.png",
        "ssim_vs_gmd.png",
        "models",
    }
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == json.loads(json.dumps(result))
    trained = saved["info"]["fast_models"]["starry_night"]
    assert trained["trained"] and trained["steps"] == 2
    assert (tmp_path / "models" / "starry_night-32px-2steps.nstmodel").is_file()
    fast_figures = saved["methods"]["fast"]
    assert len(fast_figures["seconds"]["48"]) == 2
    assert 0 < fast_figures["ssim"]["48"][0] <= 1 and fast_figures["gmd"]["48"][0] > 0
    assert list(fast_figures["seconds"]) == ["48"]  # 64 is a speed size: proposed alone
    assert list(saved["methods"]["proposed"]["seconds"]) == ["48", "64"]
    # fast's strength was fixed in training; proposed-fixed is the dynamic weighting's ablation
    assert set(saved["curve"]) == {"gatys", "proposed", "proposed-fixed"}
    spread = [t for t in saved["targets"] if "SSIM spread across styles" in t]
    assert len(spread) == 1 and "proposed with fixed weights" in spread[0]
    # iterations=3 overrides the presets: no target may be called met or missed on that
    assert all(not t.startswith(("- MET", "- NOT MET")) for t in saved["targets"])
    assert spread[0].startswith("- UNJUDGED")
    for method in ("gatys", "proposed"):
        figures = saved["methods"][method]
        assert len(figures["seconds"]["48"]) == 2  # one pair, two repeats
        assert figures["median_seconds"]["48"] == statistics.median(figures["seconds"]["48"])
        assert 0 < figures["ssim"]["48"][0] <= 1 and figures["gmd"]["48"][0] > 0
        layers = figures["gmd_layers"]["48"][0]
        assert list(layers) == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
        assert np.mean(list(layers.values())) == pytest.approx(figures["gmd"]["48"][0])
        assert [pt["strength"] for pt in saved["curve"][method]] == [0.2, 0.5]
    table = (tmp_path / "results.md").read_text()
    assert "| 48x48 | 64x64 |" in table and " s | - | " in table  # gatys was not timed at 64
    assert "- proposed: relu1_1 " in table  # the per-layer GMD line
    assert "| gatys |" in table and "| proposed |" in table and "| fast |" in table
    assert "fast network for starry_night: trained here, 2 steps" in table
    assert any(line.startswith("- OWED") for line in saved["targets"])  # CPU run
    sheet = Image.open(tmp_path / "contact_sheet.png")
    assert sheet.size == (5 * 192, 192 + 20)
    plot = np.asarray(Image.open(tmp_path / "ssim_vs_gmd.png").convert("L"))
    assert (plot < 128).mean() > 0.005  # axes, lines and labels were drawn


@pytest.mark.slow
def test_bench_reuses_a_trained_fast_network(tmp_path, examples):
    pairs = measure.load_pairs([f"{examples / 'chelsea.png'}:{examples / 'starry_night.jpg'}"])
    training = bench.FastTraining(tmp_path, steps=1, size=32, batch_size=1)
    first, made = bench.fast_models(pairs, training, torch.device("cpu"), print)
    again, made_again = bench.fast_models(pairs, training, torch.device("cpu"), print)
    assert made["starry_night"]["trained"] and not made_again["starry_night"]["trained"]
    content = measure.square(pairs[0].content, 40)
    runner = measure.make_fast_runner(again, "cpu")
    assert np.array_equal(
        runner(pairs[0], content, 0.5),
        measure.make_fast_runner(first, "cpu")(pairs[0], content, 0.5),
    )


@pytest.mark.slow
def test_bench_uses_the_shipped_network_and_says_which_photographs_it_trained_on(
    examples, no_shipped_networks, tmp_path
):
    from fast_models import random_style_model

    pairs = measure.load_pairs([
        f"{examples / 'chelsea.png'}:{examples / 'starry_night.jpg'}",  # the gallery's file
        f"{examples / 'astronaut.jpg'}:starry-night",  # the gallery's painting by name
        f"{examples / 'coffee.jpg'}:{examples / 'shipwreck.jpg'}",  # a painting with none
    ])  # fmt: skip
    assert [p.painting for p in pairs] == ["starry-night", "starry-night", "shipwreck"]
    shipped = random_style_model("starry-night")
    shipped.options["photos"] = [fingerprint(pairs[0].content)]  # trained on chelsea only
    shipped.save(no_shipped_networks / "starry-night.nstmodel")
    coffee = (examples / "coffee.jpg",)
    training = bench.FastTraining(tmp_path, steps=1, size=32, batch_size=1, images=coffee)
    models, made = bench.fast_models(pairs, training, torch.device("cpu"), print)
    # two names of one painting: each uses the shipped network
    for style in ("starry_night", "starry-night"):
        assert made[style]["shipped"] and not made[style]["trained"]
        assert models[style].path == no_shipped_networks / "starry-night.nstmodel"
    assert made["starry_night"]["trained_on"] == ["chelsea.png"]
    assert made["starry-night"]["trained_on"] == []  # the astronaut is held out
    assert made["shipwreck"]["trained"]  # none ships for it: trained here
    assert made["shipwreck"]["trained_on"] == ["coffee.jpg"]
    lines = "\n".join(report.fast_lines(made))
    assert "starry_night: shipped with the package" in lines
    assert "trained on chelsea.png: not held out there" in lines
    assert "starry-night: shipped with the package" in lines
    assert "none of the pairs' photographs trained on" in lines


def test_full_resolution_targets_are_judged_on_the_cpu_and_on_a_gpu(monkeypatch):
    monkeypatch.setattr(report, "device_name", lambda device: "test device")
    row = dict(photo="p.jpg", size="6000x4000", quality="normal", work_size="768x512",
               full_resolution="detail", ssim=0.8, gmd=0.3, sharpness=1.2)  # fmt: skip
    rows = [
        {**row, "photo": "small.jpg", "megapixels": 4.5, "seconds": 250.0, "peak_mb": 2600},
        {**row, "photo": "large.jpg", "megapixels": 24.0, "seconds": 9.0, "peak_mb": 9000},
    ]
    cpu = bench.full_resolution_table(rows, torch.device("cpu"))
    assert "MET: small.jpg normal: 250.0 s (target under 300 s on the CPU)" in cpu
    assert "MET: large.jpg normal: 8.8 GB (target within 24 GB on the CPU)" in cpu
    assert "OWED: the GPU rows" in cpu
    gpu = bench.full_resolution_table(rows, torch.device("cuda"))
    assert "MET: large.jpg normal: 9.0 s (target under 10 s on the GPU)" in gpu
    assert "NOT MET: large.jpg normal: 8.8 GB (target under 8 GB on the GPU)" in gpu
    assert "OWED" not in gpu and "on the CPU" not in gpu


def test_the_cpu_fast_target_counts_loading_the_network():
    fast = measure.MethodFigures(seconds={1024: [0.5, 0.6, 0.7]})
    cpu = torch.device("cpu")
    met = targets.bench_verdicts({"fast": fast}, [1024], cpu, {}, fast_load_s=0.3)
    assert "- MET: fast at 1024x1024 on the cpu, loading the network included: 0.90 s" in met[0]
    missed = targets.bench_verdicts({"fast": fast}, [1024], cpu, {}, fast_load_s=1.5)
    assert missed[0].startswith("- NOT MET: fast at 1024x1024 on the cpu") and "2.10 s" in missed[0]
    assert missed[-1].startswith("- OWED: the fast target (1024x1024 under 10 ms)")
