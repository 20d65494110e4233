"""The plug-in inside a real GIMP 3.0.4 and 3.2, headless (gimp-console batch runs)."""

from __future__ import annotations

import json
import stat

import numpy as np
import png
import pytest
from gimp_helpers import (
    REPO,
    _report,
    colour_distance,
    free_port,
    load_raw,
    run_stylize,
)
from PIL import Image

# Slow: each test runs the plug-in in a real GIMP, built into its Debian root once.
pytestmark = [pytest.mark.gimp, pytest.mark.slow]

W, H = 64, 48

QUERY = """
import json
proc = Gimp.get_pdb().lookup_procedure("plug-in-neural-style")
out = {"found": proc is not None}
if proc is not None:
    out["menu_paths"] = list(proc.get_menu_paths())
    out["menu_label"] = proc.get_menu_label()
    out["image_types"] = proc.get_image_types()
    out["arguments"] = [spec.name for spec in proc.get_arguments()]
open(%r, "w").write(json.dumps(out))
"""


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A smooth 8-bit content image, a 16-bit RGBA one, and a small crop of Starry Night."""
    folder = tmp_path_factory.mktemp("gimp-images")
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    base = np.stack(
        [
            0.47 + 0.2 * np.sin(x / 9.0),
            0.43 + 0.2 * np.cos(y / 7.0),
            0.39 + 0.15 * np.sin((x + y) / 11.0),
        ],
        -1,
    )
    content8 = np.clip(base * 255, 0, 255).round().astype(np.uint8)
    Image.fromarray(content8).save(folder / "content.png")
    alpha = np.full((H, W), 65535, np.uint16)
    alpha[:, : W // 4] = 40000
    content16 = np.dstack([np.clip(base * 65535, 0, 65535).round().astype(np.uint16), alpha])
    with open(folder / "content16.png", "wb") as fh:
        png.Writer(W, H, bitdepth=16, greyscale=False, alpha=True).write(
            fh, content16.reshape(H, W * 4).tolist()
        )
    style = Image.open(REPO / "examples" / "starry_night.jpg").convert("RGB")
    style.thumbnail((96, 96))
    style.save(folder / "starry_night.png")
    return {
        "content": folder / "content.png",
        "content16": folder / "content16.png",
        "style": folder / "starry_night.png",
        "content8": content8,
        "content16_array": content16,
        "style_array": np.asarray(style),
    }


def test_installer_puts_a_registered_plugin_in_gimp(gimp_root, installed):
    plugin_dir = installed["plugin_dir"]
    plugin = plugin_dir / "neural_style.py"
    assert plugin.is_file() and plugin.stat().st_mode & stat.S_IXUSR, "no run bit"
    assert plugin.read_text().startswith("#!/usr/bin/env python3")
    assert (plugin_dir / "neural_style_core.py").is_file()
    assert (plugin_dir / "nst_proto" / "pure_client.py").is_file()
    assert not (plugin_dir / "nst_proto" / "client.py").exists(), "the grpcio client stays out"
    assert (plugin_dir / "vendor.zip").is_file()
    assert f"GIMP {gimp_root.minor} (Linux" in installed["output"]
    assert str(plugin_dir) in installed["output"]

    # GIMP's own Python (3.13 in 3.0, 3.14 in 3.2) loads the transport the way the plug-in does
    inside = f"{installed['config_in']}/plug-ins/neural_style"
    probe = gimp_root.run(
        "python3",
        "-c",
        f"import sys; sys.path[:0] = [{inside!r}]; import neural_style_core as core; "
        "t = core.load_transport(); "
        "from google.protobuf.internal import api_implementation as api; "
        "print(sys.version.split()[0], t.__name__, api.Type(), t.StyleClient.__name__)",
    )
    _report(f"GIMP's python3 loads the transport: {probe.output.strip()}")
    assert probe.returncode == 0, probe.output
    assert probe.output.split()[:3] == [
        gimp_root.python_version,
        "nst_proto.pure_client",
        "python",
    ]

    work = gimp_root.workdir("query")
    script_host, script_in = work.path("query.py")
    result_host, result_in = work.path("query.json")
    script_host.write_text(QUERY % result_in)
    batch = gimp_root.batch(installed["home_in"], script_in, timeout=120)
    _report(f"registration query: exit {batch.returncode} in {batch.seconds:.1f} s")
    assert batch.returncode == 0, batch.output[-3000:]
    info = json.loads(result_host.read_text())
    _report(f"registered: {info}")
    assert info["found"], "GIMP did not register plug-in-neural-style"
    # GIMP 3.2 reports the path without its trailing slash
    assert [path.rstrip("/") for path in info["menu_paths"]] == ["<Image>/Filters"]
    assert info["menu_label"] == "Neural _Style..."
    for name in (
        "style-file",
        "style-model",
        "style-name",
        "strength",
        "quality",
        "size",
        "style-scale",
        "method",
        "preserve-color",
        "server",
        "iterations",
        "seed",
        "timeout",
    ):
        assert name in info["arguments"]


def test_a_plugin_installed_for_3_0_still_works_once_gimp_3_2_copied_it(gimp_root, server, images):
    """The upgrade a user makes: the plug-in was installed for GIMP 3.0; GIMP 3.2's first start
    copies the 3.0 folder. With the pure-Python transport the copy runs in 3.2's Python 3.14
    (the grpcio built for 3.13 that used to be copied did not import)."""
    if gimp_root.minor == "3.0":
        pytest.skip("GIMP 3.0 has no older 3.x folder to copy")
    from nst_server.gimp_install import GimpInstallation, install

    home = gimp_root.workdir("upgrade")
    install(GimpInstallation("linux", "3.0", home.host / ".config/GIMP/3.0"), log=_report)
    first = gimp_root.run(
        "timeout", "180", "gimp-console", "-i", "--quit", env={"HOME": home.inside}, timeout=210
    )
    copied = home.host / f".config/GIMP/{gimp_root.minor}"
    assert (copied / "plug-ins/neural_style/neural_style.py").is_file(), first.output[-2000:]
    (copied / "gimprc").write_text(gimp_root.gimprc())
    params = {"fmt": "R'G'B' u8", "ellipse": [10, 6, 44, 34], "args": {
        "strength": 1.0, "iterations": 2, "quality": "draft", "size": 0,
        "server": server["address"], "timeout": 300}}  # fmt: skip
    result, batch, _work = run_stylize(
        gimp_root,
        {"home_in": home.inside},
        params,
        {"content": images["content"], "style": images["style"]},
    )
    _report(f"GIMP {gimp_root.version} with the plug-in copied from 3.0: {result['status']}")
    assert batch.returncode == 0, batch.output[-3000:]
    assert result["status"] == "success", result["message"]
    assert [layer["name"] for layer in result["layers"]][0] == "starry_night (Neural Style)"


def test_feathered_selection_gives_a_new_styled_layer(gimp_root, installed, server, images):
    params = {
        "fmt": "R'G'B' u8",
        "canvas": [80, 60, 8, 6],  # the layer sits at offsets (8, 6) on a larger canvas
        "ellipse": [14, 8, 52, 40],  # image coordinates
        "feather": 6.0,
        "args": {
            "strength": 1.0,
            "iterations": 40,
            "quality": "draft",
            "size": 0,
            "server": server["address"],
            "timeout": 300,
        },
    }
    result, batch, work = run_stylize(
        gimp_root, installed, params, {"content": images["content"], "style": images["style"]}
    )
    assert batch.returncode == 0, batch.output[-3000:]
    assert result["status"] == "success", result["message"]
    names = [layer["name"] for layer in result["layers"]]
    assert names == ["starry_night (Neural Style)", result["source"]["name"]]
    new, source = result["layers"]
    assert source["is_source"] and not new["is_source"]
    assert new["offsets"] == source["offsets"] == [8, 6]
    assert new["size"] == source["size"] == [W, H]

    before = load_raw(work.host / "source_before.raw", (H, W, 3), np.uint8)
    mask = load_raw(work.host / "mask.raw", (H, W), np.uint8)
    styled = load_raw(work.host / "layer0.raw", (H, W, 3), np.uint8)
    after = load_raw(work.host / "layer1.raw", (H, W, 3), np.uint8)
    assert np.array_equal(before, images["content8"]), "GIMP did not load the image as written"
    assert np.array_equal(after, before), "the source layer changed"
    outside, inside = mask == 0, mask == 255
    assert outside.sum() > 300 and inside.sum() > 300 and ((mask > 0) & (mask < 255)).any()
    assert np.array_equal(styled[outside], before[outside]), "pixels outside the selection moved"
    d_source = colour_distance(before[inside], images["style_array"])
    d_styled = colour_distance(styled[inside], images["style_array"])
    changed = np.abs(styled[inside].astype(int) - before[inside]).mean()
    _report(
        f"8-bit: {outside.sum()} px outside identical; inside: mean change {changed:.1f}/255, "
        f"colour distance to the style {d_source:.4f} -> {d_styled:.4f}; "
        f"procedure ran {result['seconds']} s"
    )
    assert changed > 2.0
    assert d_styled < 0.9 * d_source, "the selection did not move toward the style"
    assert_preview_came_and_went(result, layers_before=1)


def assert_preview_came_and_went(result: dict, layers_before: int) -> None:
    """During the job a preview layer sat above the source; after it, it is gone and the
    image's undo is enabled again (it was frozen while the preview was shown)."""
    shown = [t for t in result["trace"] if t["what"] == "preview"]
    removed = [t for t in result["trace"] if t["what"] == "preview removed"]
    assert shown, f"no preview layer during the job: {result['trace']}"
    assert {t["layers"] for t in shown} == {layers_before + 1}
    assert [t["layers"] for t in removed] == [layers_before]
    assert result["trace"][-1]["what"] == "preview removed"
    assert "Neural Style preview" not in [layer["name"] for layer in result["layers"]]
    assert result["undo_enabled"]


