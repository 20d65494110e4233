"""GIMP layers as an animation's frames, in the real GUI GIMP (3.0.4 and 3.2) under Xvfb: a
six-layer image (six frames of a street video) with a feathered selection, styled with
"Apply to: All layers as frames" through the real server, gets six new layers in the frames'
order, one undo step (a real Ctrl+Z, as GIMP 3 has no PDB procedure for undo), and outside
the selection every frame's pixels are its source's; "All layers, each alone" the same, each
frame styled on its own."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

import numpy as np
import pytest
from gimp_helpers import REPO, _report, load_raw, wait_file
from PIL import Image

pytestmark = [pytest.mark.gimp, pytest.mark.slow]

N, W, H = 6, 96, 72

SCRIPT = r"""
import json, time
P = PARAMS
def dump(layer, path):
    data = layer.get_buffer().get(Gegl.Rectangle.new(0, 0, layer.get_width(),
        layer.get_height()), 1.0, "R'G'B' u8", Gegl.AbyssPolicy.NONE)
    open(path, "wb").write(bytes(data))
img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(P["frames"][0]))
Gimp.Display.new(img)
img.get_layers()[0].set_name(P["names"][0])
for path, name in zip(P["frames"][1:], P["names"][1:]):
    layer = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, img, Gio.File.new_for_path(path))
    layer.set_name(name)
    img.insert_layer(layer, None, 0)  # each frame above the one before: the bottom plays first
for index, layer in enumerate(reversed(img.get_layers())):
    dump(layer, P["dir"] + "/source%d.raw" % index)
img.select_ellipse(Gimp.ChannelOps.REPLACE, *P["ellipse"])
Gimp.Selection.feather(img, P["feather"])
def selection():
    return bytes(img.get_selection().get_buffer().get(Gegl.Rectangle.new(0, 0,
        img.get_width(), img.get_height()), 1.0, "Y u8", Gegl.AbyssPolicy.NONE))
mask = selection()
open(P["dir"] + "/mask.raw", "wb").write(mask)
Gimp.displays_flush()
proc = Gimp.get_pdb().lookup_procedure("plug-in-neural-style")
cfg = proc.create_config()
cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
cfg.set_property("image", img)
cfg.set_core_object_array("drawables", [img.get_layers()[0]])
cfg.set_property("style-file", Gio.File.new_for_path(P["style"]))
for key, value in P["args"].items():
    cfg.set_property(key, value)
started = time.monotonic()
res = proc.run(cfg)
layers = img.get_layers()
for index, layer in enumerate(layers):
    dump(layer, P["dir"] + "/after%d.raw" % index)
ran = {"status": res.index(0).value_nick, "seconds": round(time.monotonic() - started, 1),
       "message": str(res.index(1)) if res.length() > 1 else None,
       "layers": [l.get_name() for l in layers],
       "offsets": [list(l.get_offsets()[1:]) for l in layers],
       "undo_enabled": img.undo_is_enabled()}
open(P["dir"] + "/ran.json", "w").write(json.dumps(ran))
deadline = time.monotonic() + 60  # until the test's Ctrl+Z undid something
while time.monotonic() < deadline and len(img.get_layers()) == len(layers) and (
        selection() == mask):
    time.sleep(0.2)
time.sleep(1.0)
final = {"layers": [l.get_name() for l in img.get_layers()],
         "selection_empty": Gimp.Selection.is_empty(img), "selection_kept": selection() == mask}
open(P["dir"] + "/undone.json", "w").write(json.dumps(final))
"""


def _wait_trace(path, what, timeout, proc):
    """The plug-in's first trace line (neural_style_core.trace) about `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.is_file() else []
        found = [entry for entry in map(json.loads, lines) if entry["what"] == what]
        if found:
            return found[0]
        if proc.poll() is not None:
            raise AssertionError(f"GIMP exited ({proc.returncode}) before the plug-in's {what}")
        time.sleep(0.1)
    raise AssertionError(f"no {what} from the plug-in after {timeout} s")


