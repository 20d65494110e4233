"""The engine's CUDA code paths, run on a machine without a GPU, and the device choice.

How the simulation works: inside PyTorch's FakeTensorMode (torch._subclasses.fake_tensor)
a tensor carries its shape, dtype, layout and device but no data, and every operation
computes only its result's metadata. A tensor made there with device="cuda" is a fake CUDA
tensor even where no CUDA driver exists, and an operation that mixes a fake CUDA tensor with
a CPU tensor of one or more dimensions raises FakeTensorDeviceMismatchError, as a real GPU
raises its "Expected all tensors to be on the same device" (a 0-dim CPU tensor is allowed,
on both). With allow_non_fake_inputs=False a real tensor reaching an operation fails too, so
nothing made before the mode slips through unconverted (the one test that runs a whole job
from numpy arrays lets real tensors in: they become fake tensors on their own device, the
CPU, so mixing devices still fails). Models are made fake with FakeCopyMode (a deep copy
whose tensors become fake CPU tensors), then moved by the product's own code.

`FakeCuda` adds three things to the mode, and they are the simulation's limits:
- a value read back (`float(loss)`, `.item()`) is 1 instead of an error, so the engine's
  loops run; every number the engine reads is therefore 1, branches on values go one way,
  and no test here checks a number, only devices, shapes, dtypes and layouts;
- the mode survives copy.deepcopy (copying a module copies its tensors' attributes, the
  mode among them, and two modes cannot mix);
- it keeps its tensors by strong reference: nn.Module.to swaps a fake parameter for its
  moved copy, which torch refuses for a tensor with weak references.
Autograd's backward pass does not run on fake CUDA tensors either (its engine asks the CUDA
driver for the device's context before it starts), so the tests that run an optimisation
loop make `Tensor.backward` do nothing (`no_backward`): the loop runs every forward pass,
loss and read-back, and the optimiser, finding no gradient, leaves the image as it was.
torch.cuda.is_available() stays False (made True, the fake mode starts initialising the
real CUDA runtime), so torch.autocast("cuda") switches itself off with a warning: the bf16
dtypes of the GPU path are not simulated; its channels-last layout is (the tests turn
`low_precision` on). No kernel runs: cuDNN, memory use, speed and results are unchecked;
torch.cuda calls that ask the driver (mem_get_info) are replaced where a test needs them.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from fast_models import random_style_model
from torch._subclasses.fake_tensor import (
    FakeCopyMode,
    FakeTensor,
    FakeTensorDeviceMismatchError,
    FakeTensorMode,
)

from nst_engine import api, devices, losses, memory
from nst_engine.api import plan_job
from nst_engine.context import Reporter, Run, RunContext
from nst_engine.errors import InputError, TooLarge
from nst_engine.fast import FastStyleModel
from nst_engine.features import load_extractor
from nst_engine.fullres import refine_tiles
from nst_engine.options import StyleOptions
from nst_engine.targets import StyleTargets
from nst_engine.transfer import planned, run_gatys, run_proposed
from nst_engine.workspace import Workspace

CUDA = torch.device("cuda:0")


class FakeCuda(FakeTensorMode):
    """FakeTensorMode with the three additions of the module docstring."""

    def __init__(self, allow_non_fake_inputs: bool = False) -> None:
        super().__init__(allow_non_fake_inputs=allow_non_fake_inputs)
        self.fake_tensor_converter.meta_converter.tensor_memo = {}

    def __deepcopy__(self, memo: dict) -> FakeCuda:
        return self

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            dtype = args[0].dtype
            return True if dtype == torch.bool else 1.0 if dtype.is_floating_point else 1
        return super().__torch_dispatch__(func, types, args, kwargs)


@pytest.fixture
def fake_cuda(monkeypatch):
    """The mode, entered, with `low_precision` on for CUDA (as on an Ampere GPU)."""
    monkeypatch.setattr(devices, "_cuda_has_native_bf16", lambda index: True)
    mode = FakeCuda()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*CUDA is not available.*")
        warnings.filterwarnings("ignore", message=".*data pointer of FakeTensor.*")
        with mode:
            yield mode


def fake_copy(module, mode: FakeCuda):
    """A copy of a real CPU module whose tensors are fake CPU tensors."""
    with FakeCopyMode(mode):
        return copy.deepcopy(module)


@pytest.fixture(scope="module", autouse=True)
def real_vgg():
    """The process's real extractor stays real: load_extractor caches what it builds, and
    one built inside the fake mode would hand fake tensors to every later test."""
    extractor = load_extractor("vgg19", "max")
    yield
    assert load_extractor("vgg19", "max") is extractor
    assert not any(isinstance(t, FakeTensor) for t in tensors_of(extractor))


@pytest.fixture
def template(fake_cuda):
    """The extractor as load_extractor builds it (on the CPU), made fake; built past the
    function's cache (see real_vgg)."""
    return fake_copy(load_extractor.__wrapped__("vgg19", "max"), fake_cuda)


