"""`nst batch`: every input written under its name, a rerun that rewrites nothing, a bad
input reported in one line while the rest is done, no Ray without --cluster; and on a real
local Ray cluster (2 CPUs): the same bytes as the local run, and a worker killed mid-batch
whose images are redone, each output written once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from nst_engine.arrays import resized
from nst_engine.cli import main
from nst_engine.images import load_image, save_image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PHOTOS = ("astronaut.jpg", "chelsea.png", "coffee.jpg", "rocket.jpg", "shipwreck.jpg")
# Tiny and quick: the batch's behaviour is under test here, not the painting.
PAINT = ("-s", "starry-night", "--iterations", "2", "--device", "cpu")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Seven 64-pixel photographs in a folder (one of them as a 16-bit PNG)."""
    folder = tmp_path_factory.mktemp("photos")
    for index, name in enumerate(PHOTOS):
        save_image(
            folder / f"{index}-{Path(name).stem}.jpg", resized(load_image(EXAMPLES / name), 64)
        )
    rocket = resized(load_image(EXAMPLES / "rocket.jpg"), 64)
    save_image(folder / "5-flipped.png", rocket[:, ::-1])
    save_image(folder / "6-deep.png", (rocket.astype(np.uint16) * 257)[::-1])
    return folder


def photo_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


@pytest.fixture(scope="module")
def local_run(photos, tmp_path_factory) -> Path:
    """The folder styled by `nst batch` in a process of its own, which then says whether
    it ever imported Ray. Single-threaded, as the cluster's CPU workers are: torch adds its
    sums in another order on other thread counts (docs/cluster.md gives the difference)."""
    out = tmp_path_factory.mktemp("local")
    code = (
        "import sys, torch\ntorch.set_num_threads(1)\nfrom nst_server.frontend import main\n"
        f"status = main({['batch', str(photos), '-o', str(out), *PAINT]!r})\n"
        "print('ray imported:', 'ray' in sys.modules)\nsys.exit(status)"
    )
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert run.returncode == 0, run.stderr
    assert "ray imported: False" in run.stdout
    assert f"wrote 7 images to {out}" in run.stdout
    return out


def test_a_local_batch_writes_every_input_under_its_name_without_ray(photos, local_run):
    assert photo_names(local_run) == photo_names(photos)
    for name in photo_names(photos):
        source, styled = load_image(photos / name), load_image(local_run / name)
        assert styled.shape == source.shape and styled.dtype == source.dtype
        assert np.abs(styled.astype(float) - source).mean() > 1e-3 * np.iinfo(source.dtype).max


def test_running_the_same_batch_again_rewrites_nothing(photos, local_run, capsys):
    before = {name: (local_run / name).stat().st_mtime_ns for name in photo_names(local_run)}
    assert main(["batch", str(photos), "-o", str(local_run), *PAINT]) == 0
    after = {name: (local_run / name).stat().st_mtime_ns for name in photo_names(local_run)}
    assert after == before
    assert f"wrote 0 images to {local_run}, 7 already there" in capsys.readouterr().out


def test_a_bad_input_is_one_line_and_the_rest_is_done(photos, tmp_path, capsys):
    broken, huge = tmp_path / "broken.png", tmp_path / "huge.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    save_image(huge, np.zeros((500, 500, 3), np.uint8))  # over --max-pixels: header only
    good = [photos / name for name in photo_names(photos)[:2]]
    out = tmp_path / "out"
    args = [*map(str, (*good, broken, huge, tmp_path / "missing.jpg")), "-o", str(out), *PAINT]
    assert main(["batch", *args, "--max-pixels", "200000"]) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("nst:")]
    assert len(lines) == 3, captured.err
    for line, name in zip(lines, ("missing.jpg", "broken.png", "huge.png"), strict=True):
        assert line.startswith("nst: failed: ") and name in line
    assert photo_names(out) == sorted(p.name for p in good)
    assert "; 3 failed" in captured.out


def test_inputs_that_would_collide_or_be_overwritten_are_refused(photos, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    first = photo_names(photos)[0]
    (other / first).write_bytes((photos / first).read_bytes())
    assert main(["batch", str(photos / first), str(other / first), "-o", str(tmp_path / "o"),
                 *PAINT]) == 1  # fmt: skip
    assert "too; rename one" in capsys.readouterr().err and photo_names(tmp_path / "o") == [first]
    assert main(["batch", str(other), "-o", str(other), *PAINT]) == 1
    assert "which its output would replace" in capsys.readouterr().err


def test_an_interrupted_batch_says_the_finished_images_stay_and_a_rerun_goes_on(
    photos, tmp_path, capsys, monkeypatch
):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("nst_engine.batch.paint_here", interrupted)
    assert main(["batch", str(photos), "-o", str(tmp_path / "o"), *PAINT]) == 130
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "nst: interrupted; what was finished is written; run the same command again to go on"
        )
    )


