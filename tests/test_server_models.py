"""Fast mode through the server: `nst-server serve --models DIR` lists the style library's
trained networks, a job naming one returns what the local engine returns (masks included),
bad names and mixed requests get actionable INVALID_ARGUMENT, and `nst stylize --model NAME
--server ADDRESS` works end to end."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
from fast_models import random_style_model
from nst_proto import style_pb2 as pb
from nst_proto import style_pb2_grpc as pb_grpc
from nst_proto.client import StyleClient
from nst_proto.job import JobFailed, JobRequest
from PIL import Image
from test_server_e2e import EXAMPLES, as_array, serving

from nst_engine import apply_model, gallery
from nst_engine.fast import load_model
from nst_engine.images import load_image, save_image
from nst_engine.options import StyleOptions

# The networks that ship with the gallery: a server offers them beside its library's own.
SHIPPED = sorted(path.stem for path in gallery.network_folder().glob("*.nstmodel"))


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("library")
    random_style_model("Tiny swirls", 1).save(folder / "tiny.nstmodel")
    (folder / "broken.nstmodel").write_bytes(b"not a model")
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory, library):
    folder = tmp_path_factory.mktemp("server")
    with serving(folder, "--models", str(library), "--no-warm-up") as served:
        yield served["address"]


@pytest.fixture(scope="module")
def content() -> np.ndarray:
    from nst_engine.arrays import resized

    return resized(load_image(EXAMPLES / "chelsea.png"), 64)


def _run(address: str, image: np.ndarray, model: str, mask: bytes | None = None):
    with StyleClient(address, 120) as client:
        return client.stylize(
            JobRequest(
                image.tobytes(), image.shape[1], image.shape[0], image.shape[2], "u8",
                mask=mask, model=model,
            )
        )  # fmt: skip


def test_list_models_shows_the_library_and_skips_damaged_files(server, library):
    with StyleClient(server, 60) as client:
        models = client.list_models()
        info = client.info()
    assert sorted(m.id for m in models) == sorted(["tiny", *SHIPPED])
    tiny = next(m for m in models if m.id == "tiny")
    assert tiny.name == "Tiny swirls" and tiny.training_size == 64 and tiny.steps == 3
    assert tiny.strength == 0.5
    assert Image.open(io.BytesIO(tiny.thumbnail_png)).size == (16, 16)
    assert info.model_folder == str(library)


def test_model_job_equals_the_local_engine_and_keeps_unmasked_pixels(server, library, content):
    mask = np.zeros(content.shape[:2], np.uint8)
    mask[:, : content.shape[1] // 2] = 255
    local_model = load_model(library / "tiny.nstmodel")
    expected = apply_model(local_model, content, options=StyleOptions(device="cpu")).image
    got = as_array(_run(server, content, "tiny"))
    assert np.abs(got.astype(int) - content.astype(int)).mean() > 2  # it did style
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1

    masked = as_array(_run(server, content, "tiny", mask=mask.tobytes()))
    right = slice(content.shape[1] // 2, None)
    assert np.array_equal(masked[:, right], content[:, right])
    assert np.abs(masked[:, : content.shape[1] // 2].astype(int) - content[:, :32]).mean() > 2


def test_an_unknown_model_names_the_library_and_what_it_has(server, library, content):
    with pytest.raises(JobFailed) as failure:
        _run(server, content, "starry")
    assert failure.value.code == "INVALID_ARGUMENT"
    assert "'starry'" in failure.value.message and str(library) in failure.value.message
    assert f"available: {', '.join(sorted([*SHIPPED, 'tiny']))})" in failure.value.message


def test_a_job_with_both_a_model_and_style_images_is_refused(server, content):
    spec = pb.JobSpec(
        width=content.shape[1],
        height=content.shape[0],
        channels=3,
        sample_type=pb.SAMPLE_TYPE_U8,
        styles=[pb.StyleSpec(weight=1.0, byte_size=10)],
        model="tiny",
    )
    channel = grpc.insecure_channel(server)
    try:
        call = pb_grpc.StyleServiceStub(channel).Stylize(
            iter([pb.StylizeRequest(spec=spec)]), timeout=30
        )
        with pytest.raises(grpc.RpcError) as failure:
            list(call)
    finally:
        channel.close()
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "one or the other" in failure.value.details()


def test_nst_stylize_with_a_library_model_through_the_server(server, library, tmp_path):
    content_path = tmp_path / "content.png"
    save_image(content_path, load_image(EXAMPLES / "chelsea.png")[:48, :64])
    out = tmp_path / "out.png"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nst_server.frontend",
            "stylize",
            str(content_path),
            "--model",
            "tiny",
        ]
        + ["-o", str(out), "--server", server],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    local_model = load_model(library / "tiny.nstmodel")
    expected = apply_model(local_model, load_image(content_path)).image
    assert np.abs(load_image(out).astype(int) - expected.astype(int)).max() <= 1

    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "nst_server.frontend",
            "stylize",
            str(content_path),
            "--model",
            "nope",
        ]
        + ["-o", str(tmp_path / "x.png"), "--server", server],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode != 0
    available = re.search(r"available: ([^)]*)\)", missing.stderr)
    assert available and sorted(available[1].split(", ")) == sorted(["tiny", *SHIPPED])
    assert not (tmp_path / "x.png").exists()


def test_nst_server_models_lists_the_library(server, library):
    done = subprocess.run(
        [sys.executable, "-m", "nst_server", "models", "--address", server],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"style library {library}: {1 + len(SHIPPED)} model(s)" in done.stdout
    assert "tiny" in done.stdout and "Tiny swirls (trained at 64 px, 3 steps)" in done.stdout


def test_shipped_networks_are_offered_out_of_the_box_and_a_users_own_file_wins(tmp_path):
    from nst_server.library import StyleLibrary

    shipped, mine = tmp_path / "shipped", tmp_path / "mine"
    shipped.mkdir()
    random_style_model("Starry Night", seed=1).save(shipped / "starry-night.nstmodel")
    random_style_model("The Kiss", seed=2).save(shipped / "the-kiss.nstmodel")
    library = StyleLibrary(mine, shipped=shipped)  # a fresh install: the user's folder is empty
    assert [info.path.stem for info in library.list()] == ["starry-night", "the-kiss"]
    assert library.get("the-kiss").name == "The Kiss"

    mine.mkdir()
    random_style_model("My Kiss", seed=3).save(mine / "the-kiss.nstmodel")
    listed = {info.path.stem: info.name for info in library.list()}
    assert listed == {"starry-night": "Starry Night", "the-kiss": "My Kiss"}
    assert library.get("the-kiss").name == "My Kiss"
    assert StyleLibrary(mine).shipped.parts[-2:] == ("gallery", "networks")


def test_a_fresh_install_offers_the_shipped_networks_as_instant_styles(tmp_path):
    """A new user's library folder does not exist yet; the dialog still lists the gallery's
    trained networks, each labelled as its painting and instant."""
    from test_plugin_core import dialog

    assert "starry-night" in SHIPPED, "no network ships for starry-night"
    with serving(tmp_path, "--models", str(tmp_path / "new"), "--no-warm-up") as served:
        with StyleClient(served["address"], 60) as client:
            models, paintings = client.list_models(), client.gallery()
    assert sorted(model.id for model in models) == SHIPPED
    choices = dict(dialog.style_choices(paintings, dialog.model_labels(models)))
    assert choices["model:starry-night"] == "The Starry Night, Vincent van Gogh, instant"
