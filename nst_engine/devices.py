"""Where the engine computes: the one place that turns a user's device choice into a torch
device, decides the precision each device runs VGG in, and reads its peak memory."""

from __future__ import annotations

import functools
import os
import platform
import sys

import torch

from .errors import InputError
from .options import check_device


def resolve_device(name: str | torch.device) -> torch.device:
    """The torch device for a user's choice: "auto" is the GPU when there is one."""
    if isinstance(name, torch.device):
        return name
    check_device(name)
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(
            "device 'cuda' was asked for but no CUDA GPU is available; use --device cpu or auto"
        )
    return torch.device("cuda:0" if name == "cuda" else name)


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model and the threads torch uses: what benchmark rows
    and the server's speed record name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{_cpu_model()} ({torch.get_num_threads()} threads)"


def _cpu_model() -> str:
    """The CPU as every OS names it without an OS-specific query: its architecture and the
    vector instructions torch's kernels use on it (what sets its speed), e.g. "x86_64 AVX512".
    The marketing name would need a different query on each OS."""
    machine = platform.machine() or "cpu"
    capability = torch.backends.cpu.get_cpu_capability()
    return machine if capability in ("", "DEFAULT") else f"{machine} {capability}"


def low_precision(device: torch.device) -> bool:
    """Whether VGG runs in bfloat16 (and channels-last) on this device.

    Yes where the hardware computes bf16 natively: tensor cores on CUDA, and on the CPU
    AVX-512 BF16 or AMX through oneDNN, where a forward and backward pass to relu4_1 at
    512x512 took 0.70 s against 1.74 s in float32 (two Zen 4 cores). A CPU without it would
    emulate bf16, slower than float32, so it keeps float32. Gram matrices, losses and the
    image itself stay float32 either way. NST_CPU_BF16=0 keeps the CPU in float32.
    """
    if device.type == "cuda":
        return True
    if device.type != "cpu" or os.environ.get("NST_CPU_BF16", "1") == "0":
        return False
    return _cpu_has_native_bf16()


@functools.cache
def _cpu_has_native_bf16() -> bool:
    """Asked once per process: `low_precision` runs several times per iteration."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast(device: torch.device):
    """bf16 autocast where `low_precision` says it pays; a no-op elsewhere."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=low_precision(device))


def peak_memory_mb(device: torch.device) -> float:
    """The job's peak: CUDA's allocator on a GPU, the process's peak resident memory on the
    CPU (`process_peak_bytes`)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return process_peak_bytes() / 2**20


def process_peak_bytes() -> int:
    """The most resident memory this process has held since it started, in bytes.

    No one call gives it on every OS. Windows keeps it as the peak working set (psutil's
    `peak_wset`); Linux and macOS keep it as getrusage's `ru_maxrss`, in KiB on Linux and in
    bytes on macOS. `resource` is imported here, not at the top, because Windows has none; a
    Python without it gets the resident size now, the best it can know. (psutil is imported
    here too: its Linux backend imports `resource`, and importing the engine must not need it.)
    """
    import psutil

    now = psutil.Process().memory_info()
    if hasattr(now, "peak_wset"):
        return int(now.peak_wset)
    try:
        import resource
    except ImportError:
        return int(now.rss)
    unit = 1 if sys.platform == "darwin" else 1024
    return max(int(now.rss), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit)
