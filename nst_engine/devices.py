"""Where the engine computes: the one place that turns a user's device choice into a torch
device, decides the precision each device runs VGG in, and reads its peak memory."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import sys

import torch

from .errors import InputError
from .options import check_device


def resolve_device(name: str | torch.device) -> torch.device:
    """The torch device for a user's choice: "auto" is a CUDA GPU (NVIDIA, or AMD through
    PyTorch's ROCm build, which calls itself "cuda"), else Apple's GPU (MPS), else the CPU."""
    if isinstance(name, torch.device):
        return name
    check_device(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda:0")
        return torch.device("mps" if mps_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(
            "device 'cuda' was asked for but no CUDA GPU is available; use --device cpu or auto"
        )
    if name == "mps" and not mps_available():
        raise InputError(
            "device 'mps' was asked for but MPS is not available (this Mac or PyTorch build "
            "has no Metal GPU); use --device cpu or auto"
        )
    return torch.device("cuda:0" if name == "cuda" else name)


def mps_available() -> bool:
    """Whether Apple's Metal GPU can run torch here (an Apple-silicon Mac, macOS 12.3 or
    later, a PyTorch built with MPS)."""
    return torch.backends.mps.is_available()


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model and the threads torch uses: what benchmark rows
    and the server's speed record name."""
    if device.type == "cuda":  # an AMD GPU's own name on ROCm
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
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

    Yes where the hardware computes bf16 natively: tensor cores on an NVIDIA GPU from
    Ampere on and AMD GPUs under ROCm (torch.cuda.is_bf16_supported's rule without
    emulation: older NVIDIA GPUs would emulate it), and on the CPU AVX-512 BF16 or AMX
    through oneDNN, where a forward and backward pass to relu4_1 at 512x512 took 0.70 s
    against 1.74 s in float32 (two Zen 4 cores). A CPU without it would emulate bf16,
    slower than float32, so it keeps float32.

    Apple's GPU (MPS) keeps float32: PyTorch's MPS autocast takes float16 and bfloat16, but
    MPS's bfloat16 depends on the macOS and PyTorch versions, and neither speed nor the
    result's quality in either has been measured on an Apple GPU for this engine
    (docs/platforms.md). Gram matrices, losses and the image itself stay float32
    everywhere. NST_CPU_BF16=0 keeps the CPU in float32.
    """
    if device.type == "cuda":
        return _cuda_has_native_bf16(device.index or 0)
    if device.type != "cpu" or os.environ.get("NST_CPU_BF16", "1") == "0":
        return False
    return _cpu_has_native_bf16()


@functools.cache
def _cuda_has_native_bf16(index: int) -> bool:
    """Asked once per GPU: `low_precision` runs several times per iteration."""
    if not torch.cuda.is_available():
        return False
    if torch.version.hip:  # PyTorch's own rule (torch.cuda.is_bf16_supported): every ROCm GPU
        return True
    return torch.cuda.get_device_properties(index).major >= 8  # Ampere on: bf16 tensor cores


@functools.cache
def _cpu_has_native_bf16() -> bool:
    """Asked once per process: `low_precision` runs several times per iteration."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast where `low_precision` says it pays; a no-op elsewhere (no torch.autocast
    at all there: a PyTorch without MPS autocast refuses even a disabled one for "mps")."""
    if not low_precision(device):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def full_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast turned off inside an autocast region, for sums that need float32. The engine
    turns autocast on only on CUDA and the CPU, so elsewhere there is nothing to turn off."""
    if device.type not in ("cuda", "cpu"):
        return contextlib.nullcontext()
    return torch.autocast(device.type, enabled=False)


def peak_memory_mb(device: torch.device) -> float:
    """The job's peak: CUDA's allocator on a CUDA GPU; on Apple's GPU what Metal holds for
    the process now, cached blocks included (MPS keeps no peak, and its allocator keeps
    freed blocks, so at the end of a job this is close to the job's high-water mark); the
    process's peak resident memory on the CPU (`process_peak_bytes`)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    if device.type == "mps":
        return torch.mps.driver_allocated_memory() / 2**20
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