@pytest.fixture
def workspace(template, monkeypatch) -> Workspace:
    """A server's workspace on CUDA, its extractor template the fake one."""
    monkeypatch.setattr("nst_engine.workspace.load_extractor", lambda name, pooling: template)
    return Workspace(CUDA)


def tensors_of(module) -> list[torch.Tensor]:
    return [*module.parameters(), *module.buffers()]


def on_cuda(*tensors: torch.Tensor) -> bool:
    return all(isinstance(t, FakeTensor) and t.device == CUDA for t in tensors)


def image(height: int, width: int, channels: int = 3, device=CUDA) -> torch.Tensor:
    return torch.rand(1, channels, height, width, device=device)


def test_the_simulation_fails_on_a_cpu_tensor_in_a_cuda_operation(fake_cuda):
    with pytest.raises(FakeTensorDeviceMismatchError):
        _ = image(8, 8) + torch.zeros(8)
    assert on_cuda(image(8, 8) * torch.tensor(2.0))  # a 0-dim CPU tensor is allowed, as on a GPU


def test_the_extractor_goes_to_cuda_as_a_copy_in_channels_last(workspace, template):
    extractor = workspace.extractor()
    assert on_cuda(*tensors_of(extractor))
    assert all(t.device.type == "cpu" for t in tensors_of(template))  # not moved in place
    assert workspace.extractor() is extractor  # loaded once per workspace
    conv = extractor.body[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    features = extractor(image(64, 48), {"relu1_1", "relu5_1"})
    assert on_cuda(*features.values()) and features["relu5_1"].shape == (1, 512, 4, 3)
    with pytest.raises(FakeTensorDeviceMismatchError):
        extractor(image(64, 48, device="cpu"), {"relu1_1"})


def test_style_targets_are_gram_matrices_on_cuda(workspace):
    extractor = workspace.extractor()
    layers = extractor.spec.style
    styles = [("a", image(80, 64)), ("b", image(48, 96))]
    grams = workspace.style_targets.grams(extractor, styles, [1.0, 3.0], 96, layers)
    assert on_cuda(*grams.values())
    assert [tuple(grams[n].shape) for n in layers] == [(1, c, c) for c in (64, 128, 256, 512, 512)]


@pytest.fixture
def no_backward(monkeypatch):
    """Tensor.backward does nothing (see the module docstring)."""
    monkeypatch.setattr(torch.Tensor, "backward", lambda self, *args, **kwargs: None)


def test_each_loss_term_runs_on_cuda(fake_cuda):
    features = torch.rand(1, 16, 12, 10, device=CUDA, requires_grad=True)
    picture = torch.rand(1, 3, 48, 40, device=CUDA, requires_grad=True)
    mask = image(48, 40, channels=1)
    target = torch.rand(1, 16, 12, 10, device=CUDA)
    target_gram = torch.rand(1, 16, 16, device=CUDA)
    terms = {
        "content": losses.ContentLoss(target)(features),
        "style": losses.StyleLoss(target_gram)(features, mask),
        "structure": losses.StructureLoss(image(48, 40), mask)(picture),
        "gatys_style": losses.GatysStyleLoss(target_gram)(features, mask),
        "gatys_content": losses.GatysContentLoss(target)(features),
        "tv": losses.total_variation(picture),
    }
    assert on_cuda(*terms.values(), sum(terms.values()))


def job_context(extractor, targets, options, height, width) -> RunContext:
    """A job's context as api.stylize builds it, on the fake GPU, with one style."""
    return RunContext(
        extractor, targets, [("style", image(96, 80))], [1.0], options, CUDA,
        Reporter(planned(options.method, height, width, options), None, None), Run(),
        torch.Generator(device="cpu").manual_seed(options.seed),
    )  # fmt: skip


def run_method(method, extractor, content, mask, options):
    """One of the optimisation methods, as api.stylize calls it."""
    ctx = job_context(extractor, StyleTargets(), options, *content.shape[-2:])
    return method(ctx, content, mask)


def test_both_methods_optimise_on_cuda_with_a_mask(workspace, no_backward):
    extractor = workspace.extractor()
    content, mask = image(256, 192), image(256, 192, channels=1)
    options = StyleOptions(quality="draft", iterations=4)
    result = run_method(run_proposed, extractor, content, mask, options)  # two levels
    assert on_cuda(result) and result.shape == content.shape
    gatys = StyleOptions(method="gatys", iterations=2)
    assert on_cuda(run_method(run_gatys, extractor, content, mask, gatys))


def test_refine_tiles_visit_cuda_one_at_a_time_and_return_to_the_cpu(workspace, no_backward):
    extractor = workspace.extractor()
    full = torch.rand(1, 3, 200, 150)  # a full-resolution image stays on the CPU
    start, mask = torch.rand(1, 3, 200, 150), torch.rand(1, 1, 200, 150)
    options = StyleOptions(quality="high", iterations=2)
    ctx = job_context(extractor, workspace.style_targets, options, 64, 64)
    ctx.run.style_weight = 30.0  # where the working size's dynamic weighting ended
    result = refine_tiles(ctx, full, start, mask, 128)
    assert result.device.type == "cpu" and result.shape == full.shape


def test_the_fast_network_renders_on_cuda_from_a_cpu_model(fake_cuda):
    real = random_style_model("noise")
    model = FastStyleModel(
        fake_copy(real.network, fake_cuda), real.name, real.thumbnail_png, real.options,
        real.architecture,
    )  # fmt: skip
    styled = model.render(image(70, 90))
    assert on_cuda(styled) and styled.shape == (1, 3, 70, 90) and styled.dtype == torch.float32
    assert all(t.device.type == "cpu" for t in tensors_of(model.network))  # a copy went


@pytest.fixture
def gpu_with_free(monkeypatch):
    """A CUDA GPU that reports `free` bytes free (set the returned dict's "free")."""
    state = {"free": 0}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (state["free"], 80 << 30))
    monkeypatch.setattr(devices, "_cuda_has_native_bf16", lambda index: True)
    return state


