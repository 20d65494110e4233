"""The server's door to the engine: nst_engine behind the scheduler's Engine protocol.

WorkspaceEngine runs jobs with nst_engine.stylize (an animation's frames with
nst_engine.sequence.stylize_sequence) in one Workspace for the server's life (its
device's extractors and style targets are reused from job to job), plans them for the time
estimate, and maps what the engine raises to a job's status in one place (job_error). The
style files' checks (check_style, decode_style) are here too: the wire layer refuses a bomb
by its header before the job is queued, the worker decodes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import nst_engine
from nst_engine import gallery
from nst_engine.api import plan_job
from nst_engine.errors import Cancelled, InputError, NSTError, TooLarge
from nst_engine.flow import require as require_flow
from nst_engine.images import load_image, read_header
from nst_engine.memory import free_cached, is_out_of_memory
from nst_engine.options import MIN_SIDE, Progress, StyleOptions
from nst_engine.sequence import stylize_sequence
from nst_engine.workspace import Workspace

from .jobs import Job, JobError, Plan, Work, invalid


class WorkspaceEngine:
    """The real engine (implements jobs.Engine) on one device."""

    def __init__(self, device: str) -> None:
        self.workspace = Workspace(device)

    def __call__(
        self, work: Work, progress: Callable[[Progress], None], cancel: Callable[[], bool]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        result = nst_engine.stylize(
            work.content,
            work.styles if work.model is None else None,
            mask=work.mask,
            options=work.options,
            progress=progress,
            cancel=cancel,
            model=work.model,
            workspace=self.workspace,
        )
        return result.image, result.stats

    def sequence(
        self,
        work: Work,
        progress: Callable[[int, Progress], None],
        cancel: Callable[[], bool],
    ) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        if work.temporal:
            require_flow()  # before any frame is painted
        results = stylize_sequence(
            work.frames,
            work.styles if work.model is None else None,
            mask=work.mask,
            options=work.options,
            temporal=work.temporal,
            progress=progress,
            cancel=cancel,
            model=work.model,
            workspace=self.workspace,
        )
        return ((result.image, result.stats) for result in results)

    def check_style(self, data: bytes, index: int, max_pixels: int) -> None:
        check_style(data, index, max_pixels)

    def decode_style(self, data: bytes, index: int, max_pixels: int) -> np.ndarray:
        return decode_style(data, index, max_pixels)

    def plan(self, height: int, width: int, options: StyleOptions, fast: bool) -> Plan:
        """The engine's own plan (nst_engine.api.plan_job), the one a job would run."""
        try:
            job = plan_job(
                (height, width), options=options, device=self.workspace.device, fast=fast
            )
        except TooLarge as exc:
            return Plan(refused=str(exc), fits=exc.fits)
        except InputError as exc:
            return Plan(refused=str(exc))
        work_height, work_width = job.work
        later = 1.0  # a trained network's frame costs one pass, later or not
        if not fast:  # a later frame of an animation runs a share of the iterations
            later_job = plan_job(
                (height, width), options=options, device=self.workspace.device, later_frame=True
            )
            later = later_job.plan.pixels / job.plan.pixels
        return Plan(job.plan.pixels, work_width, work_height, later_frame=later)

    def calibration(self) -> Work:
        """Two gallery paintings at 384 pixels, a few iterations (seconds on a 2-core CPU)."""
        content = load_image(gallery.find("ia-orana-maria").read_bytes())
        style = load_image(gallery.find("starry-night").read_bytes())
        return Work(content, [style], None, StyleOptions(size=384, quality="draft", iterations=8))

    def warm_up(self) -> None:
        """Load the default extractor now, so the first job does not pay for it."""
        self.workspace.extractor("vgg19", StyleOptions().pooling)

    def free_memory(self) -> None:
        try:
            free_cached(self.workspace.device)
        except Exception:  # noqa: BLE001 - freeing is best effort
            pass

    def job_error(self, exc: Exception, job: Job) -> JobError:
        return job_error(exc, job)


def job_error(exc: Exception, job: Job) -> JobError:
    """The status an engine (or style library) exception ends the job with."""
    if isinstance(exc, Cancelled):
        return JobError("CANCELLED", f"the job was {job.cancel_reason}")
    if isinstance(exc, InputError):
        return invalid(str(exc))
    if is_out_of_memory(exc):
        size = job.options.size or max(job.content.shape[:2])
        return JobError(
            "RESOURCE_EXHAUSTED",
            f"the device ran out of memory styling at {size} pixels on the long side; lower "
            f"the working size (e.g. size {max(MIN_SIDE, int(size) // 2)}) or the quality and "
            "try again",
        )
    if isinstance(exc, NSTError):
        return JobError("FAILED_PRECONDITION", str(exc))
    return JobError("INTERNAL", f"internal error: {type(exc).__name__}: {exc}")


def style_error(exc: Exception, index: int) -> JobError:
    if isinstance(exc, NSTError):  # its message names the style already
        return invalid(str(exc))
    return invalid(f"style image {index + 1}: cannot decode it ({type(exc).__name__}: {exc})")


def check_style(data: bytes, index: int, max_pixels: int) -> None:
    """The style file's header, against the limit, when its upload is complete: a bomb is
    refused before the job is queued, and nothing of it is decoded."""
    try:
        read_header(data, f"style image {index + 1}", max_pixels)
    except Exception as exc:  # noqa: BLE001 - hostile bytes raise anything
        raise style_error(exc, index) from None


def decode_style(data: bytes, index: int, max_pixels: int) -> np.ndarray:
    """Encoded image bytes -> array, every failure as INVALID_ARGUMENT."""
    try:
        return load_image(data, max_pixels, name=f"style image {index + 1}")
    except Exception as exc:  # noqa: BLE001 - decoders raise anything on hostile bytes
        raise style_error(exc, index) from None
