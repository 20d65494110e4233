"""Throughput of `nst batch --cluster` with 1 and with 2 single-threaded workers, its fixed
overheads, and a projection for N workers (GPUs) from them (docs/benchmarks.md, "Batches on
a Ray cluster").

    OMP_WAIT_POLICY=PASSIVE python scripts/bench_batch.py --images 8 --size 192 --iterations 30

It runs the command's own code (nst_engine.batch_cluster's WorkerPool, the driver's
write_outcomes) on a local Ray cluster of --cpus CPUs; the images are the example
photographs cut to --size pixels (flipped for more). Measure on a quiet machine: the two
workers share its cores with everything else.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from nst_engine import batch, batch_cluster
from nst_engine.arrays import resized
from nst_engine.images import load_image, read_file, save_image
from nst_engine.options import StyleOptions
from nst_engine.prepared import read_style

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PHOTOS = ("astronaut.jpg", "chelsea.png", "coffee.jpg", "rocket.jpg", "shipwreck.jpg")


def make_photos(folder: Path, count: int, size: int) -> None:
    """`count` photographs of `size` pixels on the long side (every 5th flips the last)."""
    for index in range(count):
        image = resized(load_image(EXAMPLES / PHOTOS[index % len(PHOTOS)]), size)
        for _ in range(index // len(PHOTOS)):
            image = np.ascontiguousarray(image[:, ::-1])
        save_image(folder / f"{index:03d}.png", image)


def timed_batch(spec: batch.BatchSpec, folder: Path, workers: int) -> dict[str, float]:
    """Start `workers` workers, style the folder with them; seconds of each part."""
    out = Path(tempfile.mkdtemp(prefix=f"bench-{workers}-"))
    plan = batch.plan_batch([folder], out, spec.options.max_pixels)
    count, resources, threads = batch_cluster.worker_layout("cpu", workers)
    tic = time.perf_counter()
    pool = batch_cluster.WorkerPool(spec, count, resources, threads)
    started = time.perf_counter() - tic
    try:
        # One image per worker first, so that the workers' first-call costs are not counted
        # as the batch's throughput (they are the start, reported apart).
        warm = [
            actor.paint.remote(read_file(plan.todo[0].source)[0], "warm", "warm.png")
            for actor in pool.actors
        ]
        batch_cluster.ray.get(warm)
        warmed = time.perf_counter() - tic - started
        busy_before = sum(batch_cluster.ray.get([a.busy_seconds.remote() for a in pool.actors]))
        tic = time.perf_counter()
        send = batch_cluster.send_image(spec.options.max_pixels)
        failed = batch.write_outcomes(plan, pool.outcomes(plan.todo, send), lambda *_: None)
        seconds = time.perf_counter() - tic
        busy = sum(batch_cluster.ray.get([a.busy_seconds.remote() for a in pool.actors]))
    finally:
        pool.close()
    assert not failed, failed
    return {
        "start": started,
        "first": warmed,
        "batch": seconds,
        "images": len(plan.todo),
        "busy": busy - busy_before,  # the workers' seconds styling, all together
    }


def driver_seconds(folder: Path) -> float:
    """What the driver spends on one image: reading the input and writing the output file
    the worker encoded (the input's bytes stand in for it: the same size)."""
    files = sorted(folder.iterdir())
    out = Path(tempfile.mkdtemp(prefix="bench-driver-"))
    tic = time.perf_counter()
    for path in files:
        data, _ = read_file(path)
        batch.save_output(out / path.name, data)
    return (time.perf_counter() - tic) / len(files)


def local_seconds(spec: batch.BatchSpec, folder: Path) -> float:
    """Seconds an image takes styled in this process, single-threaded, after a first one:
    the painting alone, without Ray."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        files = sorted(folder.iterdir())
        items = [batch.BatchItem(path, path.name) for path in files]
        next(batch.paint_here(items[:1], spec))  # the first call's costs, as for a worker
        tic = time.perf_counter()
        for _ in batch.paint_here(items, spec):
            pass
        return (time.perf_counter() - tic) / len(items)
    finally:
        torch.set_num_threads(threads)


def _convolutions(_: int) -> float:
    """Seconds of a fixed, single-threaded run of VGG-sized convolutions."""
    import torch

    torch.set_num_threads(1)
    x, w = torch.randn(4, 64, 96, 96), torch.randn(64, 64, 3, 3)
    tic = time.perf_counter()
    for _ in range(6):
        torch.nn.functional.conv2d(x, w, padding=1)
    return time.perf_counter() - tic


def machine_scaling() -> float:
    """The machine's own ceiling, without Ray: how much faster two single-threaded torch
    processes get a fixed amount of work done than one (2.0 on two free cores)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_convolutions, [0, 1], chunksize=1)  # imports and first calls
        tic = time.perf_counter()
        pool.map(_convolutions, [0, 0], chunksize=2)  # both runs in one process, in turn
        one = time.perf_counter() - tic
        tic = time.perf_counter()
        pool.map(_convolutions, [0, 1], chunksize=1)  # one run in each process
        return one / (time.perf_counter() - tic)


