#!/usr/bin/env python3
"""The plug-in's wire traffic on both clients: grpcio (nst_proto.client) against grpclib
(nst_proto.pure_client, the GIMP plug-in's transport).

    python scripts/bench_transport.py [--width 6000 --height 4000 --channels 4 --sample u16]
                                      [--events 200] [--repeats 3]

A real nst-server (its gRPC service, queue and upload checks) runs in its own process with an
echo engine in place of the style transfer: it streams `--events` progress events over about
a second and returns the content. Each client runs in a process of its own, as the plug-in
does, sends the layer (a 24-megapixel 16-bit RGBA layer by default: 192 MB) and a style, and
receives the same number of bytes back. Printed per client: the upload (until the server
queued the job), the download (from the Finished event to the last byte), the whole call,
the progress events received, and the client's peak memory above its idle size and the
layer it sends (which the plug-in holds anyway).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENGINE_SECONDS = 1.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def serve(address: str, events: int) -> None:
    """The real server with an echo engine that reports `events` progress steps."""
    from nst_server.app import StyleServer, serve_forever

    from nst_engine.options import Progress

    def echo(content, styles, mask, options, progress, cancel):
        started = time.perf_counter()
        for step in range(1, events + 1):
            time.sleep(ENGINE_SECONDS / events)
            progress(Progress(0, 1, step - 1, events, {"total": 1.0}, 0.0, step, events))
        return content, {"device": "echo", "seconds_total": time.perf_counter() - started}

    serve_forever(StyleServer(address, device="cpu", engine=echo, warm=False))


def client(kind: str, address: str, width: int, height: int, channels: int, sample: str) -> dict:
    """One job through one client; returns its figures."""
    import numpy as np

    if kind == "grpclib":  # as in GIMP: the pure-Python protobuf and multidict
        os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"
        os.environ["MULTIDICT_NO_EXTENSIONS"] = "1"
        from nst_proto.pure_client import StyleClient
    else:
        from nst_proto.client import StyleClient
    from nst_proto.job import SAMPLE_BYTES, JobRequest

    style = (REPO / "examples" / "starry_night.jpg").read_bytes()
    size = width * height * channels * SAMPLE_BYTES[sample]
    idle = _peak_rss_mb()
    pixels = memoryview(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8))
    marks: dict[str, float] = {}
    progress = 0

    def on_event(event) -> None:
        nonlocal progress
        marks.setdefault(event.kind, time.perf_counter())
        progress += event.kind == "progress"

    with StyleClient(address, 600) as c:
        started = time.perf_counter()
        result = c.stylize(
            JobRequest(pixels, width, height, channels, sample, styles=[(style, 1.0)]),
            on_event=on_event,
        )
        ended = time.perf_counter()
    assert result.pixels == pixels, "the echo came back different"
    return {
        "client": kind,
        "megabytes_each_way": round(size / 1e6, 1),
        "upload_s": round(marks["queued"] - started, 2),
        "download_s": round(ended - marks["finished"], 2),
        "call_s": round(ended - started, 2),
        "call_minus_engine_s": round(ended - started - ENGINE_SECONDS, 2),
        "progress_events": progress,
        # beyond the layer the caller holds anyway
        "peak_mb_above_idle": round(_peak_rss_mb() - idle - size / 2**20),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4000)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--sample", choices=("u8", "u16", "f32"), default="u16")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--serve", metavar="ADDRESS", help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=("grpcio", "grpclib"), help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.events)
        return 0
    if args.client:
        figures = client(
            args.client, args.address, args.width, args.height, args.channels, args.sample
        )
        print(json.dumps(figures))
        return 0

    address = f"127.0.0.1:{_free_port()}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", address, "--events", str(args.events)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        from nst_proto.client import StyleClient

        StyleClient(address).wait_ready(60)
        rows = []
        for _ in range(args.repeats):
            for kind in ("grpcio", "grpclib"):
                out = subprocess.run(
                    [sys.executable, __file__, "--client", kind, "--address", address]
                    + ["--width", str(args.width), "--height", str(args.height)]
                    + ["--channels", str(args.channels), "--sample", args.sample],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                rows.append(json.loads(out.stdout))
                print(out.stdout.strip(), flush=True)
    finally:
        server.terminate()
        server.wait(60)
    print(
        f"\n{args.width}x{args.height}x{args.channels} {args.sample}, {args.events} progress "
        f"events, best of {args.repeats} (engine time {ENGINE_SECONDS:g} s not counted)"
    )
    print("| client | MB each way | upload | download | call minus engine | peak MB beyond layer |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind in ("grpcio", "grpclib"):
        mine = [r for r in rows if r["client"] == kind]
        best = min(mine, key=lambda r: r["call_s"])
        print(
            f"| {kind} | {best['megabytes_each_way']} | {best['upload_s']} s | "
            f"{best['download_s']} s | {best['call_minus_engine_s']} s | "
            f"{max(r['peak_mb_above_idle'] for r in mine)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
