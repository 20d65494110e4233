"""Many photographs styled alike (`nst batch`): the plan, the painter and the writer.

The plan is made before any work: every input's header is read and checked (its size
against the pixel limit, the mask's size), names that would collide or overwrite an input
are refused, and outputs already written are skipped, so bad inputs are reported up front
and running the same command again resumes. A `Painter` holds one workspace (the feature
extractor loaded once, the style targets computed once) and styles one image after another:
here (`paint_here`) or in each worker of a Ray cluster (nst_engine.batch_cluster, imported
only for `--cluster`), and encodes the output file there. Whoever paints, the driver writes
each result as it arrives, under the input's file name, atomically (`write_outcomes`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .arrays import resized
from .errors import InputError, NSTError
from .images import OUTPUT_TYPES, read_file, read_header, save_image, written_whole
from .options import Progress, StyleOptions
from .prepared import sized_mask

if TYPE_CHECKING:
    from .fast import FastStyleModel

# Files a folder INPUT contributes (by suffix; hidden files never): what this program reads.
IMAGE_SUFFIXES = (*OUTPUT_TYPES, ".gif")
# What read_header is given first: enough for the header of nearly every file; a file
# whose header lies further in (a TIFF with its directory at the end) is read whole.
HEADER_BYTES = 256 * 1024
# Where an input of a type this program cannot write goes: a PNG of the same stem.
FALLBACK_SUFFIX = ".png"

# What styling one image gave: its output file's bytes, or the one-line reason it failed.
Outcome = bytes | str


@dataclass(frozen=True)
class BatchItem:
    """One input and the name of its output in OUT_DIR."""

    source: Path
    name: str

    def __str__(self) -> str:
        return str(self.source)


@dataclass
class BatchPlan:
    """The batch, checked: what to paint, what is already written, and what failed its
    check (input, one-line reason)."""

    out_dir: Path
    todo: list[BatchItem] = field(default_factory=list)
    done: list[BatchItem] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class BatchSpec:
    """What every image is painted with; it travels to each worker once."""

    styles: tuple[np.ndarray, ...]
    options: StyleOptions
    mask: bytes | None = None  # the --mask file's bytes, at the inputs' own size
    output_size: int | None = None
    model: FastStyleModel | None = None


def input_files(inputs: Sequence[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """The image files INPUT arguments name, in order (a folder's in name order, not its
    sub-folders), and those that name nothing to read."""
    files: list[Path] = []
    failed: list[tuple[str, str]] = []
    for path in inputs:
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir()
                if p.is_file() and not p.name.startswith(".")
                and p.suffix.lower() in IMAGE_SUFFIXES
            )  # fmt: skip
            files.extend(found)
            if not found:
                failed.append((str(path), f"{path}: no image files in this folder"))
        elif path.exists():
            files.append(path)
        else:
            failed.append((str(path), f"{path}: no such file or folder"))
    return files, failed


def header_size(path: Path, max_pixels: int) -> tuple[int, int]:
    """(height, width) from the file's header, checked against the pixel limit without
    decoding it (InputError when it is no image or too large)."""
    data, name = read_file(path, max_pixels, head=HEADER_BYTES)
    try:
        header = read_header(data, name, max_pixels)
    except InputError:
        if len(data) < HEADER_BYTES:
            raise
        data, name = read_file(path, max_pixels)  # the header lies further in
        header = read_header(data, name, max_pixels)
    return header.height, header.width


def output_name(path: Path) -> str:
    """The output's file name: the input's, or a PNG of its stem for a type not written."""
    return path.name if path.suffix.lower() in OUTPUT_TYPES else path.stem + FALLBACK_SUFFIX


def plan_batch(
    inputs: Sequence[Path],
    out_dir: Path,
    max_pixels: int,
    mask_shape: tuple[int, int] | None = None,
) -> BatchPlan:
    """Every input checked from its header before any work (see the module's docstring).

    Raises InputError when OUT_DIR holds an input itself: its output would replace it."""
    files, failed = input_files(inputs)
    plan = BatchPlan(out_dir, failed=failed)
    owners: dict[str, Path] = {}
    for path in files:
        name = output_name(path)
        if (out_dir / name).resolve() == path.resolve():
            raise InputError(
                f"{out_dir}: holds the input {path.name}, which its output would replace; "
                "choose another output folder"
            )
        if name in owners:
            plan.failed.append(
                (str(path), f"{path}: its output {name} is {owners[name]}'s too; rename one")
            )
            continue
        owners[name] = path
        try:
            shape = header_size(path, max_pixels)
        except InputError as exc:
            plan.failed.append((str(path), str(exc)))
            continue
        if mask_shape is not None and shape != mask_shape:
            plan.failed.append((str(path), (
                f"{path}: {shape[1]}x{shape[0]}, and the mask is "
                f"{mask_shape[1]}x{mask_shape[0]}; a mask fits inputs of its own size"
            )))  # fmt: skip
            continue
        item = BatchItem(path, name)
        (plan.done if (out_dir / name).is_file() else plan.todo).append(item)
    return plan


def check_out_dir(out_dir: Path) -> None:
    """OUT_DIR exists (made if need be) and takes new files: checked before any work."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".nst-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise NSTError(
            f"{out_dir}: cannot write into it ({exc.strerror or exc}); choose another folder"
        ) from None


class Painter:
    """One worker's engine: a workspace on the job's device and the styles or the model,
    styling one image after another (the extractor loaded and the style targets computed
    once, for all of them)."""

    def __init__(self, spec: BatchSpec) -> None:
        from .workspace import Workspace  # the painting modules, only where one paints

        self.spec = spec
        self.workspace = Workspace(spec.options.device)

    def paint(
        self, data: bytes, name: str, progress: Callable[[Progress], None] | None = None
    ) -> np.ndarray:
        """The styled image of an encoded input (its file's bytes); InputError and the
        engine's other NSTErrors for one that cannot be styled."""
        from .api import stylize
        from .images import load_image

        spec, max_pixels = self.spec, self.spec.options.max_pixels
        content = load_image(data, max_pixels, name=name)
        mask = sized_mask(spec.mask, content.shape[:2], spec.output_size, max_pixels)
        if spec.output_size is not None:
            content = resized(content, spec.output_size)
        result = stylize(
            content, list(spec.styles) or None, mask=mask, options=spec.options,
            progress=progress, model=spec.model, workspace=self.workspace,
        )  # fmt: skip
        return result.image


def encoded(image: np.ndarray, name: str) -> bytes:
    """The image as the file `name` holds it (its type by the suffix, as save_image writes
    it): encoded where it is painted, so that a cluster's driver only writes bytes (encoding
    a photograph takes a good part of a second; the driver serves every worker)."""
    with tempfile.TemporaryDirectory(prefix="nst-batch-") as folder:
        path = Path(folder) / name
        save_image(path, image)
        return path.read_bytes()


def paint_here(
    items: Iterable[BatchItem],
    spec: BatchSpec,
    progress: Callable[[Progress], None] | None = None,
) -> Iterator[tuple[BatchItem, Outcome]]:
    """Each item styled in this process, in order, as it is done."""
    painter = Painter(spec)
    for item in items:
        try:
            data, name = read_file(item.source, spec.options.max_pixels)
            yield item, encoded(painter.paint(data, name, progress), item.name)
        except NSTError as exc:
            yield item, str(exc)


def save_output(path: Path, data: bytes) -> None:
    """The file written beside `path` and renamed onto it once whole: an interrupted batch
    leaves only complete outputs, which the next run skips."""
    with written_whole(path) as partial:
        partial.write_bytes(data)


def write_outcomes(
    plan: BatchPlan,
    outcomes: Iterable[tuple[BatchItem, Outcome]],
    report: Callable[[BatchItem, str | None], None],
) -> list[tuple[str, str]]:
    """Each result written as it arrives (save_output); `report(item, reason)` after each
    (reason None for a written one). Returns the failures (input, reason)."""
    failed = []
    for item, outcome in outcomes:
        if isinstance(outcome, str):
            failed.append((str(item.source), outcome))
            report(item, outcome)
            continue
        save_output(plan.out_dir / item.name, outcome)
        report(item, None)
    return failed