def _colour_distance_to_painting(gimp_root, installed, images, args, painting):
    """Run the plug-in with `args` on the test photograph; the new layer's colour distance to
    the gallery painting `painting`, before and after (the layer must be named for it)."""
    from nst_engine import gallery
    from nst_engine.images import load_image

    params = {"fmt": "R'G'B' u8", "args": args}
    result, batch, work = run_stylize(
        gimp_root, installed, params, {"content": images["content"], "style": images["style"]}
    )
    assert batch.returncode == 0 and result["status"] == "success", result["message"]
    assert [layer["name"] for layer in result["layers"]][0] == f"{painting} (Neural Style)"
    styled = load_raw(work.host / "layer0.raw", (H, W, 3), np.uint8)
    target = load_image(gallery.find(painting).read_bytes())
    return colour_distance(images["content8"], target), colour_distance(styled, target)


def test_a_gallery_painting_by_name_styles_the_layer(gimp_root, installed, server, images):
    args = {
        "style-name": "great-wave",
        "strength": 1.0,
        "iterations": 30,
        "quality": "draft",
        "server": server["address"],
        "timeout": 300,
    }
    before, after = _colour_distance_to_painting(gimp_root, installed, images, args, "great-wave")
    _report(f"gallery by name: colour distance to the Great Wave {before:.4f} -> {after:.4f}")
    assert after < 0.9 * before, "the layer did not move toward the named painting"