def test_workers_without_a_cluster_are_refused_before_any_work(photos, tmp_path, capsys):
    assert main(["batch", str(photos), "-o", str(tmp_path / "o"), *PAINT, "--workers", "2"]) == 1
    assert "--workers N goes with --cluster ADDRESS" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_without_ray_the_cluster_option_says_what_to_install(photos, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    monkeypatch.delitem(sys.modules, "nst_engine.batch_cluster", raising=False)
    assert main(["batch", str(photos), "-o", str(tmp_path), *PAINT, "--cluster", "auto"]) == 1
    assert capsys.readouterr().err.strip() == (
        "nst: error: --cluster needs Ray: pip install 'neural-style-gimp[cluster]'"
    )
    assert not any(tmp_path.iterdir())


@pytest.fixture(scope="module")
def ray_cluster():
    """A real local Ray cluster of 2 CPUs, shared by the module's tests, then shut down."""
    ray = pytest.importorskip("ray", reason="the cluster tests need the `cluster` extra")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_a_cluster_batch_writes_the_same_bytes_as_the_local_run(
    ray_cluster, photos, local_run, tmp_path
):
    out = tmp_path / "cluster"
    args = ["batch", str(photos), "-o", str(out), *PAINT, "--cluster", "auto", "--workers", "2"]
    assert main(args) == 0
    assert photo_names(out) == photo_names(local_run)
    for name in photo_names(out):  # same seed, same engine: identical files
        assert (out / name).read_bytes() == (local_run / name).read_bytes(), name


@pytest.mark.slow
def test_a_worker_killed_mid_batch_has_its_images_redone_and_each_written_once(
    ray_cluster, photos, local_run, tmp_path, monkeypatch
):
    from nst_engine import batch, batch_cluster
    from nst_engine.options import StyleOptions
    from nst_engine.prepared import read_style

    writes = Counter()
    write = batch.save_output

    def counted(path, data):
        writes[path.name] += 1
        write(path, data)

    monkeypatch.setattr(batch, "save_output", counted)
    options = StyleOptions(iterations=2, device="cpu")
    spec = batch.BatchSpec((read_style("starry-night").image,), options)
    plan = batch.plan_batch([photos], tmp_path, options.max_pixels)
    pool = batch_cluster.WorkerPool(spec, 2, {"num_cpus": 0.5}, threads=1)
    victim = ray_cluster.get(pool.actors[0].pid.remote())

    def kill_after_the_first(outcomes):
        for index, outcome in enumerate(outcomes):
            if index == 0:
                os.kill(victim, signal.SIGKILL)  # a crash: no goodbye to Ray
            yield outcome

    try:
        outcomes = kill_after_the_first(
            pool.outcomes(plan.todo, batch_cluster.send_image(options.max_pixels))
        )
        failed = batch.write_outcomes(plan, outcomes, lambda item, reason: None)
    finally:
        pool.close()
    assert failed == []
    assert pool.restarts == 1
    assert sorted(writes) == photo_names(photos) and set(writes.values()) == {1}
    for name in photo_names(photos):
        assert (tmp_path / name).read_bytes() == (local_run / name).read_bytes(), name


def test_shots_cover_every_frame_once_and_cross_fade_where_they_share():
    from nst_engine.shots import ShotJoiner, plan_shots

    shots = plan_shots(12, 7, 3)
    assert [(s.start, s.stop) for s in shots] == [(0, 7), (4, 12)]
    assert [(s.start, s.stop) for s in plan_shots(28, 10, 2)] == [(0, 10), (8, 18), (16, 28)]
    joiner = ShotJoiner(shots)
    dark = [np.zeros((2, 2, 3), np.uint8)] * 7
    light = [np.full((2, 2, 3), 200, np.uint8)] * 8
    first = joiner.add(shots[1], light)  # the later shot first: its shared frames wait
    assert [index for index, _ in first] == [7, 8, 9, 10, 11]
    second = dict(joiner.add(shots[0], dark))
    assert sorted(second) == [0, 1, 2, 3, 4, 5, 6]
    assert [int(second[i][0, 0, 0]) for i in (3, 4, 5, 6)] == [0, 50, 100, 150]


@pytest.mark.slow
def test_a_sequence_styled_as_shots_on_the_cluster_is_steady_across_the_cut(ray_cluster, tmp_path):
    """12 frames of a pan, two shots of 7 and 8 sharing 3 frames, on two workers at once:
    every frame written, and the warping error of the frame pairs around the shared frames
    under half a hard cut's, and within a few times the pairs' inside a shot."""
    pytest.importorskip("cv2", reason="optical flow needs the `video` extra (opencv)")
    from nst_engine.metrics import warping_error
    from nst_engine.options import StyleOptions
    from nst_engine.prepared import read_style
    from nst_engine.sequence import stylize_sequence

    photo = resized(load_image(EXAMPLES / "rocket.jpg"), 160)
    frames = [
        np.ascontiguousarray(photo[8 + t : 56 + t, 8 + 2 * t : 72 + 2 * t]) for t in range(12)
    ]
    (tmp_path / "in").mkdir()
    for index, frame in enumerate(frames):
        save_image(tmp_path / "in" / f"f{index:02d}.png", frame)
    out = tmp_path / "out"
    args = ["animate", str(tmp_path / "in"), "starry-night", "-o", str(out), "--iterations", "6",
            "--work-size", "64", "--device", "cpu", "--cluster", "auto", "--workers", "2",
            "--shot-length", "7", "--overlap", "3"]  # fmt: skip
    assert main(args) == 0
    styled = [load_image(out / f"f{index:02d}.png") for index in range(12)]
    pairs = [warping_error(styled[t : t + 2], frames[t : t + 2]) for t in range(11)]
    across = pairs[3:7]  # (3, 4) ... (6, 7): into, through and out of the shared frames 4-6
    inside = pairs[:3] + pairs[7:]
    # A hard cut at frame 4: the first shot's frame 3, then the second shot's own frame 4
    # (styled here as its worker did: single-threaded, same seed).
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        second = next(
            stylize_sequence(
                frames[4:],
                read_style("starry-night").image,
                options=StyleOptions(iterations=6, size=64, device="cpu"),
            )
        )
    finally:
        torch.set_num_threads(threads)
    cut = warping_error([styled[3], second.image], frames[3:5])
    assert max(across) < 0.5 * cut, (across, cut)
    assert max(across) < 5 * np.mean(inside), (across, inside)
