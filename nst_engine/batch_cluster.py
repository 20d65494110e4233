"""`nst batch --cluster ADDRESS`: the batch fanned out over a Ray cluster.

Imported only for `--cluster` (the `cluster` extra): the rest of the engine never loads Ray.
Each worker is a Ray actor holding one Painter (nst_engine.batch), so the model is loaded
once per worker and the style targets computed once; GPU workers take a GPU each, CPU
workers are single-threaded, one per core. The driver reads each input, keeps IN_FLIGHT
images queued on every worker (the next is there when one finishes), and writes each result
itself, as it arrives: writes stay atomic and happen once. A worker that dies (its process
killed, its node lost) is replaced, and the images it held are given to the workers again.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import ray
from ray.exceptions import RayActorError

from .batch import BatchItem, BatchPlan, BatchSpec, Outcome, Painter, write_outcomes
from .errors import NSTError
from .images import read_file

IN_FLIGHT = 2  # images queued on each worker
MAX_TRIES = 3  # an image whose worker died this often is reported, not given out again
# Logical CPUs a CPU worker reserves, at most: less than a whole one, so that the workers
# leave room to Ray's own tasks (on a 2-CPU cluster, actors of one CPU each starved a task
# that read inputs: ../docs/cluster.md), and never more than lets all of them fit.
WORKER_CPUS = 0.5


class BatchWorker:
    """One worker of the batch: a Painter, built once, styling image after image."""

    def __init__(self, spec: BatchSpec, threads: int | None) -> None:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        self.painter = Painter(spec)

    def pid(self) -> int:
        return os.getpid()

    def paint(self, data: bytes, name: str) -> Outcome:
        """The styled image, or the one-line reason it cannot be styled."""
        try:
            return self.painter.paint(data, name)
        except NSTError as exc:
            return str(exc)


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

    def outcomes(
        self, items: Iterable[BatchItem], max_pixels: int
    ) -> Iterator[tuple[BatchItem, Outcome]]:
        """Each item's outcome as it arrives, every item exactly once."""
        queue, tries = deque(items), Counter()
        running: dict[Any, tuple[BatchItem, Any]] = {}  # result ref -> (item, its worker)
        while queue or running:
            yield from self._submit(queue, running, max_pixels)
            if not running:
                continue
            ready, _ = ray.wait(list(running), num_returns=1)
            item, actor = running.pop(ready[0])
            try:
                outcome = ray.get(ready[0])
            except RayActorError:
                self._replace(actor)
                tries[item] += 1
                if tries[item] < MAX_TRIES:
                    queue.appendleft(item)
                else:
                    yield item, f"{item.source}: its worker died {MAX_TRIES} times on it"
                continue
            yield item, outcome

    def _submit(self, queue: deque, running: dict, max_pixels: int) -> Iterator:
        """Fill every worker up to IN_FLIGHT images; inputs that cannot be read fail here."""
        load = Counter(actor for _, actor in running.values())
        for actor in self.actors:
            while queue and load[actor] < IN_FLIGHT:
                item = queue.popleft()
                try:
                    data, name = read_file(item.source, max_pixels)
                except NSTError as exc:
                    yield item, str(exc)
                    continue
                running[actor.paint.remote(data, name)] = (item, actor)
                load[actor] += 1


def run_on_cluster(
    plan: BatchPlan,
    spec: BatchSpec,
    address: str,
    workers: int | None,
    report: Callable[[BatchItem, str | None], None],
) -> list[tuple[str, str]]:
    """The plan's images styled on the cluster at `address` and written here as they
    arrive; returns the failures (input, reason)."""
    started = connect(address)
    try:
        count, resources, threads = worker_layout(spec.options.device, workers)
        pool = WorkerPool(spec, min(count, max(1, len(plan.todo))), resources, threads)
        try:
            outcomes = pool.outcomes(plan.todo, spec.options.max_pixels)
            return write_outcomes(plan, outcomes, report)
        finally:
            pool.close()
    finally:
        if started:
            ray.shutdown()
