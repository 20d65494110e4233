"""The style gallery: public-domain paintings shipped with the package, usable by name from
`nst stylize`, the server and its clients; each one credited."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from nst_proto.client import StyleClient
from nst_proto.job import JobFailed, JobRequest
from test_server_e2e import free_port

from nst_engine import gallery
from nst_engine.cli import main as nst
from nst_engine.images import load_image
from nst_engine.metrics import gram_differences, mean_gram_difference

README = Path(gallery.__file__).with_name("README.md").read_text()
EXAMPLES_README = (Path(__file__).resolve().parent.parent / "examples" / "README.md").read_text()


def test_the_gallery_has_eight_paintings_beside_the_examples_of_four_kinds_all_credited():
    own = [p for p in gallery.PAINTINGS if p.package == gallery.__name__]
    assert len(own) >= 8 and len(gallery.PAINTINGS) == len(set(gallery.names()))
    kinds = {p.kind.split()[0].rstrip(",") for p in gallery.PAINTINGS}
    assert {"strokes", "flat", "line", "texture", "abstract"} <= kinds
    for painting in gallery.PAINTINGS:
        image = load_image(painting.read_bytes(), name=painting.name)
        assert max(image.shape[:2]) >= 400 and image.shape[2] == 3, painting.name
        credits = README if painting.package == gallery.__name__ else EXAMPLES_README
        assert painting.file in credits and painting.artist.split()[-1] in credits


def test_a_file_wins_over_a_name_and_names_ignore_case(tmp_path, monkeypatch):
    assert gallery.resolve("Great-Wave ").name == "great-wave"
    assert gallery.resolve("no-such-painting") is None
    monkeypatch.chdir(tmp_path)
    (tmp_path / "great-wave").write_bytes(b"a file of the user's")
    assert gallery.resolve("great-wave") is None


def _stylize(tmp_path, style: str, name: str) -> np.ndarray:
    out = tmp_path / name
    args = ["stylize", str(tmp_path / "content.png"), style, "-o", str(out), "--iterations", "40"]
    assert nst([*args, "--device", "cpu", "--seed", "7"]) == 0
    return load_image(out)


@pytest.mark.slow
def test_nst_stylize_takes_a_painting_by_name(tmp_path, capsys):
    content = load_image(Path(__file__).resolve().parent.parent / "examples" / "chelsea.png")
    from PIL import Image

    Image.fromarray(content[::4, ::4]).save(tmp_path / "content.png")
    painting = gallery.find("great-wave")
    (tmp_path / "wave.png").write_bytes(painting.read_bytes())
    by_name = _stylize(tmp_path, "great-wave", "by-name.png")
    by_file = _stylize(tmp_path, str(tmp_path / "wave.png"), "by-file.png")
    assert np.array_equal(by_name, by_file)
    wave = load_image(painting.read_bytes())
    before = mean_gram_difference(gram_differences(content[::4, ::4], wave))
    after = mean_gram_difference(gram_differences(by_name, wave))
    assert after < 0.8 * before, (before, after)


def test_an_unknown_style_is_one_line_before_any_work(tmp_path, capsys):
    started = time.perf_counter()
    code = nst(["stylize", "examples/chelsea.png", "great-wav", "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and time.perf_counter() - started < 5
    assert err.count("\n") == 0 and "nst styles" in err and "great-wav" in err


def test_the_server_lists_and_takes_a_painting_by_name_and_refuses_an_unknown_one():
    from nst_server.app import StyleServer

    content = np.random.default_rng(0).integers(0, 256, (40, 56, 3), np.uint8)
    painting = gallery.find("composition-viii")
    srv = StyleServer(f"127.0.0.1:{free_port()}", device="cpu", warm=False)
    srv.start()
    try:
        with StyleClient(srv.address, 300) as client:

            def run(style):
                request = JobRequest(
                    content.tobytes(), 56, 40, 3, "u8", [(style, 1.0)],
                    options={"iterations": 3, "seed": 5},
                )  # fmt: skip
                return client.stylize(request).pixels

            assert client.info().gallery == gallery.names()  # what the GIMP dialog offers
            assert run(painting.name) == run(painting.read_bytes())
            with pytest.raises(JobFailed) as refused:
                run("mona-lisa")
    finally:
        srv.stop(grace=1)
    assert refused.value.code == "INVALID_ARGUMENT"
    assert "'mona-lisa' is not a painting of the gallery" in str(refused.value)
    assert "great-wave" in str(refused.value)


def test_the_shipped_networks_are_model_files_of_the_current_format():
    """A shipped network is read from its header when the library is listed: each one is a
    safetensors model file of the current version, and loads."""
    import safetensors

    from nst_engine.fast import MODEL_VERSION, load_model

    shipped = sorted(gallery.network_folder().glob("*.nstmodel"))
    assert shipped
    for path in shipped:
        with safetensors.safe_open(path, "pt") as opened:
            assert opened.metadata()["version"] == str(MODEL_VERSION), path.name
        assert load_model(path).name
