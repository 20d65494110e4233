"""The scheduler (server/jobs.py) on its own, without gRPC and without sleeps: a fake engine
(fake_engine.py) whose calls wait for the test, so each test decides when a job ends. One job
at a time, queue positions, a full queue, withdrawing and cancelling, closing, failures the
worker survives, calibration and the estimate. The transport is in test_server_queue.py."""

from __future__ import annotations

import io
import queue

import numpy as np
import pytest
import torch
from fake_engine import WAIT, Call, FakeEngine
from nst_server.jobs import (
    NO_LIBRARY,
    Estimate,
    Failed,
    Finished,
    Job,
    JobError,
    Limits,
    Plan,
    Previewed,
    Progressed,
    Queued,
    Scheduler,
    Started,
    Work,
)
from nst_server.speed import SpeedRecord
from PIL import Image

from nst_engine.options import StyleOptions


def png_bytes(side: int = 40) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (200, 40, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


STYLE = png_bytes()


def make_job(value: int = 10, model: str = "", **options) -> Job:
    content = np.full((40, 48, 3), value, np.uint8)
    return Job(content, None, [] if model else [STYLE], StyleOptions(**options), model=model)


def events(job: Job) -> list:
    """The job's events so far."""
    found = []
    while True:
        try:
            found.append(job.events.get_nowait())
        except queue.Empty:
            return found


def events_until(job: Job, kind: type) -> list:
    """The job's events up to its next one of `kind`, waited for."""
    found = []
    while not found or not isinstance(found[-1], kind):
        try:
            found.append(job.events.get(timeout=WAIT))
        except queue.Empty:
            raise AssertionError(f"job {job.id}: no {kind.__name__} event") from None
    return found


def last_event(job: Job, kind: type):
    """The job's next event of `kind`, waited for."""
    return events_until(job, kind)[-1]


def failure(job: Job) -> tuple[str, str]:
    error = last_event(job, Failed).error
    return error.code, error.message


def run_then_queue(scheduler: Scheduler, engine: FakeEngine, running: Job, *waiting: Job) -> Call:
    """Submit `running`, wait until the engine runs it, then queue `waiting` behind it."""
    scheduler.submit(running)
    call = engine.next_call()
    for job in waiting:
        scheduler.submit(job)
    return call


@pytest.fixture()
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture()
def scheduler(engine):
    scheduler = Scheduler(Limits(max_queue=2), "cpu", engine, speed=SpeedRecord("cpu"))
    yield scheduler
    scheduler.close()
    for call in engine.calls:  # nothing left waiting on a gate
        call.gate.set()
    scheduler.join(WAIT)
    assert not scheduler.worker.is_alive()


def test_jobs_run_one_at_a_time_in_the_order_they_came(scheduler, engine):
    first, second, third = make_job(1), make_job(2), make_job(3)
    running = run_then_queue(scheduler, engine, first, second, third)
    assert scheduler.status() == (2, True)
    running.finish()
    engine.next_call().finish()
    engine.next_call().finish()
    for job, value in ((first, 1), (second, 2), (third, 3)):
        assert np.array_equal(last_event(job, Finished).image, np.full((40, 48, 3), 255 - value))
    assert [call.work.content[0, 0, 0] for call in engine.calls] == [1, 2, 3]
    assert engine.max_running == 1


def test_waiting_jobs_move_up_one_place_when_the_running_one_ends(scheduler, engine):
    first, second, third = make_job(), make_job(), make_job()
    run_then_queue(scheduler, engine, first, second, third).finish()
    engine.next_call()  # the second runs: the third moves up once
    assert [e.position for e in events(first) if isinstance(e, Queued)] == [0]
    assert [type(e) for e in events(second)] == [Queued, Started]
    assert [e.position for e in events(third) if isinstance(e, Queued)] == [2, 1]


def test_a_full_queue_is_refused_at_once(scheduler, engine):
    run_then_queue(scheduler, engine, make_job(), make_job(), make_job())
    with pytest.raises(JobError) as refused:
        scheduler.check_room()
    assert refused.value.code == "RESOURCE_EXHAUSTED"
    assert "queue is full (2 jobs waiting behind the running one)" in refused.value.message
    with pytest.raises(JobError, match="queue is full"):
        scheduler.submit(make_job())


def test_a_withdrawn_or_cancelled_waiting_job_never_reaches_the_engine(scheduler, engine):
    first, withdrawn, cancelled = make_job(1), make_job(2), make_job(3)
    running = run_then_queue(scheduler, engine, first, withdrawn, cancelled)
    scheduler.withdraw(withdrawn)
    assert [e.position for e in events(cancelled) if isinstance(e, Queued)] == [2, 1]
    cancelled.cancel("cancelled by the test")
    last = make_job(4)
    scheduler.submit(last)
    running.finish()
    engine.next_call().finish()
    last_event(last, Finished)
    assert [call.work.content[0, 0, 0] for call in engine.calls] == [1, 4]
    assert not withdrawn.ran and not cancelled.ran


def test_cancelling_the_running_job_ends_it_with_its_reason_and_the_next_one_runs(
    scheduler, engine
):
    first, second = make_job(), make_job()
    run_then_queue(scheduler, engine, first, second)  # never finished: the cancel ends it
    first.cancel("cancelled by the test")
    assert failure(first) == ("CANCELLED", "the job was cancelled by the test")
    engine.next_call().finish()
    last_event(second, Finished)


def test_close_cancels_the_running_and_every_waiting_job_and_refuses_new_ones(scheduler, engine):
    running, waiting = make_job(), make_job()
    run_then_queue(scheduler, engine, running, waiting)
    scheduler.close()
    assert failure(waiting) == ("UNAVAILABLE", "cancelled: the server is shutting down")
    assert failure(running) == ("CANCELLED", "the job was cancelled: the server is shutting down")
    with pytest.raises(JobError) as refused:
        scheduler.submit(make_job())
    assert refused.value.code == "UNAVAILABLE"
    scheduler.join(WAIT)
    assert not scheduler.worker.is_alive() and len(engine.calls) == 1


def test_the_worker_survives_an_engine_exception_and_runs_the_next_job(scheduler, engine):
    broken, wrong, fine = make_job(), make_job(), make_job()
    scheduler.submit(broken)
    scheduler.submit(wrong)
    engine.next_call().fail(RuntimeError("a bug in the engine"))
    assert failure(broken) == ("INTERNAL", "internal error: RuntimeError: a bug in the engine")
    engine.next_call().finish(np.zeros((4, 4, 3), np.uint8))  # not the content's shape
    code, message = failure(wrong)
    assert code == "INTERNAL" and "the engine returned (4, 4, 3) uint8" in message
    scheduler.submit(fine)
    engine.next_call().finish()
    last_event(fine, Finished)
    scheduler.close()
    scheduler.join(WAIT)
    assert engine.freed == 3, "each job's memory goes back, whatever its end"


def test_out_of_memory_is_resource_exhausted_with_a_smaller_size_to_try(scheduler, engine):
    job = make_job(size=800)
    scheduler.submit(job)
    engine.next_call().fail(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried 2 GiB"))
    code, message = failure(job)
    assert code == "RESOURCE_EXHAUSTED"
    assert "ran out of memory styling at 800 pixels" in message and "size 400" in message


def test_an_undecodable_style_is_invalid_argument_naming_it(scheduler, engine):
    job = make_job()
    job.styles.append(b"not an image")
    scheduler.submit(job)
    code, message = failure(job)
    assert code == "INVALID_ARGUMENT" and message.startswith("style image 2")
    assert engine.calls == []


def test_the_engine_gets_typed_options_with_the_servers_device_and_limit(scheduler, engine):
    job = make_job(quality="draft", iterations=3, preserve_color=True)
    job.preview_max_side = 16
    scheduler.submit(job)
    call = engine.next_call()
    call.finish()
    assert call.work.options == StyleOptions(
        quality="draft",
        iterations=3,
        preserve_color=True,
        device="cpu",
        max_pixels=Limits().max_pixels,
    )
    assert call.work.model is None and call.work.styles[0].shape == (40, 40, 3)
    seen = events_until(job, Finished)
    assert [type(e) for e in seen] == [Queued, Started, Progressed, Previewed, Finished]
    assert seen[1].device == "cpu" and seen[1].job_id == job.id
    assert seen[3].rgb.shape == (8, 8, 3)


def test_a_fast_job_gets_the_librarys_loaded_network_and_no_styles(engine):
    class Library:
        def get(self, model_id: str) -> object:
            return ("network", model_id)

    scheduler = Scheduler(Limits(), "cpu", engine, library=Library(), speed=SpeedRecord("cpu"))
    try:
        job = make_job(model="starry")
        scheduler.submit(job)
        call = engine.next_call()
        call.finish()
        last_event(job, Finished)
        assert call.work.model == ("network", "starry") and call.work.styles == []
    finally:
        scheduler.close()
        scheduler.join(WAIT)


def test_a_fast_job_without_a_library_is_refused(scheduler, engine):
    job = make_job(model="starry")
    scheduler.submit(job)
    assert failure(job) == ("INVALID_ARGUMENT", NO_LIBRARY)


def calibration_work() -> Work:
    content = np.zeros((8, 8, 3), np.uint8)
    return Work(content, [content], None, StyleOptions(iterations=8))


def test_calibration_measures_a_new_server_warmed_up_first(scheduler, engine):
    engine.calibration_work = calibration_work()
    scheduler.request_calibration()
    engine.next_call().finish()  # warming up: 2 iterations, not recorded
    assert scheduler.speed.jobs("optimise") == 0
    engine.next_call().finish()
    job = make_job()  # queued behind the calibration: it has been recorded when this runs
    scheduler.submit(job)
    engine.next_call().finish()
    last_event(job, Finished)
    assert [call.work.options.iterations for call in engine.calls[:2]] == [2, 8]
    assert engine.calls[0].work.options.device == "cpu"
    assert scheduler.speed.jobs("optimise") == 2  # the calibration, then the job
    assert scheduler.speed.seconds("optimise", 500) == pytest.approx(1.0)
    scheduler.request_calibration()  # measured already: not again
    scheduler.submit(make_job())
    engine.next_call().finish()
    assert len(engine.calls) == 4


def test_calibration_gives_way_to_a_job_that_arrives(scheduler, engine):
    engine.calibration_work = calibration_work()
    scheduler.request_calibration()
    engine.next_call()  # the calibration runs; never finished: the job cancels it
    job = make_job()
    scheduler.submit(job)
    engine.next_call().finish()
    last_event(job, Finished)
    assert engine.calls[1].work.content.shape == (40, 48, 3)
    assert scheduler.speed.jobs("optimise") == 1  # the job's own measurement, alone


def test_an_engine_without_calibration_is_not_calibrated(scheduler, engine):
    scheduler.request_calibration()
    job = make_job()
    scheduler.submit(job)
    engine.next_call().finish()
    last_event(job, Finished)
    assert len(engine.calls) == 1


def test_the_estimate_comes_from_the_measured_speed_or_carries_the_refusal(scheduler, engine):
    options = StyleOptions(size=64)
    assert scheduler.estimate(64, 48, options, "") == Estimate(0.0, 0, 64, 48)
    job = make_job()
    scheduler.submit(job)
    engine.next_call().finish()  # measured: 1000 planned pixels in 2 s
    last_event(job, Finished)
    engine.plan_result = Plan(500, 64, 48)
    estimate = scheduler.estimate(64, 48, options, "")
    assert (estimate.seconds, estimate.measured_jobs) == (pytest.approx(1.0), 1)
    assert scheduler.estimate(64, 48, options, "starry").measured_jobs == 0  # fast: apart
    engine.plan_result = Plan(refused="too large: use a working size of 900 pixels", fits=900)
    refused = scheduler.estimate(64, 48, options, "")
    assert refused.refused.startswith("too large") and refused.fits == 900
    assert refused.seconds == 0
