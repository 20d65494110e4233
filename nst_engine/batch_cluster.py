"""`nst batch --cluster ADDRESS`: the batch fanned out over a Ray cluster.

Imported only for `--cluster` (the `cluster` extra): the rest of the engine never loads Ray.
Each worker is a Ray actor holding one Painter (nst_engine.batch), so the model is loaded
once per worker and the style targets computed once; GPU workers take a GPU each, CPU
workers are single-threaded, one per core. The driver reads each input, keeps IN_FLIGHT
images queued on every worker (the next is there when one finishes), and writes each result
itself, as it arrives (the workers encode the files: the driver only writes bytes): writes
stay atomic and happen once. A worker that dies (its process
killed, its node lost) is replaced, and the images it held are given to the workers again.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import ray
from ray.exceptions import RayActorError

from .batch import (
    BatchItem,
    BatchPlan,
    BatchSpec,
    Outcome,
    Painter,
    encoded,
    write_outcomes,
)
from .errors import NSTError
from .images import read_file
from .shots import Shot, ShotJoiner

IN_FLIGHT = 2  # images queued on each worker
MAX_TRIES = 3  # an image whose worker died this often is reported, not given out again
# Logical CPUs a CPU worker reserves, at most: less than a whole one, so that the workers
# leave room to Ray's own tasks (on a 2-CPU cluster, actors of one CPU each starved a task
# that read inputs: docs/cluster.md), and never more than lets all of them fit.
WORKER_CPUS = 0.5

Job = TypeVar("Job")
Send = Callable[[Any, Any], Any]  # (worker, job) -> the ref of its result


class BatchWorker:
    """One worker of the batch: a Painter, built once, styling image after image."""

    def __init__(self, spec: BatchSpec, threads: int | None) -> None:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        self.painter = Painter(spec)
        self.busy = 0.0  # seconds spent styling, for the bench

    def pid(self) -> int:
        return os.getpid()

    def busy_seconds(self) -> float:
        return self.busy

    def paint(self, data: bytes, name: str, output: str) -> Outcome:
        """The output file's bytes (named `output`), or why it cannot be styled."""
        tic = time.perf_counter()
        try:
            return encoded(self.painter.paint(data, name), output)
        except NSTError as exc:
            return str(exc)
        finally:
            self.busy += time.perf_counter() - tic

    def paint_shot(
        self, frames: list[np.ndarray], mask: np.ndarray | None, temporal: bool
    ) -> list[np.ndarray] | str:
        """A shot's frames styled as one moving painting, or why they cannot be."""
        from .sequence import stylize_sequence

        spec, tic = self.painter.spec, time.perf_counter()
        try:
            results = stylize_sequence(
                frames, list(spec.styles) or None, mask=mask, options=spec.options,
                temporal=temporal, model=spec.model, workspace=self.painter.workspace,
            )  # fmt: skip
            return [result.image for result in results]
        except NSTError as exc:
            return str(exc)
        finally:
            self.busy += time.perf_counter() - tic


