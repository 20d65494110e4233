"""How much memory a job needs, and how much the device has: the plan is checked (and
changed, or refused with the size that fits) before the work starts.

The need grows with the working pixels: one forward and backward pass of VGG-19 to relu5_1
keeps every layer's activations for the gradient, and a level of the proposed method adds
its half-size copy. bfloat16 on a GPU keeps less. The per-pixel constants below were set
from measurements, with a margin: see docs/full-resolution.md.
"""

from __future__ import annotations

import torch

from .devices import low_precision

# Bytes a working pixel takes at the peak of an iteration, and what a job holds besides
# (the network's weights, the style targets, the images).
BYTES_PER_PIXEL = {"float32": 3800, "bfloat16": 2500}
FIXED_BYTES = 800 << 20
# Of what is free, the share a plan may count on (the rest is for everything else).
USABLE_SHARE = 0.8


def _bytes_per_pixel(device: torch.device) -> int:
    return BYTES_PER_PIXEL["bfloat16" if low_precision(device) else "float32"]


def needed_bytes(pixels: int, device: torch.device) -> int:
    """The peak memory of optimising an image of `pixels` pixels on `device`."""
    return FIXED_BYTES + pixels * _bytes_per_pixel(device)


def available_bytes(device: torch.device) -> int:
    """Free memory on the device: the GPU's free memory on CUDA, the free RAM on the CPU,
    and on Apple's GPU the smaller of the two limits of its unified memory (`mps_free_bytes`)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "mps":
        return mps_free_bytes()
    return free_ram_bytes()


def mps_free_bytes() -> int:
    """What a job on Apple's GPU can still take. Its memory is the machine's RAM (unified
    memory), so two limits hold: the RAM the OS has free, and Metal's recommended working
    set (the share of the RAM macOS lets the GPU use) less what Metal already holds for this
    process (the allocator's cached blocks included, which a job reuses: counting them as
    taken errs on the small side). The per-pixel figures are the CPU's float32 ones, which
    MPS also runs in; they are not measured on an Apple GPU (docs/platforms.md)."""
    ram = free_ram_bytes()
    try:
        working_set = torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory()
    except (AttributeError, RuntimeError):  # a PyTorch without these calls: the RAM alone
        return ram
    return max(0, min(ram, working_set))


def free_ram_bytes() -> int:
    """The RAM new allocations can have without swapping, as the OS counts it (psutil: Linux's
    MemAvailable, macOS's and Windows's available memory). Imported here: psutil's Linux
    backend imports `resource`, and importing the engine must not need it."""
    import psutil

    return int(psutil.virtual_memory().available)


def total_ram_bytes() -> int:
    """All of the machine's RAM (psutil), what an Apple GPU shares with the CPU."""
    import psutil

    return int(psutil.virtual_memory().total)


def usable_bytes(device: torch.device) -> int:
    return int(available_bytes(device) * USABLE_SHARE)


def largest_side(device: torch.device, aspect: float = 1.0, budget: int | None = None) -> int:
    """The long side of the largest image (of this aspect, long/short) that fits in `budget`
    bytes (default: what the device has to spare, usable_bytes)."""
    budget = usable_bytes(device) if budget is None else budget
    pixels = max(0, budget - FIXED_BYTES) / _bytes_per_pixel(device)
    return int((pixels * aspect) ** 0.5)


def gib(count: int) -> str:
    return f"{count / 2**30:.1f} GiB"


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether an exception says the device ran out of memory (CUDA's, or the CPU's)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError | MemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_cached(device: torch.device) -> None:
    """Give the allocator's cached blocks back, after an out-of-memory error."""
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()
