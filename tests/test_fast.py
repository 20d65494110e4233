"""Fast mode: a tiny style network trained for a few steps on the CPU, its model file, resuming,
and applying it through the engine's shared masks/alpha/dtype handling."""

from __future__ import annotations

import logging
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import safetensors
import safetensors.torch
import torch
from fast_models import random_style_model, save_version_1

from nst_engine import apply_model
from nst_engine.api import stylize
from nst_engine.arrays import split_channels, to_tensor
from nst_engine.cli import main
from nst_engine.errors import InputError
from nst_engine.fast import (
    MODEL_FORMAT,
    FastStyleModel,
    ModelFileError,
    PerceptualLoss,
    TrainingInterrupted,
    TrainOptions,
    TransformerNet,
    _Batches,
    checkpoint_path,
    find_images,
    list_models,
    load_model,
    model_from_checkpoint,
    read_model_info,
    train_style,
    weights_checksum,
)
from nst_engine.fast.network import Palette, colour_statistics, match_colours
from nst_engine.features import load_extractor
from nst_engine.images import load_image, save_image
from nst_engine.metrics import mean_ssim
from nst_engine.options import StyleOptions
from nst_engine.targets import StyleTargets

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# A tiny network at 32 pixels: a training step costs about 0.3 s on one CPU core.
TINY = TrainOptions(
    size=32, steps=20, batch_size=2, width=8, lr=0.01, device="cpu", checkpoint_every=0
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Two threads on a shared two-core machine spin against each other (10x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Six 96-pixel random crops of the example photographs."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for name in ("chelsea.png", "rocket.jpg"):
        image = load_image(EXAMPLES / name)
        for i in range(3):
            top = rng.integers(0, image.shape[0] - 96)
            left = rng.integers(0, image.shape[1] - 96)
            save_image(
                folder / f"{Path(name).stem}{i}.png", image[top : top + 96, left : left + 96]
            )
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return folder


@pytest.fixture(scope="module")
def style(starry) -> np.ndarray:
    return starry


@pytest.fixture(scope="module")
def trained(tmp_path_factory, photos, style):
    path = tmp_path_factory.mktemp("model") / "starry.nstmodel"
    return train_style(style, photos, path, replace(TINY, name="starry"))


def _fixed_batch(photos: Path) -> torch.Tensor:
    return _Batches(find_images(photos), 32, torch.Generator().manual_seed(123)).next(4)[0]


def test_training_lowers_the_perceptual_loss(trained, photos, style):
    loss = PerceptualLoss(
        load_extractor("vgg19", "avg"), StyleTargets(), to_tensor(split_channels(style)[0]), 32
    )
    batch = _fixed_batch(photos)
    weight = trained.model.options["final_style_weight"]  # the balance training ended at
    start = TransformerNet(8, 5, palette=True)  # where training started: the palette alone
    start.palette.load_state_dict(trained.model.network.palette.state_dict())
    with torch.no_grad():
        assert torch.equal(start(batch), start.palette(batch))
        before = loss(start(batch), batch, weight)
        after = loss(trained.model.network(batch), batch, weight)
    total_before, total_after = float(sum(before.values())), float(sum(after.values()))
    print(f"loss at style weight {weight:.2f}: {total_before:.3f} -> {total_after:.3f}")
    assert total_after < 0.95 * total_before
    # The style term is a norm, not its square: 0.92 of it is 0.85 of the squared error.
    assert float(after["style"]) < 0.92 * float(before["style"])
    assert trained.steps == 20 and trained.resumed_from == 0
    assert not checkpoint_path(trained.path).exists()


def test_model_file_round_trip_gives_identical_outputs(trained, content):
    loaded = load_model(trained.path)
    assert loaded.name == "starry"
    assert loaded.thumbnail_png.startswith(b"\x89PNG")
    assert loaded.training_size == 32 and loaded.strength == 0.5
    assert loaded.options["steps"] == 20 and loaded.options["batch_size"] == 2
    for name, tensor in trained.model.network.state_dict().items():
        assert torch.equal(tensor, loaded.network.state_dict()[name]), name
    x = to_tensor(split_channels(content)[0])
    assert torch.equal(trained.model.render(x), loaded.render(x))
    from_file = apply_model(trained.path, content).image
    from_object = apply_model(trained.model, content).image
    assert np.array_equal(from_file, from_object)
    assert from_file.shape == content.shape and from_file.dtype == content.dtype
    with pytest.raises(InputError, match="not both"):
        stylize(content, content, model=loaded)
    # The trained network changes the image (it is no longer the identity).
    assert np.abs(from_file.astype(int) - content.astype(int)).mean() > 1.0


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path, photos, style):
    options = TrainOptions(
        size=32, steps=4, batch_size=2, width=4, lr=0.005, device="cpu", checkpoint_every=1
    )
    straight = train_style(style, photos, tmp_path / "straight.nstmodel", options)

    target = tmp_path / "resumed.nstmodel"
    calls = []

    def stop_after_two() -> bool:
        calls.append(1)
        return len(calls) >= 2

    with pytest.raises(TrainingInterrupted, match="step 2/4.*run the same command again"):
        train_style(style, photos, target, options, cancel=stop_after_two)
    assert checkpoint_path(target).exists() and not target.exists()
    # the model as of the checkpoint, to judge a run while it trains; the run goes on
    snapshot = model_from_checkpoint(checkpoint_path(target), style, tmp_path / "at2.nstmodel")
    assert load_model(tmp_path / "at2.nstmodel").options["steps"] == 2
    assert not torch.equal(snapshot.render(_fixed_batch(photos)), _fixed_batch(photos))
    resumed = train_style(style, photos, target, options)
    assert resumed.resumed_from == 2 and resumed.steps == 4
    assert not checkpoint_path(target).exists()

    a, b = straight.model.network.state_dict(), load_model(target).network.state_dict()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    # the photographs drawn before the stop are remembered across it
    assert load_model(target).options["photos"] == straight.model.options["photos"]
    assert snapshot.options["photos"]
    batch = _fixed_batch(photos)
    assert torch.equal(straight.model.render(batch), load_model(target).render(batch))


def test_checkpoint_of_other_settings_is_refused(tmp_path, photos, style):
    options = TrainOptions(size=32, steps=3, batch_size=2, width=4, device="cpu")
    target = tmp_path / "m.nstmodel"
    with pytest.raises(TrainingInterrupted):
        train_style(style, photos, target, options, cancel=lambda: True)
    other = TrainOptions(size=32, steps=3, batch_size=1, width=4, device="cpu")
    with pytest.raises(InputError, match="other settings.*batch_size"):
        train_style(style, photos, target, other)
    # a setting only the checkpoint records is named too
    with pytest.raises(InputError, match=r"other settings \(palette differ\)"):
        train_style(style, photos, target, replace(options, palette=False))


def _saved(path: Path, data) -> Path:
    torch.save(data, path)
    return path


def _rewritten(source: Path, target: Path, weights=None, **metadata: str) -> Path:
    """A copy of the model file `source` with other weights or metadata entries: a file
    whose every byte is well formed, written by the safetensors library itself."""
    with safetensors.safe_open(source, "pt") as opened:
        kept = opened.metadata()
    state = safetensors.torch.load_file(source) if weights is None else weights
    safetensors.torch.save_file(state, target, {**kept, **metadata})
    return target


def test_damaged_or_foreign_files_are_refused(tmp_path, trained):
    good = trained.path.read_bytes()
    weights = safetensors.torch.load_file(trained.path)

    truncated = tmp_path / "truncated.nstmodel"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelFileError, match="damaged"):
        load_model(truncated)

    with pytest.raises(ModelFileError, match="version '99'.*versions 1 and 2 only"):
        load_model(_rewritten(trained.path, tmp_path / "v99.nstmodel", version="99"))

    with pytest.raises(ModelFileError, match="no style model header"):
        load_model(_saved(tmp_path / "foreign.pt", {"conv.weight": torch.zeros(3, 3)}))
    foreign = tmp_path / "foreign.safetensors"
    safetensors.torch.save_file({"conv.weight": torch.zeros(3, 3)}, foreign)
    with pytest.raises(ModelFileError, match="no style model header"):
        load_model(foreign)

    name = next(iter(weights))
    wrong = {**weights, name: torch.zeros(2, 2)}
    with pytest.raises(ModelFileError, match=f"weight {name} has shape"):
        load_model(_rewritten(trained.path, tmp_path / "shape.nstmodel", wrong))

    flipped = {k: v.clone() for k, v in weights.items()}
    flipped[name].view(-1)[0] += 1.0
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(_rewritten(trained.path, tmp_path / "flipped.nstmodel", flipped))

    with pytest.raises(ModelFileError, match="not a style model file"):
        load_model(EXAMPLES / "chelsea.png")

    # A pickle that would run code when unpickled: refused, and the code never runs.
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    evil = tmp_path / "evil.nstmodel"
    evil.write_bytes(pickle.dumps({"format": MODEL_FORMAT, "x": Payload()}, protocol=2))
    with pytest.raises(ModelFileError, match="not a style model file"):
        load_model(evil)
    evil_zip = _saved(tmp_path / "evil2.nstmodel", {"format": MODEL_FORMAT, "x": Payload()})
    with pytest.raises(ModelFileError, match="not a style model file"):
        load_model(evil_zip)
    assert not marker.exists()

    with pytest.raises(ModelFileError, match="no such style model file"):
        load_model(tmp_path / "missing.nstmodel")

    odd_palette = '{"width": 8, "residual_blocks": 5, "palette": "yes"}'
    with pytest.raises(ModelFileError, match="palette"):
        load_model(_rewritten(trained.path, tmp_path / "p.nstmodel", architecture=odd_palette))

    with pytest.raises(ModelFileError, match="fingerprints are damaged"):
        load_model(_rewritten(trained.path, tmp_path / "f.nstmodel", options='{"photos": [1]}'))
    for key, text, says in (
        ("options", "{not json", "training options"),
        ("thumbnail_png", "not base64!", "thumbnail"),
        ("checksum", "", "checksum is missing"),
        ("name", "", "style name"),
    ):
        with pytest.raises(ModelFileError, match=says):
            load_model(_rewritten(trained.path, tmp_path / f"{key}.nstmodel", **{key: text}))


