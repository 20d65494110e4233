"""The `nst` command as a user runs it: real results, and one clear line for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nst_engine.images import load_image, save_image


def nst(*args: str | Path) -> subprocess.CompletedProcess:
    """`nst ARGS` as a user runs it (its console script is nst_server.frontend:main)."""
    return subprocess.run(
        [sys.executable, "-m", "nst_server.frontend", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory, content, starry):
    folder = tmp_path_factory.mktemp("cli")
    save_image(folder / "content.png", content)
    save_image(folder / "style.png", starry)
    return folder


@pytest.mark.slow
def test_stylize_writes_a_stylised_image_at_the_requested_size(files):
    out = files / "out.png"
    run = nst(
        "stylize",
        files / "content.png",
        files / "style.png",
        "-o",
        out,
        "--size",
        "80",
        "--iterations",
        "20",
    )
    assert run.returncode == 0, run.stderr
    assert "wrote" in run.stdout
    image = load_image(out)
    assert image.shape[:2] == (53, 80)  # 96x64 content scaled to a long side of 80

    evaluated = nst("evaluate", files / "content.png", files / "style.png", out, "--json")
    figures = json.loads(evaluated.stdout)
    baseline = nst(
        "evaluate", files / "content.png", files / "style.png", files / "content.png", "--json"
    )
    assert figures["gmd"] < json.loads(baseline.stdout)["gmd"]
    layers = figures["gmd_layers"]
    assert sorted(layers) == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    assert abs(sum(layers.values()) / 5 - figures["gmd"]) < 1e-3
    assert 0.3 < figures["ssim"] < 1.0


@pytest.mark.slow
def test_stylize_with_mask_keeps_black_pixels(files, content):
    mask = np.zeros(content.shape[:2], np.uint8)
    mask[16:48, 20:70] = 255
    Image.fromarray(mask).save(files / "mask.png")
    out = files / "masked.png"
    run = nst(
        "stylize",
        files / "content.png",
        files / "style.png",
        "-o",
        out,
        "--mask",
        files / "mask.png",
        "--iterations",
        "10",
    )
    assert run.returncode == 0, run.stderr
    result = load_image(out)
    assert np.array_equal(result[mask == 0], content[mask == 0])


def one_line_error(run: subprocess.CompletedProcess) -> str:
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if "error" in line]
    assert len(lines) == 1, run.stderr
    return lines[0]


def test_bad_inputs_give_one_line_errors(files, tmp_path):
    content, style, out = files / "content.png", files / "style.png", tmp_path / "o.png"
    (tmp_path / "notes.txt").write_text("not an image")
    Image.new("RGB", (20, 20)).save(tmp_path / "tiny.png")
    Image.new("L", (50, 40)).save(tmp_path / "mask.png")
    cases = {
        "no such file": ("stylize", tmp_path / "missing.png", style, "-o", out),
        "not an image": ("stylize", tmp_path / "notes.txt", style, "-o", out),
        "at least 32 pixels": ("stylize", tmp_path / "tiny.png", style, "-o", out),
        "over the limit": ("stylize", content, style, "-o", out, "--max-pixels", "100"),
        "same size": ("stylize", content, style, "-o", out, "--mask", tmp_path / "mask.png"),
        "between 0 and 1": ("stylize", content, style, "-o", out, "--strength", "1.5"),
        "does not exist": ("stylize", content, style, "-o", tmp_path / "nodir" / "o.png"),
    }
    for expected, args in cases.items():
        assert expected in one_line_error(nst(*args)), expected
    assert not out.exists()


def test_example_images_are_real_and_credited(examples):
    credits = (examples / "README.md").read_text()
    for path in examples.glob("*.*"):
        if path.suffix not in (".md", ".py"):
            assert path.name in credits
            assert min(load_image(path).shape[:2]) >= 256


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_a_device_this_machine_lacks_is_named_not_called_unknown(files, tmp_path):
    content, style, out = files / "content.png", files / "style.png", tmp_path / "o.png"
    error = one_line_error(nst("stylize", content, style, "-o", out, "--device", "mps"))
    assert "MPS is not available" in error and "--device cpu or auto" in error
    assert "device must be" not in error
    error = one_line_error(nst("stylize", content, style, "-o", out, "--device", "tpu"))
    assert "device must be auto, cpu, cuda, cuda:N or mps" in error
    assert not out.exists()
