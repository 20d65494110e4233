"""The expected time the GIMP dialog shows comes from the server's own measured speed, and a
job that cannot fit is refused before any pixel is sent, with the size that fits."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
import torch
from nst_proto import pure_client
from nst_proto.client import JobRequest, StyleClient
from nst_server.speed import SpeedRecord
from PIL import Image
from test_server_e2e import free_port

import nst_engine
from nst_engine import gallery
from nst_engine.api import plan_job
from nst_engine.errors import TooLarge
from nst_engine.thumbnails import THUMBNAIL_SIDE

CPU = torch.device("cpu")


def test_the_plan_made_before_a_job_is_the_plan_the_job_runs(content_256, starry):
    options = nst_engine.StyleOptions(quality="draft", size=128, iterations=4)
    plan = plan_job(content_256.shape[:2], options=options, device=CPU)
    stats = nst_engine.stylize(content_256, starry, options=options).stats
    assert stats["planned_pixels"] == plan.plan.pixels
    assert stats["work_size"] == f"{plan.work[1]}x{plan.work[0]}"
    refine = nst_engine.StyleOptions(quality="high", size=128, iterations=2)
    assert plan_job(content_256.shape[:2], options=refine, device=CPU).refine


def test_a_working_size_too_large_for_memory_names_the_size_that_fits(monkeypatch):
    # The free memory held still: the machine's own moves between the two plans (CI once saw
    # the named size refused a moment later, as other processes grew).
    monkeypatch.setattr("nst_engine.memory.free_ram_bytes", lambda: 2 << 30)
    with pytest.raises(TooLarge) as too_large:
        plan_job((60000, 90000), options=nst_engine.StyleOptions(size=90000), device=CPU)
    fits = too_large.value.fits
    assert 0 < fits < 90000 and f"use a working size of {fits} pixels or less" in str(
        too_large.value
    )
    # the size it names does fit
    plan_job((60000, 90000), options=nst_engine.StyleOptions(size=fits), device=CPU)


def test_the_speed_record_estimates_from_recent_jobs_and_outlives_the_server(tmp_path):
    path = tmp_path / "speed.json"
    record = SpeedRecord("cpu: test", path, keep=3)
    assert record.seconds("optimise", 1000) is None
    record.record({"planned_pixels": 1000, "seconds": 12.0, "model_load_seconds": 2.0})
    record.record({"planned_pixels": 3000, "seconds": 30.0, "method": "proposed"})
    assert record.seconds("optimise", 2000) == pytest.approx(2000 * 40.0 / 4000)
    assert record.seconds("fast", 2000) is None  # a trained network is measured apart
    record.record({"planned_pixels": 500, "seconds": 0.1, "method": "fast:tiny"})
    assert record.seconds("fast", 1000) == pytest.approx(0.2)
    for _ in range(3):  # only the most recent `keep` jobs count
        record.record({"planned_pixels": 1000, "seconds": 1.0})
    assert record.seconds("optimise", 1000) == pytest.approx(1.0)

    again = SpeedRecord("cpu: test", path, keep=3)
    assert again.seconds("optimise", 1000) == pytest.approx(1.0) and again.jobs("fast") == 1
    assert SpeedRecord("cuda:0: another card", path).jobs("optimise") == 0
    assert "cpu: test" in json.loads(path.read_text())
    path.write_text("{not json")  # a damaged record is ignored, never fatal
    assert SpeedRecord("cpu: test", path).seconds("optimise", 1) is None
    record.record({"seconds": 3.0})  # figures without a plan are not recorded
    record.record({"planned_pixels": 10, "seconds": "?"})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from nst_server.app import StyleServer

    srv = StyleServer(
        f"127.0.0.1:{free_port()}",
        device="cpu",
        warm=False,
        speed_file=tmp_path_factory.mktemp("state") / "speed.json",
    )
    srv.start()
    yield srv
    srv.stop(grace=1)


@pytest.mark.slow
def test_the_estimate_comes_from_the_servers_measured_speed(server):
    content = np.random.default_rng(0).integers(0, 256, (160, 240, 3), np.uint8)
    options = {"quality": "draft", "iterations": 12}
    styles = [("starry-night", 1.0)]
    with StyleClient(server.address, 300) as client:
        first = client.estimate(240, 160, styles=styles, options=options)
        assert first.seconds == 0 and first.measured_jobs == 0  # nothing measured, no guess
        assert (first.work_width, first.work_height) == (240, 160)
        request = JobRequest(content.tobytes(), 240, 160, 3, "u8", styles, options=options)
        timings = []
        for _ in range(2):  # the second job is what a user's next job costs (targets cached)
            tic = time.perf_counter()
            client.stylize(request)
            timings.append(time.perf_counter() - tic)
        estimate = client.estimate(240, 160, styles=styles, options=options)
        bigger = client.estimate(480, 320, styles=styles, options=options)
    assert estimate.measured_jobs == 2
    assert 0.5 * min(timings) < estimate.seconds < 1.5 * max(timings), (estimate, timings)
    # a larger layer: the same speed times the engine's own plan of it
    opts = nst_engine.StyleOptions(**options)
    ratio = (
        plan_job((320, 480), options=opts, device=CPU).plan.pixels
        / plan_job((160, 240), options=opts, device=CPU).plan.pixels
    )
    assert ratio > 1.5 and bigger.seconds == pytest.approx(ratio * estimate.seconds, rel=1e-6)


def test_a_job_that_cannot_fit_is_refused_by_the_estimate_with_the_size_that_fits(server):
    with pure_client.StyleClient(server.address) as client:  # the plug-in's client
        too_large = client.estimate(
            8000, 6000, styles=[("great-wave", 1.0)], options={"size": 8000}
        )
        unknown = client.estimate(64, 64, styles=[("mona-lisa", 1.0)])
        no_model = client.estimate(64, 64, model="nothing-here")
    assert too_large.fits_work_size > 0 and too_large.seconds == 0
    assert f"use a working size of {too_large.fits_work_size} pixels" in too_large.refused
    assert "'mona-lisa' is not a painting of the gallery" in unknown.refused
    assert "no style library" in no_model.refused  # as the job itself would say


def test_the_gallery_comes_with_thumbnails_for_the_dialog(server):
    with pure_client.StyleClient(server.address) as client:
        paintings = client.gallery()
    assert [p.name for p in paintings] == gallery.names()
    for painting in paintings:
        with Image.open(io.BytesIO(painting.thumbnail_png)) as thumbnail:
            assert max(thumbnail.size) == THUMBNAIL_SIDE and thumbnail.mode == "RGB"
            # a picture, not a flat tile
            assert np.asarray(thumbnail, np.float32).std() > 10
        assert painting.title and painting.artist and painting.kind
