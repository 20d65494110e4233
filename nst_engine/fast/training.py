"""Training a style network (`train_style`) with the optimisation mode's perceptual losses
(`losses.py`): content at relu4_2, styled content at relu2_2 (weight 0.1), the relative Gram
style loss at relu1_1 ... relu5_1 with the extractor's layer weights at the training size and
at half of it, total variation (weight 2) and structure (1 - SSIM to the input, weight 1).

The network first moves each photograph's colours to the painting's (`network.Palette`,
unless `palette` is off) and learns to paint on that; the losses compare its output with the
photograph itself.

The style weight is not fixed: the same controller as the optimisation mode
(`transfer.DynamicWeight`) steers it every step so that the SSIM between the network's
output and its input batch settles at `transfer.target_ssim(strength)`. The network is thus
trained toward the same structural budget that the same strength asks of the optimisation.
A network responds to its style weight over many steps, not one, so the controller moves
a fifth as fast per step as it does in the optimisation. SSIM is measured on the training
crops; applied to an image of another size, the balance is that of the training size.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ..arrays import as_array, resize_tensor, split_channels, to_tensor
from ..devices import autocast
from ..errors import Cancelled, InputError
from ..features import FeatureExtractor
from ..images import load_image
from ..losses import ContentLoss, StructureLoss, StyleLoss, total_variation
from ..objective import STRUCTURE_WEIGHT, STYLED_CONTENT_WEIGHT, TV_WEIGHT
from ..options import CancelCheck, Progress, ProgressCallback, check_device, check_strength
from ..targets import StyleTargets
from ..thumbnails import fingerprint, thumbnail_png
from ..transfer import DynamicWeight, masked_ssim, target_ssim
from ..workspace import Workspace
from .files import ModelFileError, read_torch_file, save_torch_file
from .model_file import FastStyleModel, plain_state
from .network import TransformerNet

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
# The optimisation's controller moves log(style weight) by up to 0.1 per iteration; a network
# answers a change of weight only over many steps, so training moves it by up to 0.02.
TRAINING_CONTROLLER_RATE = 0.02
# A checkpoint holds the optimiser's and the generator's state beside the weights: plain
# tensors and values that torch.save writes and torch.load(weights_only=True) reads.
CHECKPOINT_FORMAT = "nst-fast-style-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class TrainOptions:
    """How `train_style` trains. `size` is the side of the square training crops; `strength`
    means what it means for the optimisation (see `transfer.target_ssim`)."""

    size: int = 256
    # The photographs' short side before cropping (0: `size`, each crop nearly a whole photo).
    # Larger, each crop is a window of a larger photo and the style is matched at that size:
    # the network paints strokes sized for images of about `scale` pixels, at the cost of
    # `size`-pixel crops.
    scale: int = 0
    steps: int = 2000
    batch_size: int = 4
    strength: float = 0.5
    lr: float = 1e-3
    device: str = "auto"
    seed: int = 0
    checkpoint_every: int = 100
    width: int = 32
    residual_blocks: int = 5
    palette: bool = True
    name: str | None = None

    def validate(self) -> None:
        if self.size < 32:
            raise InputError(f"the training size must be at least 32 pixels, got {self.size}")
        if self.scale and self.scale < self.size:
            raise InputError(f"scale ({self.scale}) must be 0 or at least the size ({self.size})")
        if self.steps < 1 or self.batch_size < 1 or self.checkpoint_every < 0:
            raise InputError("steps and batch size must be at least 1, checkpoint-every >= 0")
        check_strength(self.strength)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"the learning rate must be positive, got {self.lr}")
        if not 1 <= self.width <= 256 or not 0 <= self.residual_blocks <= 32:
            raise InputError("width must be 1..256 and residual blocks 0..32")
        check_device(self.device)


class TrainingInterrupted(Cancelled):
    """Training stopped early (Ctrl-C or the cancel callback); a checkpoint was saved."""

    def __init__(self, step: int, steps: int, checkpoint: Path) -> None:
        super().__init__(
            f"training stopped at step {step}/{steps}; checkpoint saved to {checkpoint}; "
            "run the same command again to resume"
        )
        self.step, self.steps, self.checkpoint = step, steps, checkpoint


@dataclass
class TrainResult:
    model: FastStyleModel
    path: Path
    steps: int
    resumed_from: int
    seconds: float
    seconds_per_step: float
    losses: dict[str, float] = field(default_factory=dict)


def checkpoint_path(output: str | os.PathLike) -> Path:
    """Where training toward `output` keeps its checkpoint: `output` + '.ckpt'."""
    output = Path(output)
    return output.with_name(output.name + ".ckpt")


def find_images(folder: str | os.PathLike) -> list[Path]:
    """Image files under `folder` (recursively) whose header Pillow reads (and any TIFF)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder of training images")
    candidates = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    readable = []
    for path in candidates:
        try:
            with Image.open(path) as image:
                if min(image.size) >= 32:
                    readable.append(path)
        except Exception:  # Pillow raises many types for a bad file
            if path.suffix.lower() in (".tif", ".tiff"):
                readable.append(path)  # 16-bit and float TIFFs Pillow cannot open; load_image can
    if not readable:
        raise InputError(
            f"{folder}: no readable training images (looked at {len(candidates)} image files); "
            "put photographs (PNG, JPEG, TIFF, WebP, at least 32 pixels) in it"
        )
    return readable