def test_the_network_that_ships_for_a_gallery_painting_styles_the_layer(
    gimp_root, installed, server, images
):
    """A fresh install's instant style: the server offers the gallery's trained networks
    beside its library's own, and the plug-in runs one by its id."""
    from nst_engine import gallery

    assert gallery.network("starry-night") is not None, "no network ships for starry-night"
    args = {"style-model": "starry-night", "server": server["address"], "timeout": 120}
    before, after = _colour_distance_to_painting(gimp_root, installed, images, args, "starry-night")
    _report(f"shipped network: colour distance to The Starry Night {before:.4f} -> {after:.4f}")
    assert after < 0.5 * before, "the layer did not take the painting's colours"


def test_a_style_model_from_the_server_library_styles_the_selection(
    gimp_root, installed, server, images
):
    params = {
        "fmt": "R'G'B' u8",
        "ellipse": [10, 6, 44, 34],
        "args": {"style-model": "tiny", "server": server["address"], "timeout": 120},
    }
    result, batch, work = run_stylize(
        gimp_root, installed, params, {"content": images["content"], "style": images["style"]}
    )
    assert batch.returncode == 0, batch.output[-3000:]
    assert result["status"] == "success", result["message"]
    assert [layer["name"] for layer in result["layers"]] == [
        "tiny (Neural Style)",
        result["source"]["name"],
    ]
    before = load_raw(work.host / "source_before.raw", (H, W, 3), np.uint8)
    mask = load_raw(work.host / "mask.raw", (H, W), np.uint8)
    styled = load_raw(work.host / "layer0.raw", (H, W, 3), np.uint8)
    outside, inside = mask == 0, mask == 255
    assert outside.sum() > 300 and inside.sum() > 300
    assert np.array_equal(styled[outside], before[outside]), "pixels outside the selection moved"
    changed = np.abs(styled[inside].astype(int) - before[inside]).mean()
    _report(f"style model: mean change inside {changed:.1f}/255 in {result['seconds']} s")
    assert changed > 2.0