def test_the_memory_plan_fits_the_gpus_free_memory(gpu_with_free):
    gpu_with_free["free"] = 40 << 30
    assert memory.available_bytes(CUDA) == 40 << 30
    roomy = plan_job((6000, 4000), options=StyleOptions(quality="high"), device=CUDA)
    assert roomy.work == (1024, 683)
    gpu_with_free["free"] = 2 << 30  # another program holds the rest of the card
    tight = plan_job((6000, 4000), options=StyleOptions(quality="high"), device=CUDA)
    assert max(tight.work) < 1024
    assert memory.needed_bytes(tight.work[0] * tight.work[1], CUDA) <= memory.usable_bytes(CUDA)
    with pytest.raises(TooLarge, match="use a working size of"):
        plan_job((6000, 4000), options=StyleOptions(size=2048), device=CUDA)


def test_apple_gpu_memory_is_the_smaller_of_free_ram_and_metals_working_set(monkeypatch):
    monkeypatch.setattr(memory, "free_ram_bytes", lambda: 10 << 30)
    monkeypatch.setattr(torch.mps, "recommended_max_memory", lambda: 16 << 30)
    monkeypatch.setattr(torch.mps, "driver_allocated_memory", lambda: 4 << 30)
    mps = torch.device("mps")
    assert memory.available_bytes(mps) == 10 << 30
    monkeypatch.setattr(torch.mps, "driver_allocated_memory", lambda: 12 << 30)
    assert memory.available_bytes(mps) == 4 << 30
    assert not devices.low_precision(mps)  # float32 on MPS (devices.low_precision says why)


def test_auto_picks_cuda_then_apples_gpu_then_the_cpu(monkeypatch):
    cuda, mps = {"on": True}, {"on": True}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda["on"])
    monkeypatch.setattr(devices, "mps_available", lambda: mps["on"])
    assert devices.resolve_device("auto") == CUDA
    cuda["on"] = False
    assert devices.resolve_device("auto") == torch.device("mps")
    assert devices.resolve_device("mps") == torch.device("mps")
    mps["on"] = False
    assert devices.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(InputError, match="MPS is not available"):
        devices.resolve_device("mps")
    with pytest.raises(InputError, match="no CUDA GPU"):
        devices.resolve_device("cuda:1")