def _run_frames(gui_root, installed, server, args, display, on_first_frame=None):
    """Six street frames as six layers ("Frame i (100ms)", the first at the bottom) with a
    feathered ellipse selected, "All layers as frames" with `args` (`on_first_frame(trace
    line)` once the first frame's layer is written), then one Ctrl+Z. Returns (ran, undone,
    trace, work, names)."""
    work = gui_root.workdir("frames")
    frames_in = []
    for index in range(N):
        host, inside = work.path(f"street-{index:02d}.png")
        frame = Image.open(REPO / "examples" / "frames" / "street" / f"street-{index:02d}.jpg")
        frame.convert("RGB").resize((W, H), Image.LANCZOS).save(host)
        frames_in.append(inside)
    style_host, style_in = work.path("style.png")
    style = Image.open(REPO / "examples" / "starry_night.jpg").convert("RGB")
    style.thumbnail((96, 96))
    style.save(style_host)
    trace_host, trace_in = work.path("trace.jsonl")
    names = [f"Frame {index + 1} (100ms)" for index in range(N)]
    params = {
        "frames": frames_in, "names": names, "style": style_in, "dir": work.inside,
        "ellipse": [12, 8, 72, 56], "feather": 8.0,
        "args": {"apply-to": "frames", "server": server["address"], **args},
    }  # fmt: skip
    script_host, script_in = work.path("frames.py")
    script_host.write_text(f"PARAMS = {params!r}\n" + SCRIPT)
    with gui_root.xvfb(display=display) as x11:
        gimp = x11.spawn(
            "gimp", "--no-splash", "--batch-interpreter", "python-fu-eval",
            "-b", f'exec(open("{script_in}").read())',
            env={"HOME": installed["home_in"], "LANG": "C.UTF-8", "NST_PLUGIN_TRACE": trace_in},
            log=work.host / "gimp.log",
        )  # fmt: skip
        if on_first_frame is not None:
            first = _wait_trace(trace_host, "frame", 240, gimp)
            on_first_frame(first)
        ran = wait_file(work.host / "ran.json", 480, gimp)
        window = x11.wait_window("RGB color", timeout=30)
        res = x11.x(
            "xdotool", "windowactivate", "--sync", window, "key", "--clearmodifiers", "ctrl+z"
        )
        assert res.returncode == 0, res.output
        undone = wait_file(work.host / "undone.json", 90, gimp)
    lines = trace_host.read_text().splitlines() if trace_host.is_file() else []
    return ran, undone, [json.loads(line) for line in lines], work, names


def test_six_layers_styled_as_frames_give_six_layers_in_order_in_one_undo_step(
    gui_root, installed, server
):
    started = time.monotonic()
    args = {"strength": 1.0, "iterations": 4, "quality": "draft", "size": 0, "timeout": 400}
    ran, undone, trace, work, names = _run_frames(gui_root, installed, server, args, 96)
    assert ran["status"] == "success", ran["message"]
    written = [t for t in trace if t["what"] == "frame"]
    _report(
        f"GIMP frames: procedure {ran['seconds']} s; layers {ran['layers']}; frames written "
        f"as they came: {[(t['index'], t['layers']) for t in written]}; after one Ctrl+Z "
        f"{undone['layers']} ({time.monotonic() - started:.1f} s in all)"
    )

    # six new layers above the sources, the first frame's lowest, named after their frames
    styled_names = [f"Frame {index + 1} (Neural Style) (100ms)" for index in range(N)]
    assert ran["layers"] == [*reversed(styled_names), *reversed(names)]
    assert all(offsets == [0, 0] for offsets in ran["offsets"]) and ran["undo_enabled"]
    # each frame's layer was written when it arrived, one more layer each time
    assert [t["index"] for t in written] == list(range(N))
    assert [t["layers"] for t in written] == sorted({t["layers"] for t in written})
    # one undo step: one Ctrl+Z leaves the six sources, and the selection (made before)
    assert undone["layers"] == list(reversed(names))
    assert undone["selection_kept"]

    _check_pixels(work, "GIMP frames")