def test_old_model_files_are_held_to_the_same_checks(tmp_path):
    model = random_style_model("old")
    with pytest.raises(ModelFileError, match="version 99.*versions 1 and 2 only"):
        load_model(save_version_1(model, tmp_path / "v99.nstmodel", version=99))
    weights = {k: v.clone() for k, v in model.network.state_dict().items()}
    name = next(iter(weights))
    weights[name] = torch.zeros(2, 2)
    wrong_shape = {"weights": weights, "checksum": weights_checksum(weights)}
    with pytest.raises(ModelFileError, match=f"weight {name} has shape"):
        load_model(save_version_1(model, tmp_path / "shape.nstmodel", **wrong_shape))
    weights[name] = model.network.state_dict()[name].double()
    wrong_dtype = {"weights": weights, "checksum": weights_checksum(weights)}
    with pytest.raises(ModelFileError, match=f"weight {name} is torch.float64, not F32"):
        load_model(save_version_1(model, tmp_path / "dtype.nstmodel", **wrong_dtype))
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(save_version_1(model, tmp_path / "sum.nstmodel", checksum="0" * 64))
    odd_palette = {"architecture": {"width": 8, "residual_blocks": 1, "palette": "yes"}}
    with pytest.raises(ModelFileError, match="palette"):
        load_model(save_version_1(model, tmp_path / "palette.nstmodel", **odd_palette))
    odd_photos = {"options": {**model.options, "photos": ["not hex"]}}
    with pytest.raises(ModelFileError, match="fingerprints are damaged"):
        load_model(save_version_1(model, tmp_path / "photos.nstmodel", **odd_photos))