def test_16_bit_image_round_trips_at_16_bits(gimp_root, installed, server, images):
    params = {
        "fmt": "R'G'B'A u16",
        "ellipse": [8, 6, 48, 36],
        "feather": 4.0,
        "args": {
            "strength": 1.0,
            "iterations": 4,
            "quality": "draft",
            "size": 0,
            "server": server["address"],
            "timeout": 300,
        },
    }
    result, batch, work = run_stylize(
        gimp_root, installed, params, {"content": images["content16"], "style": images["style"]}
    )
    assert batch.returncode == 0, batch.output[-3000:]
    assert result["status"] == "success", result["message"]
    assert result["precision"] == "GIMP_PRECISION_U16_NON_LINEAR"
    assert result["precision_after"] == result["precision"]
    assert [layer["has_alpha"] for layer in result["layers"]] == [True, True]
    before = load_raw(work.host / "source_before.raw", (H, W, 4), np.uint16)
    mask = load_raw(work.host / "mask.raw", (H, W), np.uint8)
    styled = load_raw(work.host / "layer0.raw", (H, W, 4), np.uint16)
    after = load_raw(work.host / "layer1.raw", (H, W, 4), np.uint16)
    assert np.array_equal(before, images["content16_array"]), "GIMP changed the 16-bit values"
    assert np.array_equal(after, before)
    outside, inside = mask == 0, mask > 0
    assert np.array_equal(styled[outside], before[outside]), "16-bit pixels outside moved"
    assert np.array_equal(styled[..., 3], before[..., 3]), "alpha must be carried through"
    rgb = styled[inside][:, :3]
    not_8bit = float(np.mean(rgb % 257 != 0))
    changed = np.abs(rgb.astype(int) - before[inside][:, :3]).mean()
    _report(
        f"16-bit: {outside.sum()} px outside identical at 16 bits, alpha identical; inside "
        f"mean change {changed:.0f}/65535, {not_8bit:.0%} of values are not 8-bit levels"
    )
    assert changed > 256
    assert not_8bit > 0.5, "the result was quantised to 8 bits on the way"