def connect(address: str) -> bool:
    """Join the cluster at `address` (`auto`: the running local one, else a new local
    instance); False when this process had joined one already (then it stays joined)."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=None if address == "auto" else address, logging_level=logging.ERROR)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise NSTError(f"cannot join the Ray cluster at {address}: {exc}") from None
    return True


def worker_layout(device: str, workers: int | None) -> tuple[int, dict[str, Any], int | None]:
    """(how many workers, each one's Ray resources, its torch threads): one per GPU of the
    cluster unless the job is on the CPU, else `workers` single-threaded CPU workers
    (default one per CPU)."""
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), resources.get("CPU", 1.0)
    if gpus and device not in ("cpu", "mps"):
        count = workers or gpus
        return count, {"num_gpus": min(1.0, gpus / count), "num_cpus": 0}, None
    count = workers or max(1, int(cpus))
    return count, {"num_cpus": min(WORKER_CPUS, cpus / count)}, 1


class WorkerPool:
    """The batch's workers on the cluster, started at once (each loads the model)."""

    def __init__(self, spec: BatchSpec, count: int, resources: dict, threads: int | None):
        self._make = (
            ray.remote(BatchWorker).options(scheduling_strategy="SPREAD", **resources).remote
        )
        self._spec, self._threads = ray.put(spec), threads
        self.actors = [self._make(self._spec, threads) for _ in range(count)]
        self.restarts = 0
        try:
            ray.get([actor.pid.remote() for actor in self.actors])
        except RayActorError as exc:
            raise NSTError(f"the batch's workers could not start: {exc}") from None

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)

    def _replace(self, actor) -> None:
        """A new worker in place of one that died (once, however many of its images fail)."""
        if actor in self.actors:
            self.actors[self.actors.index(actor)] = self._make(self._spec, self._threads)
            self.restarts += 1

    def outcomes(self, jobs: Iterable[Job], send: Send) -> Iterator[tuple[Job, Any]]:
        """Each job's outcome as it arrives, every job exactly once: `send(worker, job)`
        starts it on a worker (an NSTError it raises is the job's outcome, as its text)."""
        queue, tries = deque(jobs), Counter()
        running: dict[Any, tuple[Job, Any]] = {}  # result ref -> (job, its worker)
        while queue or running:
            yield from self._fill(queue, running, send)
            if not running:
                continue
            ready, _ = ray.wait(list(running), num_returns=1)
            job, actor = running.pop(ready[0])
            try:
                outcome = ray.get(ready[0])
            except RayActorError:
                self._replace(actor)
                tries[job] += 1
                if tries[job] < MAX_TRIES:
                    queue.appendleft(job)
                else:
                    yield job, f"{job}: its worker died {MAX_TRIES} times on it"
                continue
            yield job, outcome

    def _fill(self, queue: deque, running: dict, send: Send) -> Iterator[tuple[Job, str]]:
        """Give every worker jobs up to IN_FLIGHT; a job that cannot be sent fails here."""
        load = Counter(actor for _, actor in running.values())
        for actor in self.actors:
            while queue and load[actor] < IN_FLIGHT:
                job = queue.popleft()
                try:
                    running[send(actor, job)] = (job, actor)
                except NSTError as exc:
                    yield job, str(exc)
                    continue
                load[actor] += 1


def send_image(max_pixels: int) -> Send:
    """How a batch's image goes to a worker: the driver reads the file, the worker gets its
    bytes (the nodes need not share a file system)."""

    def send(actor, item: BatchItem):
        data, name = read_file(item.source, max_pixels)
        return actor.paint.remote(data, name, item.name)

    return send


@contextmanager
def cluster_pool(
    spec: BatchSpec, address: str, workers: int | None, jobs: int
) -> Iterator[WorkerPool]:
    """Workers for `jobs` jobs on the cluster at `address` (joined, and left after, when
    this process had not joined it), stopped when done."""
    started = connect(address)
    try:
        count, resources, threads = worker_layout(spec.options.device, workers)
        pool = WorkerPool(spec, min(count, max(1, jobs)), resources, threads)
        try:
            yield pool
        finally:
            pool.close()
    finally:
        if started:
            ray.shutdown()


def run_on_cluster(
    plan: BatchPlan,
    spec: BatchSpec,
    address: str,
    workers: int | None,
    report: Callable[[BatchItem, str | None], None],
) -> list[tuple[str, str]]:
    """The plan's images styled on the cluster at `address` and written here as they
    arrive; returns the failures (input, reason)."""
    with cluster_pool(spec, address, workers, len(plan.todo)) as pool:
        outcomes = pool.outcomes(plan.todo, send_image(spec.options.max_pixels))
        return write_outcomes(plan, outcomes, report)


def animate_on_cluster(
    frames: list[np.ndarray],
    shots: list[Shot],
    spec: BatchSpec,
    mask: np.ndarray | None,
    temporal: bool,
    cluster: tuple[str, int | None],
    write: Callable[[int, np.ndarray], None],
    written: Callable[[int], bool],
) -> None:
    """The shots of a frame sequence styled at once on the cluster (ADDRESS, workers) and
    joined (nst_engine.shots); `write(index, image)` gets each frame not `written` yet as
    soon as it is final. A shot that fails ends the animation (NSTError)."""
    todo = [s for s in shots if not all(written(i) for i in range(s.start, s.stop))]
    joiner = ShotJoiner(shots)
    with cluster_pool(spec, *cluster, len(todo)) as pool:
        mask_ref = ray.put(mask)

        def send(actor, shot: Shot):
            return actor.paint_shot.remote(frames[shot.start : shot.stop], mask_ref, temporal)

        for shot, outcome in pool.outcomes(todo, send):
            if isinstance(outcome, str):
                raise NSTError(f"{shot}: {outcome}")
            for index, image in joiner.add(shot, outcome):
                if not written(index):
                    write(index, image)