def test_an_old_model_file_loads_warns_once_and_converts_to_the_same_network(
    tmp_path, content, caplog, capsys
):
    old = save_version_1(random_style_model("Old swirls"), tmp_path / "old.nstmodel")
    with caplog.at_level(logging.WARNING, logger="nst_engine.fast.model_file"):
        loaded = load_model(old)
        assert [info.name for info in list_models(tmp_path)] == ["Old swirls"]
        load_model(old)
    warned = [record.getMessage() for record in caplog.records]
    assert warned == [
        f"{old}: a style model file of the old format (version 1); it loads, but convert it "
        f"once with `nst convert-model {old}`"
    ]

    new = tmp_path / "new.nstmodel"
    assert main(["convert-model", str(old), "-o", str(new)]) == 0
    assert f"wrote {new} (model format version 2)" in capsys.readouterr().out
    with safetensors.safe_open(new, "pt") as opened:
        assert opened.metadata()["version"] == "2"
    converted = load_model(new)
    assert (converted.name, converted.options, converted.thumbnail_png) == (
        loaded.name, loaded.options, loaded.thumbnail_png
    )  # fmt: skip
    before, after = apply_model(loaded, content).image, apply_model(converted, content).image
    assert np.array_equal(before, after) and not np.array_equal(before, content)

    assert main(["convert-model", str(old)]) == 0  # in place
    assert old.read_bytes() == new.read_bytes()
    assert main(["convert-model", str(tmp_path / "absent.nstmodel")]) == 1
    assert "absent.nstmodel: no such style model file" in capsys.readouterr().err
    assert len(caplog.records) == 1  # converting an old file does not ask to convert it