def _check_pixels(work, what: str) -> None:
    """Every frame styled inside the feathered selection, its source's pixels outside it,
    and the source layers untouched (the layers dumped after the run, top first)."""
    mask = load_raw(work.host / "mask.raw", (H, W), np.uint8)
    outside, inside = mask == 0, mask == 255
    assert outside.sum() > 1000 and inside.sum() > 500 and ((mask > 0) & (mask < 255)).any()
    changes = []
    for index in range(N):
        source = load_raw(work.host / f"source{index}.raw", (H, W, 3), np.uint8)
        result = load_raw(work.host / f"after{N - 1 - index}.raw", (H, W, 3), np.uint8)
        after = load_raw(work.host / f"after{2 * N - 1 - index}.raw", (H, W, 3), np.uint8)
        assert np.array_equal(after, source), f"frame {index + 1}'s source layer changed"
        assert np.array_equal(result[outside], source[outside]), (
            f"frame {index + 1}: pixels outside the selection moved"
        )
        changes.append(float(np.abs(result[inside].astype(int) - source[inside]).mean()))
    _report(f"{what}: {outside.sum()} px outside identical in every frame; mean change "
            f"inside per frame {[round(c, 1) for c in changes]}/255")  # fmt: skip
    assert min(changes) > 2.0, "a frame was not styled"
    if not os.environ.get("NST_GIMP_KEEP"):  # kept: the raw layers to look at
        shutil.rmtree(work.host, ignore_errors=True)


def test_six_layers_each_alone_by_the_gatys_method_give_six_styled_layers(
    gui_root, installed, server
):
    """ "All layers, each alone": the same six layers in one job, each styled on its own, so
    the plain Gatys method (which a frames job refuses) is accepted."""
    args = {"apply-to": "layers", "method": "gatys", "strength": 1.0, "iterations": 4,
            "quality": "draft", "size": 0, "timeout": 400}  # fmt: skip
    ran, undone, _trace, work, names = _run_frames(gui_root, installed, server, args, 94)
    _report(f"GIMP each alone: {ran['status']} in {ran['seconds']} s; layers {ran['layers']}")
    assert ran["status"] == "success", ran["message"]
    styled_names = [f"Frame {index + 1} (Neural Style) (100ms)" for index in range(N)]
    assert ran["layers"] == [*reversed(styled_names), *reversed(names)]
    assert undone["layers"] == list(reversed(names)), "one undo step removes them all"
    _check_pixels(work, "GIMP each alone")


def test_frames_cancelled_midway_leave_the_image_and_its_undo_history_as_they_were(
    gui_root, installed, server
):
    """The job is cancelled once the first frame's layer is written (SIGTERM to the
    plug-in, which it turns into a cancel, as it does its timeout): the frames written are
    removed, and the undo history has nothing of the run (one Ctrl+Z undoes the feather made
    before it)."""

    def cancel(first):
        os.kill(first["pid"], signal.SIGTERM)  # the plug-in's process, as GIMP started it

    args = {"strength": 1.0, "iterations": 200, "quality": "draft", "size": 0, "timeout": 400}
    ran, undone, trace, work, names = _run_frames(gui_root, installed, server, args, 95, cancel)
    written = [t["index"] for t in trace if t["what"] == "frame"]
    removed = [t for t in trace if t["what"] == "frame removed"]
    _report(
        f"GIMP frames cancelled: {ran['status']} after {ran['seconds']} s ({ran['message']!r});"
        f" frames written {written}, removed {len(removed)}; after the run {ran['layers']}; "
        f"one Ctrl+Z then undid the feather: {not undone['selection_kept']}"
    )
    assert ran["status"] == "execution-error" and "job was cancelled" in ran["message"]
    assert ran["layers"] == list(reversed(names)) and ran["undo_enabled"]
    assert 0 < len(written) < N and len(removed) == len(written)
    assert undone["layers"] == list(reversed(names))
    assert not undone["selection_kept"], "the run left a step in the undo history"
    shutil.rmtree(work.host, ignore_errors=True)