def report(runs: dict[int, dict], ray_start: float, here: float, driver: float, args) -> str:
    one, two = runs[1], runs[2]
    # What Ray adds to each image on a worker kept busy: its time not spent styling.
    overhead = (one["batch"] - one["busy"]) / one["images"]
    speedup = one["batch"] / two["batch"]
    lines = [
        f"{args.images} images of {args.size} px, {args.iterations} iterations, "
        f"single-threaded CPU workers, Ray cluster of {args.cpus} CPUs",
        f"ray.init: {ray_start:.1f} s",
        "| workers | start (s) | first image (s) | batch (s) | images/s | s/image | "
        "styling s/image in a worker | workers busy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for workers, run in runs.items():
        rate = run["images"] / run["batch"]
        lines.append(
            f"| {workers} | {run['start']:.1f} | {run['first']:.1f} | {run['batch']:.1f} | "
            f"{rate:.2f} | {run['batch'] / run['images']:.2f} | "
            f"{run['busy'] / run['images']:.2f} | {run['busy'] / (workers * run['batch']):.0%} |"
        )
    target = "met" if speedup >= 1.7 else "NOT met"
    lines += [
        f"2 workers / 1 worker: {speedup:.2f}x (target 1.7x: {target}); the machine's own "
        f"ceiling, two torch processes without Ray against one: {args.ceiling:.2f}x",
        f"an image styled in this process, single-threaded, no Ray: {here:.3f} s; "
        f"what the cluster path adds to each (1 worker: batch less styling): "
        f"{overhead * 1000:.0f} ms",
        f"the driver's own work per image (read, write, rename): {driver * 1000:.1f} ms",
        "",
        "Projection, N workers (one per GPU) on a batch of B images: t = seconds an image",
        "takes on one device, o = what the cluster path adds to each, d = the driver's",
        "serial work per image, s = the start (ray.init, workers, their first image):",
        "  time(B) = s + B * max((t + o) / N, d)",
    ]
    start = ray_start + one["start"] + one["first"]
    t = args.gpu_seconds if args.gpu_seconds is not None else one["busy"] / one["images"]
    source = "given (--gpu-seconds)" if args.gpu_seconds is not None else "1 CPU worker here"
    lines.append(f"With t = {t:.3f} s ({source}), o = {overhead:.3f} s, d = {driver:.4f} s:")
    for n in (1, 2, 4, 8, 16):
        rate = 1 / max((t + overhead) / n, driver)
        lines.append(
            f"  N = {n:>2}: {rate:.2f} images/s, 1000 images in {start + 1000 / rate:.0f} s"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--cpus", type=int, default=2, help="the local Ray cluster's CPUs")
    parser.add_argument(
        "--gpu-seconds",
        type=float,
        help="seconds an image takes on one GPU, for the projection (default: the CPU's here)",
    )
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    folder = Path(tempfile.mkdtemp(prefix="bench-photos-"))
    make_photos(folder, args.images, args.size)
    options = StyleOptions(iterations=args.iterations, device="cpu")
    spec = batch.BatchSpec((read_style("starry-night").image,), options)
    args.ceiling = machine_scaling()
    driver = driver_seconds(folder)
    here = local_seconds(spec, folder)
    tic = time.perf_counter()
    batch_cluster.ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="ERROR")
    ray_start = time.perf_counter() - tic
    try:
        runs = {workers: timed_batch(spec, folder, workers) for workers in (1, 2)}
    finally:
        batch_cluster.ray.shutdown()
    print(report(runs, ray_start, here, driver, args))


if __name__ == "__main__":
    main()