def test_listing_reads_the_headers_only_and_loading_checks_the_weights(tmp_path, monkeypatch):
    model = random_style_model("Listed")
    model.save(tmp_path / "listed.nstmodel")
    weights = {k: v.clone() for k, v in model.network.state_dict().items()}
    next(iter(weights.values())).view(-1)[0] += 1.0
    damaged = _rewritten(tmp_path / "listed.nstmodel", tmp_path / "damaged.nstmodel", weights)
    with monkeypatch.context() as patched:
        # no tensor is read while listing: the one way this module reads them fails
        patched.setattr(safetensors.torch, "load", lambda data: pytest.fail("read tensors"))
        listed = list_models(tmp_path)
        assert [info.path.name for info in listed] == ["damaged.nstmodel", "listed.nstmodel"]
        assert read_model_info(damaged).training_size == 64
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(damaged)


def _photo_tensor(name: str) -> torch.Tensor:
    return to_tensor(split_channels(load_image(EXAMPLES / name))[0])


def test_palette_gives_a_photograph_the_paintings_colours_and_keeps_its_structure(starry):
    photo, painting = _photo_tensor("chelsea.png"), to_tensor(split_channels(starry)[0])
    palette = Palette()
    palette.set_style(painting)
    matched = palette(photo)
    want_mean, want_cov = colour_statistics(painting)
    had_mean, had_cov = colour_statistics(photo)
    got_mean, got_cov = colour_statistics(matched)
    print(f"mean colour {had_mean[0].tolist()} -> {got_mean[0].tolist()}, "
          f"painting {want_mean[0].tolist()}")  # fmt: skip
    # Moved toward the painting's statistics: all the way but for the colours that the map
    # sends out of [0, 1] and the clamp brings back...
    assert (got_mean - want_mean).abs().max() < 0.03 < (had_mean - want_mean).abs().max()
    error_before = float((had_cov - want_cov).norm() / want_cov.norm())
    error_after = float((got_cov - want_cov).norm() / want_cov.norm())
    print(f"covariance off by {error_before:.2f} -> {error_after:.2f}")
    assert error_after < 0.5 * error_before
    # ...and exactly where nothing leaves [0, 1]: half the contrast, a little warmer.
    mild_mean, mild_cov = had_mean[0] + torch.tensor([0.04, 0.0, -0.04]), had_cov[0] / 4
    got_mean, got_cov = colour_statistics(match_colours(photo, mild_mean, mild_cov))
    assert torch.allclose(got_mean[0], mild_mean, atol=1e-4)
    assert torch.allclose(got_cov[0], mild_cov, atol=1e-5)
    # ...by a linear map of the colours: the cat keeps its structure.
    assert mean_ssim(matched, photo) > 0.8
    # A photograph given its own statistics is left as it is.
    assert (match_colours(photo, had_mean[0], had_cov[0]) - photo).abs().max() < 1e-3
    # An untrained network with a palette only moves the colours.
    net = TransformerNet(4, 1, palette=True)
    net.palette.set_style(painting)
    assert torch.equal(net(photo), matched)


