#!/usr/bin/env python3
"""Hostile input against the installed `nst` and `nst-server`: what each costs before it is
refused, and what the user reads.

    python scripts/hostile_inputs.py [--cap-gb 6] [--out DIR]

Each case runs as a user or an attacker would: the CLI in a process of its own (under an
address-space cap of --cap-gb, so a bomb cannot take the machine down), the server as
`nst-server serve` with raw gRPC calls. Printed per case: the outcome (exit status or gRPC
status, and the first line a person reads), the time to the refusal, and the peak memory
above idle (the CLI: its peak RSS above that of `nst --version`, which imports the same;
the server: its peak RSS during the call above its RSS before, and what it kept after).
It uses only what both the old and the new code have, so the same command measures both.

The bombs are real files: a 2.3 MB 16-bit PNG that declares 20000x20000, a 144-megapixel
8-bit PNG, a 9000x9000 16-bit style. tests/test_hostile_inputs.py runs the same cases with
few-KB files that only declare their size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONTENT = REPO / "examples" / "chelsea.png"
STYLE = REPO / "examples" / "starry_night.jpg"

PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # samples per pixel -> PNG colour type


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int, depth: int = 8, samples: int = 3, rows: int | None = None):
    """A PNG that declares width x height; its image data holds `rows` black rows (all of
    them when None: a real, valid file), compressed as far as zlib goes."""
    header = struct.pack(">IIBBBBB", width, height, depth, PNG_COLOUR_TYPES[samples], 0, 0, 0)
    row = b"\0" * (1 + width * samples * depth // 8)  # filter byte, then the samples
    packer = zlib.compressobj(9)
    parts = []
    block = row * max(1, (1 << 24) // len(row))
    left = height if rows is None else rows
    while left > 0:
        take = min(left, len(block) // len(row))
        parts.append(packer.compress(block[: take * len(row)]))
        left -= take
    parts.append(packer.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _text(file) -> str:
    file.seek(0)
    return file.read().decode(errors="replace")


def run_cli(args: list[str], cap_gb: float) -> dict:
    """`nst ARGS` in a process of its own: exit status, first error line, seconds, peak MB."""

    def cap() -> None:
        limit = int(cap_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    started = time.perf_counter()
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nst_engine.cli", *args],
            stdout=out_file,
            stderr=err_file,
            preexec_fn=cap,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not all children's
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out_file.seek(0)
        err_file.seek(0)
        out, err = (
            out_file.read().decode(errors="replace"),
            err_file.read().decode(errors="replace"),
        )
    peak = usage.ru_maxrss / 1024
    lines = [line for line in err.splitlines() if line.strip()]
    first = next((line for line in lines if "error" in line or "warning" in line), "")
    if "Traceback" in err:  # what a traceback ends with is what the person reads
        first = lines[-1]
    return {
        "status": f"exit {proc.returncode}",
        "says": first or (out.strip().splitlines() or [""])[-1],
        "stderr_lines": len(lines),
        "traceback": "Traceback" in err,
        "seconds": round(seconds, 2),
        "peak_mb": round(peak),
    }


def cli_cases(folder: Path, cap_gb: float) -> list[tuple[str, dict]]:
    from PIL import Image

    bomb16 = folder / "bomb16.png"
    bomb16.write_bytes(png_bomb(20000, 20000, depth=16, samples=3))
    bomb8 = folder / "bomb8.png"
    bomb8.write_bytes(png_bomb(60000, 60000, rows=64))
    big8 = folder / "big144mp.png"
    big8.write_bytes(png_bomb(12000, 12000))
    text = folder / "notes.png"
    text.write_text("not an image at all\n")
    rgba = folder / "rgba.png"
    Image.open(CONTENT).convert("RGBA").resize((96, 64)).save(rgba)
    quick = ["--iterations", "2", "--size", "64"]
    cases = [
        ("idle: nst --version", ["--version"]),
        (f"16-bit PNG bomb, 20000x20000 ({bomb16.stat().st_size / 1e6:.1f} MB)",
         ["stylize", str(bomb16), str(STYLE), "-o", str(folder / "o.png")]),
        (f"8-bit PNG bomb, 60000x60000 ({bomb8.stat().st_size / 1e3:.0f} KB)",
         ["stylize", str(bomb8), str(STYLE), "-o", str(folder / "o.png")]),
        (f"144 MP 8-bit PNG with --size 512 ({big8.stat().st_size / 1e3:.0f} KB)",
         ["stylize", str(big8), str(STYLE), "-o", str(folder / "o.png"), "--size", "512"]),
        ("16-bit bomb as the style",
         ["stylize", str(CONTENT), str(bomb16), "-o", str(folder / "o.png")]),
        ("unwritable output -o /proc/a.png",
         ["stylize", str(CONTENT), str(STYLE), "-o", "/proc/a.png", *quick]),
        ("RGBA content written as JPEG",
         ["stylize", str(rgba), str(STYLE), "-o", str(folder / "o.jpg"), *quick]),
        ("a text file as the content",
         ["stylize", str(text), str(STYLE), "-o", str(folder / "o.png")]),
        ("neither a style nor --model",
         ["stylize", str(CONTENT), "-o", str(folder / "o.png")]),
    ]  # fmt: skip
    return [(name, run_cli(args, cap_gb)) for name, args in cases]


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def server_cases(folder: Path) -> list[tuple[str, dict]]:
    import grpc
    from nst_proto import style_pb2 as pb

    address = f"127.0.0.1:{_free_port()}"
    log = folder / "server.log"
    env = {**os.environ, "NST_MODELS": str(folder / "models")}
    with log.open("w") as fh:
        server = subprocess.Popen(
            [sys.executable, "-m", "nst_server", "serve", "--address", address],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
    channel = grpc.insecure_channel(address)
    stylize = channel.stream_stream(
        "/nst.v1.StyleService/Stylize",
        request_serializer=pb.StylizeRequest.SerializeToString,
        response_deserializer=pb.StylizeEvent.FromString,
    )
    raw_stylize = channel.stream_stream("/nst.v1.StyleService/Stylize")
    raw_info = channel.unary_unary("/nst.v1.StyleService/GetInfo")
    grpc.channel_ready_future(channel).result(timeout=120)
    for _ in range(600):  # until the model is loaded and it answers
        try:
            raw_info(b"", timeout=5)
            break
        except grpc.RpcError:
            time.sleep(0.2)

    def job(style: bytes, iterations: int = 2) -> list:
        content = bytes(64 * 48 * 3)
        spec = pb.JobSpec(
            width=64, height=48, channels=3, sample_type=pb.SAMPLE_TYPE_U8,
            styles=[pb.StyleSpec(weight=1, byte_size=len(style))],
            options=pb.Options(iterations=iterations),
        )  # fmt: skip
        messages = [pb.StylizeRequest(spec=spec)]
        messages.append(pb.StylizeRequest(chunk=pb.Chunk(stream=pb.STREAM_CONTENT, data=content)))
        for offset in range(0, len(style), 1 << 20):
            messages.append(
                pb.StylizeRequest(
                    chunk=pb.Chunk(
                        stream=pb.STREAM_STYLE,
                        offset=offset,
                        data=style[offset : offset + (1 << 20)],
                    )
                )
            )
        messages.append(pb.StylizeRequest(submit=pb.Submit()))
        return messages

    def call(name: str, send) -> tuple[str, dict]:
        before = _rss_mb(server.pid)
        exact = _reset_peak(server.pid)
        log_before = log.stat().st_size
        started = time.perf_counter()
        try:
            send()
            status, says = "OK", ""
        except grpc.RpcError as exc:
            status, says = exc.code().name, (exc.details() or "").splitlines()[0][:160]
        seconds = time.perf_counter() - started
        time.sleep(0.5)
        peak = _rss_mb(server.pid, "VmHWM") if exact else float("nan")
        added = log.read_text(errors="replace")[log_before:]
        return name, {
            "status": status,
            "says": says,
            "seconds": round(seconds, 2),
            "peak_above_mb": round(peak - before),
            "kept_mb": round(_rss_mb(server.pid) - before),
            "log_lines": len(added.splitlines()),
            "traceback": "Traceback" in added,
        }

    style16 = png_bomb(9000, 9000, depth=16, samples=3)
    bomb8 = png_bomb(60000, 60000, rows=64)
    valid = STYLE.read_bytes()
    try:
        results = [
            call(f"16-bit 9000x9000 style over gRPC ({len(style16) / 1e3:.0f} KB)",
                 lambda: list(stylize(iter(job(style16)), timeout=600))),
            call(f"8-bit 60000x60000 style over gRPC ({len(bomb8) / 1e3:.0f} KB)",
                 lambda: list(stylize(iter(job(bomb8)), timeout=600))),
            call("garbage bytes to Stylize",
                 lambda: list(raw_stylize(iter([b"\xff\xfe garbage", b"\x08" * 10]), timeout=30))),
            call("garbage bytes to GetInfo", lambda: raw_info(b"\x12\x34", timeout=30)),
            call("the next valid job", lambda: list(stylize(iter(job(valid)), timeout=600))),
        ]  # fmt: skip
    finally:
        channel.close()
        server.terminate()
        server.wait(60)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cap-gb", type=float, default=6.0)
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cli = cli_cases(folder, args.cap_gb)
        idle = cli[0][1]["peak_mb"]
        server = server_cases(folder)
    print("| case (nst) | outcome | says | time | peak above idle |")
    print("| --- | --- | --- | --- | --- |")
    for name, r in cli[1:]:
        extra = ", traceback" if r["traceback"] else ""
        print(
            f"| {name} | {r['status']}{extra}, {r['stderr_lines']} line(s) | {r['says'][:110]} "
            f"| {r['seconds']} s | {r['peak_mb'] - idle} MB |"
        )
    print(f"\n(idle: `nst --version` peaks at {idle} MB)\n")
    print("| case (nst-server) | status | says | time | peak above before | kept | log |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in server:
        log_note = f"{r['log_lines']} line(s){', traceback' if r['traceback'] else ''}"
        print(
            f"| {name} | {r['status']} | {r['says'][:110]} | {r['seconds']} s | "
            f"{r['peak_above_mb']} MB | {r['kept_mb']} MB | {log_note} |"
        )
    if args.out:
        args.out.write_text(json.dumps({"cli": cli, "server": server}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