def test_float_image_travels_as_float(gimp_root, installed, server, images):
    """A 32-bit float linear image: read and written as float32 in its own (linear) TRC."""
    params = {
        "fmt": "RGB float",
        "precision": "FLOAT_LINEAR",
        "ellipse": [8, 6, 48, 36],
        "feather": 4.0,
        "args": {
            "strength": 1.0,
            "iterations": 4,
            "quality": "draft",
            "size": 0,
            "server": server["address"],
            "timeout": 300,
        },
    }
    result, batch, work = run_stylize(
        gimp_root, installed, params, {"content": images["content"], "style": images["style"]}
    )
    assert batch.returncode == 0, batch.output[-3000:]
    assert result["status"] == "success", result["message"]
    assert result["precision"] == result["precision_after"] == "GIMP_PRECISION_FLOAT_LINEAR"
    before = load_raw(work.host / "source_before.raw", (H, W, 3), np.float32)
    mask = load_raw(work.host / "mask.raw", (H, W), np.uint8)
    styled = load_raw(work.host / "layer0.raw", (H, W, 3), np.float32)
    after = load_raw(work.host / "layer1.raw", (H, W, 3), np.float32)
    assert np.array_equal(after, before)
    outside, inside = mask == 0, mask > 0
    assert np.array_equal(styled[outside], before[outside]), "float pixels outside moved"
    changed = float(np.abs(styled[inside] - before[inside]).mean())
    levels = float(np.mean(np.abs(styled[inside] * 255 - np.round(styled[inside] * 255)) > 1e-3))
    _report(
        f"float: {outside.sum()} px outside bit-identical; inside mean change {changed:.4f}; "
        f"{levels:.0%} of values off the 8-bit grid"
    )
    assert changed > 0.005
    assert levels > 0.5, "the float result was quantised on the way"


def test_a_job_cut_off_by_its_timeout_leaves_no_preview_and_no_layer(
    gimp_root, installed, server, images
):
    params = {
        "fmt": "R'G'B' u8",
        "args": {"server": server["address"], "timeout": 6, "iterations": 5000},
    }
    result, batch, _work = run_stylize(
        gimp_root, installed, params, {"content": images["content"], "style": images["style"]}
    )
    _report(f"timeout: {result['status']} after {result['seconds']} s: {result['message']!r}")
    assert batch.returncode == 0
    assert result["status"] == "execution-error" and "gave up after 6 s" in result["message"]
    assert [layer["name"] for layer in result["layers"]] == [result["source"]["name"]]
    assert_preview_came_and_went(result, layers_before=1)


def test_server_down_and_not_startable_gives_an_error(gimp_root, installed, images):
    settings_path = installed["plugin_dir"] / "neural_style.json"
    saved = settings_path.read_text()
    # The recorded start command is a host path that does not exist in GIMP's root, and there
    # is no nst-server on GIMP's PATH: the plug-in cannot start the server.
    settings_path.write_text(json.dumps({"server_command": ["/nonexistent/bin/nst-server"]}))
    address = f"127.0.0.1:{free_port()}"
    params = {
        "fmt": "R'G'B' u8",
        "args": {"server": address, "timeout": 60, "iterations": 2},
    }
    try:
        result, batch, _work = run_stylize(
            gimp_root,
            installed,
            params,
            {"content": images["content"], "style": images["style"]},
            timeout=120,
        )
    finally:
        settings_path.write_text(saved)
    _report(
        f"server down: status {result['status']} after {result.get('seconds')} s, "
        f"message: {result['message']!r}"
    )
    assert batch.returncode == 0, "GIMP did not exit cleanly"
    assert batch.seconds < 90
    assert result["status"] == "execution-error"
    assert f"nst-server start --address {address}" in result["message"]
    assert len(result["layers"]) == 1, "no layer may be added on failure"