def test_a_network_trained_with_a_palette_keeps_it_in_its_file(trained, style):
    loaded = load_model(trained.path)
    assert loaded.architecture["palette"] is True
    painting_mean = colour_statistics(to_tensor(split_channels(style)[0]))[0][0]
    assert torch.allclose(loaded.network.palette.mean, painting_mean)
    # Files written before palettes (no entry) load as networks without one.
    path = save_version_1(random_style_model("old"), trained.path.with_name("old.nstmodel"))
    assert "palette" not in torch.load(path, weights_only=True)["architecture"]
    assert load_model(path).network.palette is None


def test_a_model_knows_which_photographs_it_was_trained_on(trained, photos):
    loaded = load_model(trained.path)
    files = find_images(photos)
    # 20 steps of 2 crops draw every one of the six photographs (seeded)
    assert [loaded.trained_on(load_image(f)) for f in files] == [True] * len(files)
    assert len(loaded.options["photos"]) == len(files)
    assert loaded.trained_on(load_image(EXAMPLES / "astronaut.jpg")) is False
    # The photographs were 96-pixel crops: the whole picture is another photograph.
    assert loaded.trained_on(load_image(EXAMPLES / "rocket.jpg")) is False
    assert random_style_model("old").trained_on(load_image(files[0])) is None  # not recorded


def test_palette_batches_pair_each_crop_with_the_same_crop_of_the_matched_photo(photos, starry):
    palette = Palette()
    palette.set_style(to_tensor(split_channels(starry)[0]))
    files = find_images(photos)
    plain = _Batches(files, 32, torch.Generator().manual_seed(4), scale=64)
    painted = _Batches(files, 32, torch.Generator().manual_seed(4), scale=64, palette=palette)
    photo_crops, same = plain.next(3)
    crops, inputs = painted.next(3)
    assert torch.equal(same, photo_crops) and torch.equal(crops, photo_crops)  # same crops
    # The inputs are windows of the whole photograph matched at once (kept beside it as three
    # more channels), not each crop matched on its own.
    for image in painted.cache.values():
        photograph, matched = image[None, :3].float() / 255, image[None, 3:].float() / 255
        # (up to the 8-bit rounding of both, which the map's gain enlarges on these small,
        # flat photographs), while the match moved the colours by far more than that.
        difference = (palette(photograph) - matched).abs().mean()
        moved = (photograph - matched).abs().mean()
        print(f"kept match off by {difference * 255:.2f}/255, moved {moved * 255:.0f}/255")
        assert difference < 3 / 255 and moved > 20 / 255
    per_crop = palette(crops)
    assert not torch.allclose(inputs, per_crop, atol=0.05)
    painting_mean = palette.mean.view(1, 3)
    photo_gap = (crops.mean((2, 3)) - painting_mean).abs().mean()
    input_gap = (inputs.mean((2, 3)) - painting_mean).abs().mean()
    assert input_gap < photo_gap


def test_mask_keeps_outside_pixels_and_alpha_bit_identical(trained, content):
    height, width = content.shape[:2]
    rng = np.random.default_rng(1)
    alpha = rng.integers(0, 256, (height, width, 1), dtype=np.uint8)
    rgba = np.concatenate([content, alpha], axis=2)
    mask = np.zeros((height, width), np.float32)
    mask[10:40, 20:70] = 1.0
    mask[40:50, 20:70] = 0.5
    for image in (rgba, (rgba.astype(np.uint16) * 257), rgba.astype(np.float32) / 255):
        for preserve in (False, True):
            options = StyleOptions(device="cpu", preserve_color=preserve)
            out = apply_model(trained.model, image, mask=mask, options=options).image
            assert out.dtype == image.dtype and out.shape == image.shape
            assert np.array_equal(out[mask == 0], image[mask == 0])
            assert np.array_equal(out[..., 3], image[..., 3])
            inside = mask == 1
            assert not np.array_equal(out[inside][:, :3], image[inside][:, :3])

    empty = apply_model(trained.model, rgba, mask=np.zeros((height, width), np.float32))
    assert np.array_equal(empty.image, rgba)