def test_a_gpu_without_native_bf16_runs_float32(monkeypatch):
    """bf16 autocast only where the GPU computes it natively: Ampere on, and ROCm's GPUs
    (PyTorch's rule); an older NVIDIA GPU would emulate it, or autocast would refuse it."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.version, "hip", None)
    for major, expected in ((7, False), (8, True)):
        props = type("Props", (), {"major": major})()
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index, p=props: p)
        devices._cuda_has_native_bf16.cache_clear()
        assert devices.low_precision(CUDA) is expected
    monkeypatch.setattr(torch.version, "hip", "6.4")
    devices._cuda_has_native_bf16.cache_clear()
    assert devices.low_precision(CUDA)
    devices._cuda_has_native_bf16.cache_clear()


@pytest.fixture
def gpu_job(monkeypatch, no_backward):
    """What a whole job on CUDA needs besides fake tensors: the driver's figures given, and
    the result read back as an array of its shape (a fake tensor has no values to copy)."""
    monkeypatch.setattr(devices, "_cuda_has_native_bf16", lambda index: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (20 << 30, 80 << 30))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 0)
    read = []

    def to_numpy(tensor: torch.Tensor) -> np.ndarray:
        read.append(tensor.device.type)
        return np.zeros((*tensor.shape[-2:], tensor.shape[1]), np.float32)

    monkeypatch.setattr(api, "to_numpy", to_numpy)
    mode = FakeCuda(allow_non_fake_inputs=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*CUDA is not available.*")
        warnings.filterwarnings("ignore", message=".*data pointer of FakeTensor.*")
        with mode:
            yield mode, read


def test_a_whole_job_runs_on_cuda_through_the_engines_entry_point(gpu_job, monkeypatch):
    mode, read = gpu_job
    template = fake_copy(load_extractor("vgg19", "max"), mode)
    monkeypatch.setattr("nst_engine.workspace.load_extractor", lambda name, pooling: template)
    workspace = Workspace(CUDA)
    photo = np.random.default_rng(0).random((200, 300, 3), dtype=np.float32)
    painting = np.random.default_rng(1).random((90, 120, 3), dtype=np.float32)
    mask = np.zeros((200, 300), np.float32)
    mask[20:180, 40:260] = 1
    options = StyleOptions(quality="high", size=128, iterations=3)  # refines at full size
    result = api.stylize(photo, painting, mask=mask, options=options, workspace=workspace)
    assert result.stats["device"] == "cuda:0" and result.stats["full_resolution"] == "refine"
    assert read == ["cpu"]  # the full-resolution result came back from the tiles on the CPU
    fast = random_style_model("noise")
    model = FastStyleModel(
        fake_copy(fast.network, mode), fast.name, fast.thumbnail_png, fast.options,
        fast.architecture,
    )  # fmt: skip
    api.stylize(photo, None, model=model, workspace=workspace)  # one pass at full size
    assert read == ["cpu", "cuda"]


def test_an_animation_keeps_its_temporal_guide_on_cuda(gpu_job, monkeypatch):
    """Frames after the first take the previous result and the flow (computed by OpenCV on
    the CPU) onto the GPU: the warped start, its reliability and the temporal loss all run
    on CUDA, and a trained network's flow-guided blend too."""
    pytest.importorskip("cv2", reason="the optical flow needs the `video` extra")
    from nst_engine import temporal
    from nst_engine.sequence import stylize_sequence

    mode, read = gpu_job
    template = fake_copy(load_extractor("vgg19", "max"), mode)
    monkeypatch.setattr("nst_engine.workspace.load_extractor", lambda name, pooling: template)
    priors = []
    made = temporal.TemporalGuide.prior

    def prior(self, box, size, device):
        made_prior = made(self, box, size, device)
        priors.append(on_cuda(made_prior.image, made_prior.reliable))
        return made_prior

    monkeypatch.setattr(temporal.TemporalGuide, "prior", prior)
    rng = np.random.default_rng(0)
    photo = rng.random((80, 120, 3), dtype=np.float32)
    frames = [np.ascontiguousarray(photo[4:68, 4 + 3 * t : 100 + 3 * t]) for t in range(3)]
    painting = rng.random((64, 64, 3), dtype=np.float32)
    workspace = Workspace(CUDA)
    options = StyleOptions(size=64, iterations=4)
    results = list(stylize_sequence(frames, painting, options=options, workspace=workspace))
    assert len(results) == 3 and all(r.stats["device"] == "cuda:0" for r in results)
    assert priors == [True, True]  # frames 2 and 3, each guided on the GPU
    fast = random_style_model("noise")
    model = FastStyleModel(
        fake_copy(fast.network, mode), fast.name, fast.thumbnail_png, fast.options,
        fast.architecture,
    )  # fmt: skip
    assert len(list(stylize_sequence(frames, None, model=model, workspace=workspace))) == 3
    assert priors == [True] * 4