class _Batches:
    """Random square crops of `size` from the training images: each image is scaled so its
    short side is `scale` (default `size`), cropped at a random place and mirrored at random.
    Every random choice comes from one generator, whose state the checkpoint keeps, so a
    resumed run sees the same crops. With a `palette`, each crop comes with the same crop of
    the whole photograph's palette-matched copy: the network's input, matched the way a whole
    image is matched when the network is applied. `fingerprints` are those of the photographs
    drawn so far (`thumbnails.fingerprint`): what the model file records as trained on."""

    def __init__(
        self,
        files: list[Path],
        size: int,
        generator: torch.Generator,
        scale: int = 0,
        palette: nn.Module | None = None,
    ) -> None:
        self.files, self.size, self.generator = list(files), size, generator
        self.scale = scale or size
        self.palette = palette
        self.cache: dict[Path, torch.Tensor] = {}
        self.fingerprints: set[str] = set()

    def _image(self, path: Path) -> torch.Tensor | None:
        if path not in self.cache:
            try:
                rgb = split_channels(load_image(path))[0]
            except InputError as exc:
                log.warning("skipping training image %s", exc)
                return None
            self.fingerprints.add(fingerprint(rgb))
            height, width = rgb.shape[:2]
            scale = self.scale / min(height, width)
            size = max(self.size, round(height * scale)), max(self.size, round(width * scale))
            image = resize_tensor(to_tensor(rgb), size).clamp(0, 1)
            if self.palette is not None:  # the matched copy as three more channels
                with torch.no_grad():
                    matched = self.palette(image.to(self.palette.mean.device)).cpu()
                image = torch.cat([image, matched], dim=1)
            image = (image[0] * 255).round()
            if len(self.cache) < 2048:  # keep decoded images, as 8-bit, for the small folders
                self.cache[path] = image.to(torch.uint8)
            else:
                return image.to(torch.uint8)
        return self.cache[path]

    def next(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(photographs, the network's inputs): the same tensor without a palette."""
        crops = []
        while len(crops) < batch_size:
            if not self.files:
                raise InputError("none of the training images could be read")
            index = int(torch.randint(len(self.files), (1,), generator=self.generator))
            top_draw, left_draw, flip = torch.rand(3, generator=self.generator).tolist()
            image = self._image(self.files[index])
            if image is None:
                self.files.pop(index)
                continue
            height, width = image.shape[-2:]
            top = int(top_draw * (height - self.size + 1))
            left = int(left_draw * (width - self.size + 1))
            crop = image[:, top : top + self.size, left : left + self.size]
            crops.append(crop.flip(-1) if flip < 0.5 else crop)
        batch = torch.stack(crops).float() / 255
        return batch[:, :3], (batch[:, 3:] if self.palette is not None else batch)


def _half(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)


class PerceptualLoss:
    """The optimisation mode's loss terms for a batch of network outputs and their inputs:
    content (relu4_2), styled content (relu2_2, x0.1), relative Gram style at the training
    size and half of it with the extractor's layer weights (times the style weight), total
    variation (x2) and structure (1 - SSIM to the input, x1). Style terms are averaged over
    the batch."""

    def __init__(
        self,
        extractor: FeatureExtractor,
        targets: StyleTargets,
        style: torch.Tensor,
        size: int,
    ) -> None:
        spec = self.spec = extractor.spec
        self.extractor = extractor
        digest = hashlib.blake2b(style.cpu().numpy().tobytes(), digest_size=16).hexdigest()
        # The style's short side must survive VGG's four poolings (16 pixels at least).
        short, long = sorted(style.shape[-2:])
        least = math.ceil(16 * long / short)
        full, half = (
            targets.grams(extractor, [(digest, style)], [1.0], max(side, least), spec.style)
            for side in (size, size // 2)
        )
        self.full = {n: StyleLoss(full[n]) for n in spec.style}
        self.half = {n: StyleLoss(half[n]) for n in spec.style}
        total = sum(spec.style_weights)
        self.layer_weights = {
            n: w / total for n, w in zip(spec.style, spec.style_weights, strict=True)
        }
        self.wanted = set(spec.style) | {spec.content, spec.styled_content}

    def __call__(
        self, output: torch.Tensor, batch: torch.Tensor, style_weight: float
    ) -> dict[str, torch.Tensor]:
        spec, device = self.spec, output.device
        with torch.no_grad(), autocast(device):
            targets = self.extractor(batch, {spec.content, spec.styled_content})
        with autocast(device):
            feats = self.extractor(output, self.wanted)
            half_feats = self.extractor(_half(output), set(spec.style))
        style = (
            sum(
                weight * 0.5 * (self.full[n](feats[n]) + self.half[n](half_feats[n]))
                for n, weight in self.layer_weights.items()
            )
            / output.shape[0]
        )
        return {
            "content": ContentLoss(targets[spec.content])(feats[spec.content]),
            "styled_content": STYLED_CONTENT_WEIGHT
            * ContentLoss(targets[spec.styled_content])(feats[spec.styled_content]),
            "style": style_weight * style,
            "tv": TV_WEIGHT * total_variation(output),
            "structure": STRUCTURE_WEIGHT * StructureLoss(batch)(output),
        }


class _InterruptFlag:
    """Turns the first Ctrl-C into a flag checked between steps (a second one aborts)."""

    def __init__(self) -> None:
        self.raised = False
        self.previous = None

    def __enter__(self) -> _InterruptFlag:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def _config(options: TrainOptions, style_digest: str) -> dict:
    """The settings a checkpoint must share with the run that resumes it."""
    # Older checkpoints have neither entry, and resume only with their defaults.
    scale = {"scale": options.scale} if options.scale else {}
    palette = {"palette": True} if options.palette else {}
    return {
        **scale,
        **palette,
        "size": options.size,
        "batch_size": options.batch_size,
        "strength": options.strength,
        "lr": options.lr,
        "seed": options.seed,
        "width": options.width,
        "residual_blocks": options.residual_blocks,
        "style_digest": style_digest,
    }


def train_style(
    style: np.ndarray | Image.Image,
    images: str | os.PathLike | list[Path],
    output: str | os.PathLike,
    options: TrainOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    workspace: Workspace | None = None,
) -> TrainResult:
    """Train a style network on a folder of photographs and write the model to `output`.

    Every `options.checkpoint_every` steps (and when stopped by Ctrl-C or `cancel`) the full
    training state goes to `checkpoint_path(output)`; a later call with the same output and
    settings resumes from it and, seeded, ends with exactly the weights of an uninterrupted
    run. A stop raises TrainingInterrupted after saving. The checkpoint is removed once the
    model is written. `progress` gets one Progress per step. `workspace` as for stylize
    (default: a new one on options.device).
    """
    options = options or TrainOptions()
    options.validate()
    output = Path(output)
    if not output.parent.is_dir():
        raise InputError(f"{output}: the folder {output.parent} does not exist")
    style_array = as_array(style, "the style image")
    style_rgb = split_channels(style_array)[0]
    files = images if isinstance(images, list) else find_images(images)
    workspace = workspace or Workspace(options.device)
    trainer = _Trainer(style_array, style_rgb, files, output, options, workspace)
    seconds = trainer.run(progress, cancel)
    return trainer.finish(seconds)


class _Trainer:
    """One run of `train_style`: the network, its optimiser, the crops' generator and the
    style weight's controller, which together are what a checkpoint saves and a resumed run
    loads; a run is set up (resuming if a checkpoint exists), runs its steps, and finishes
    by writing the model."""

    def __init__(
        self,
        style_array: np.ndarray,
        style_rgb: np.ndarray,
        files: list[Path],
        output: Path,
        options: TrainOptions,
        workspace: Workspace,
    ) -> None:
        self.options, self.files, self.output, self.style_rgb = options, files, output, style_rgb
        device = self.device = workspace.device
        # The digest ties a checkpoint to its style: resuming with another one is refused.
        style_digest = hashlib.blake2b(
            style_array.tobytes() + str(style_array.shape).encode(), digest_size=16
        ).hexdigest()
        self.config = _config(options, style_digest)
        style_t = to_tensor(style_rgb, device)
        self.loss = PerceptualLoss(
            workspace.extractor("vgg19", "avg"),
            workspace.style_targets,
            style_t,
            options.scale or options.size,
        )
        with torch.random.fork_rng(devices=[]):  # seeded, without touching the caller's RNG
            torch.manual_seed(options.seed)
            network = TransformerNet(options.width, options.residual_blocks, options.palette)
        network = network.to(device)
        if network.palette is not None:
            network.palette.set_style(style_t)
        if device.type == "cuda":
            network = network.to(memory_format=torch.channels_last)
        self.network = network
        self.optimizer = torch.optim.Adam(network.parameters(), lr=options.lr)
        self.generator = torch.Generator(device="cpu").manual_seed(options.seed)
        self.controller = DynamicWeight(options.strength, rate=TRAINING_CONTROLLER_RATE)
        self.checkpoint = checkpoint_path(output)
        self.start, self.elapsed_before, seen = self._resume()
        self.batches = _Batches(files, options.size, self.generator, options.scale, network.palette)
        self.batches.fingerprints.update(seen)
        self.losses: dict[str, float] = {}

    def _resume(self) -> tuple[int, float, list[str]]:
        """Load the checkpoint, if there is one, into the state; returns (step, seconds spent
        before, the fingerprints of the photographs drawn before): (0, 0.0, []) without."""
        path = self.checkpoint
        if not path.exists():
            return 0, 0.0, []
        data = read_torch_file(path, "training checkpoint", CHECKPOINT_FORMAT, CHECKPOINT_VERSION)
        config = self.config
        if data.get("config") != config:
            saved = data.get("config") if isinstance(data.get("config"), dict) else {}
            differ = sorted(k for k in {*config, *saved} if saved.get(k) != config.get(k))
            raise InputError(
                f"{path} was made with other settings ({', '.join(differ) or 'unknown'} differ); "
                "use the same style and settings to resume, or delete the checkpoint to start over"
            )
        try:
            self.network.load_state_dict(data["weights"])
            self.optimizer.load_state_dict(data["optimizer"])
            self.generator.set_state(data["generator"])
            state, controller = data["controller"], self.controller
            controller.log_weight = float(state["log_weight"])
            previous = float(state["previous"])
            controller.previous = None if math.isnan(previous) else previous
            controller.slope = float(state["slope"])
            photos = [str(p) for p in data.get("photos", [])]  # older checkpoints have none
            step, elapsed = int(data["step"]), float(data["elapsed"])
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: the checkpoint is damaged ({exc})") from None
        if step >= self.options.steps:
            raise InputError(
                f"{path} is already at step {step}; ask for more --steps than that, or delete "
                "the checkpoint to start over"
            )
        return step, elapsed, photos

    def run(self, progress: ProgressCallback | None, cancel: CancelCheck | None) -> float:
        """Train from the start step to the last, reporting every step; returns the seconds
        this call trained. A stop saves a checkpoint and raises TrainingInterrupted."""
        options = self.options
        started = time.perf_counter()
        self.network.train()
        # A Ctrl-C only raises a flag, so that the state is whole when it is saved.
        with _InterruptFlag() as interrupt, torch.inference_mode(False):
            for step in range(self.start, options.steps):
                self.losses = self._step()
                done = step + 1
                elapsed = time.perf_counter() - started
                if progress is not None:
                    progress(
                        Progress(
                            level=0,
                            levels=1,
                            iteration=step,
                            iterations=options.steps,
                            losses=self.losses,
                            elapsed=elapsed,
                            step=done - self.start,
                            total_steps=options.steps - self.start,
                        )
                    )
                stop = interrupt.raised or (cancel is not None and cancel())
                periodic = options.checkpoint_every and done % options.checkpoint_every == 0
                # The last step needs no checkpoint: the model written next replaces it.
                if (stop or periodic) and done < options.steps:
                    self._save_checkpoint(done, self.elapsed_before + elapsed)
                if stop and done < options.steps:
                    raise TrainingInterrupted(done, options.steps, self.checkpoint)
        return time.perf_counter() - started

    def _step(self) -> dict[str, float]:
        """One optimiser step on a new batch; the loss terms, the style weight and the SSIM."""
        device = self.device
        batch, inputs = (t.to(device) for t in self.batches.next(self.options.batch_size))
        if device.type == "cuda":
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with autocast(device):
            out = self.network.paint(inputs)
        terms = self.loss(out, batch, self.controller.value)
        total = sum(terms.values())
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        similarity = masked_ssim(out.detach().clamp(0, 1), batch, None)
        self.controller.update(similarity)
        losses = {k: float(v.detach()) for k, v in terms.items()}
        losses.update(total=float(total.detach()), style_weight=self.controller.value)
        losses["ssim"] = similarity
        return losses

    def _save_checkpoint(self, step: int, elapsed: float) -> None:
        controller = self.controller
        save_torch_file(
            {
                "format": CHECKPOINT_FORMAT,
                "version": CHECKPOINT_VERSION,
                "config": self.config,
                "step": step,
                "elapsed": elapsed,
                "photos": sorted(self.batches.fingerprints),
                "weights": plain_state(self.network),
                "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(),
                "controller": {
                    "log_weight": controller.log_weight,
                    "previous": math.nan if controller.previous is None else controller.previous,
                    "slope": controller.slope,
                },
            },
            self.checkpoint,
        )

    def finish(self, seconds: float) -> TrainResult:
        """Write the model (its file records the settings and how the run ended), then drop
        the checkpoint: only once the model is safe is the run's state no longer needed."""
        options, losses = self.options, self.losses
        trained = {
            **{k: v for k, v in self.config.items() if k != "style_digest"},
            "steps": options.steps,
            "images": len(self.files),
            "extractor": "vgg19",
            "target_ssim": target_ssim(options.strength),
            "final_ssim": float(losses.get("ssim", math.nan)),
            "final_style_weight": float(self.controller.value),
            "photos": sorted(self.batches.fingerprints),
            "training_seconds": round(self.elapsed_before + seconds, 1),
            "device": str(self.device),
        }
        weights = plain_state(self.network)
        model = _write_model(weights, trained, options.name, self.style_rgb, self.output)
        self.checkpoint.unlink(missing_ok=True)
        ran = options.steps - self.start
        return TrainResult(
            model, self.output, options.steps, self.start, seconds, seconds / max(1, ran), losses
        )


def _write_model(
    weights: dict, trained: dict, name: str | None, style_rgb: np.ndarray, output: Path
) -> FastStyleModel:
    """The model file of trained weights (`trained`: the settings and figures it records)."""
    architecture = {
        "width": trained["width"],
        "residual_blocks": trained["residual_blocks"],
        "palette": bool(trained.get("palette", False)),
    }
    model = FastStyleModel(
        TransformerNet(**architecture),
        name or "style",
        thumbnail_png(style_rgb),
        trained,
        architecture,
        output,
    )
    model.network.load_state_dict(weights)
    model.save(output)
    return model


def model_from_checkpoint(
    checkpoint: str | os.PathLike,
    style: np.ndarray | Image.Image,
    output: str | os.PathLike,
    name: str | None = None,
) -> FastStyleModel:
    """The model as of a training checkpoint, written to `output`, the run left as it is:
    to judge a run's quality against its steps while it trains (scripts/train_gallery.py)."""
    path = Path(checkpoint)
    data = read_torch_file(path, "training checkpoint", CHECKPOINT_FORMAT, CHECKPOINT_VERSION)
    try:
        config, step, weights = dict(data["config"]), int(data["step"]), data["weights"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: the checkpoint is damaged ({exc})") from None
    style_rgb = split_channels(as_array(style, "the style image"))[0]
    trained = {
        **{k: v for k, v in config.items() if k != "style_digest"},
        "steps": step,
        "extractor": "vgg19",
        "target_ssim": target_ssim(config["strength"]),
        "training_seconds": round(float(data.get("elapsed", 0.0)), 1),
    }
    if "photos" in data:  # older checkpoints do not record them
        trained["photos"] = list(data["photos"])
    return _write_model(weights, trained, name, style_rgb, Path(output))