def test_list_models_reads_a_style_library(tmp_path, trained):
    (tmp_path / "starry.nstmodel").write_bytes(trained.path.read_bytes())
    (tmp_path / "damaged.nstmodel").write_bytes(b"garbage")
    (tmp_path / "other.txt").write_text("ignored")
    models = list_models(tmp_path)
    assert [(m.name, m.training_size, m.steps) for m in models] == [("starry", 32, 20)]
    assert models[0].thumbnail_png.startswith(b"\x89PNG")
    with pytest.raises(InputError, match="no such style library folder"):
        list_models(tmp_path / "absent")


def test_find_images_refuses_a_folder_without_images(tmp_path, photos):
    assert len(find_images(photos)) == 6  # the text file and the broken PNG are skipped
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="no readable training images"):
        find_images(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        find_images(tmp_path / "absent")


def test_network_takes_any_size_and_starts_as_identity():
    net = TransformerNet(4, 1)
    x = torch.rand(1, 3, 37, 50)
    assert torch.equal(net(x), x)
    assert isinstance(
        FastStyleModel(net, "n", b"", {}, {"width": 4, "residual_blocks": 1}).render(x),
        torch.Tensor,
    )


@pytest.mark.slow
def test_cli_train_style_then_stylize_with_the_model(tmp_path, photos, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(["train-style", str(EXAMPLES / "starry_night.jpg"), "--images", str(empty),
                 "-o", str(tmp_path / "x.nstmodel")])  # fmt: skip
    assert code == 1
    assert "no readable training images" in capsys.readouterr().err

    # The real command, as a user runs it: Ctrl-C saves a checkpoint, a second run resumes.
    model = tmp_path / "starry.nstmodel"
    argv = [
        sys.executable, "-m", "nst_engine.cli", "train-style", EXAMPLES / "starry_night.jpg",
        "--images", photos, "-o", model, "--size", "32", "--batch-size", "1", "--width", "4",
        "--checkpoint-every", "1",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [*map(str, argv), "--steps", "500"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not checkpoint_path(model).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    stopped = re.search(r"training stopped at step (\d+)/500; checkpoint saved", stderr)
    assert stopped and "Traceback" not in stderr, stderr
    assert checkpoint_path(model).exists() and not model.exists()

    step = int(stopped.group(1))
    run = subprocess.run(
        [*map(str, argv), "--steps", str(step + 1)], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr
    assert "resuming from" in run.stderr
    assert f"wrote {model}" in run.stdout and f"{step + 1} steps at 32 px" in run.stdout
    assert not checkpoint_path(model).exists()
    assert load_model(model).name == "starry_night"

    content = tmp_path / "content.png"
    save_image(content, load_image(EXAMPLES / "chelsea.png")[:64, :80])
    out = tmp_path / "out.png"
    assert main(["stylize", str(content), "--model", str(model), "-o", str(out)]) == 0
    assert "fast:starry_night" in capsys.readouterr().out
    assert load_image(out).shape == (64, 80, 3)

    style = str(EXAMPLES / "starry_night.jpg")
    both = ["stylize", str(content), style, "--model", str(model), "-o", str(out)]
    neither = ["stylize", str(content), "-o", str(out)]
    for argv, says in ((both, "--model MODEL, not both"), (neither, "give a STYLE image after")):
        assert main(argv) == 1
        assert says in capsys.readouterr().err

    bad = tmp_path / "bad.nstmodel"
    bad.write_bytes(b"nonsense")
    assert main(["stylize", str(content), "--model", str(bad), "-o", str(out)]) == 1
    assert "not a style model file" in capsys.readouterr().err


def test_crops_of_photos_scaled_larger_are_windows_at_that_scale(photos):
    files = find_images(photos)
    whole = _Batches(files, 32, torch.Generator().manual_seed(0))
    window = _Batches(files, 32, torch.Generator().manual_seed(0), scale=96)
    assert whole.next(2)[0].shape == window.next(2)[0].shape == (2, 3, 32, 32)
    assert {min(image.shape[-2:]) for image in whole.cache.values()} == {32}
    assert {min(image.shape[-2:]) for image in window.cache.values()} == {96}
    with pytest.raises(InputError, match="scale"):
        TrainOptions(size=64, scale=32).validate()
