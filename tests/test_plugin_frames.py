"""The plug-in's "All layers as frames" without GIMP (gimp_plugin/neural_style/
neural_style_frames.py): which layers are the frames and in which order, the one-line
refusals, the new layers' names (GIMP's timing tags kept where GIMP reads them), and the job
itself against the real client (nst_proto.job.ClientBase and its ResultReader, the server
played message by message) with a double of the image's layers and undo history: every
frame's layer written as it arrives, the result one undo step, and every failure or cancel
leaving the image and its undo history as they were."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from nst_proto import job as nst_job
from nst_proto import style_pb2 as pb
from plugin_fakes import send_result

PLUGIN_DIR = Path(__file__).resolve().parent.parent / "gimp_plugin" / "neural_style"
sys.path.insert(0, str(PLUGIN_DIR))  # as the plug-in itself does inside GIMP
import neural_style_core as core  # noqa: E402
import neural_style_frames as frames  # noqa: E402

W, H, N = 4, 2, 6
FRAME_BYTES = W * H * 3


def frame(name="Frame", *, size=(W, H), offsets=(0, 0), alpha=False, group=False, stack=(0,)):
    return frames.Frame(name, *size, offsets, alpha, group, stack)


# -- which layers, in which order, refused how ------------------------------------------------


def test_the_selected_layers_are_the_frames_when_several_are_selected_else_every_layer():
    assert frames.chosen(["b", "c"], ["a", "b", "c", "d"]) == ["b", "c"]
    assert frames.chosen(["b"], ["a", "b", "c", "d"]) == ["a", "b", "c", "d"]


def test_frames_play_bottom_layer_first_as_gimps_playback_and_export_do():
    # GIMP's positions: 0 is the top of a stack; a nested layer has its group's position first
    layers = [
        frame("top", stack=(0,)),
        frame("in group, upper", stack=(1, 0)),
        frame("in group, lower", stack=(1, 1)),
        frame("bottom", stack=(2,)),
    ]
    order = frames.playback_order(layers)
    assert [layers[i].name for i in order] == [
        "bottom", "in group, lower", "in group, upper", "top",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "other, words",
    [
        (frame("b", size=(W + 1, H)), r'position: "a" is 4x2 at \(0, 0\), "b" is 5x2'),
        (frame("b", offsets=(3, 0)), r'"b" is 4x2 at \(3, 0\) \(Layer > Layer to Image Size'),
        (frame("b", alpha=True), "mix layers with and without alpha"),
        (frame("b", group=True), 'The frame "b" is a layer group'),
    ],
)
def test_frames_that_cannot_be_one_animation_are_refused_in_one_line(other, words):
    with pytest.raises(core.PluginError, match=words) as refused:
        frames.check_frames([frame("a"), other])
    assert "\n" not in str(refused.value)
    frames.check_frames([frame("a"), frame("b")])  # the same size, place and alpha: fine


@pytest.mark.parametrize(
    ("apply_to", "count", "fields"),
    [
        ("layer", 1, {}),
        ("frames", 6, {"frames": 6, "independent": False}),
        ("layers", 6, {"frames": 6, "independent": True}),
        ("layers", 1, {}),  # one layer, each alone: a one-layer job
    ],
)
def test_all_layers_each_alone_is_the_frames_job_with_every_frame_styled_alone(
    apply_to, count, fields
):
    assert frames.wants_frames(apply_to) == (apply_to != "layer")
    assert frames.request_fields(apply_to, count) == fields
    assert [nick for nick, _label, _help in frames.APPLY_TO] == ["layer", "frames", "layers"]


@pytest.mark.parametrize(
    "source, new",
    [
        ("Background", "Background (Neural Style)"),
        ("Frame 2 (100ms)", "Frame 2 (Neural Style) (100ms)"),
        ("Frame 2 (100ms) (replace)", "Frame 2 (Neural Style) (100ms) (replace)"),
        ("walk( 40 MS )(combine)", "walk (Neural Style) ( 40 MS ) (combine)"),
        ("(250ms)", "Frame (Neural Style) (250ms)"),
        ("take (replace) two", "take two (Neural Style) (replace)"),
    ],
)
def test_new_frame_names_keep_gimps_timing_and_disposal_tags_where_gimp_reads_them(source, new):
    name = frames.frame_layer_name(source)
    assert name == new
    # as GIMP's Playback and GIF export parse a name: "(Nms)" anywhere, disposal at the end
    timing = re.compile(r"\( *(\d+) *ms *\)", re.IGNORECASE)
    assert timing.findall(name) == timing.findall(source)
    for tag in ("(replace)", "(combine)"):
        assert name.endswith(tag) == (tag in source)


def test_the_progress_bar_says_which_frame_is_being_painted():
    text = core.ProgressText()
    progress = nst_job.JobEvent(
        "progress", level=0, levels=2, iteration=4, iterations=10, fraction=0.25, eta=30.0,
        frame=1, frames=6,
    )  # fmt: skip
    assert text(progress) == (
        0.25, "Neural Style: frame 2 of 6, level 1/2, iteration 5/10, about 30 s left"
    )  # fmt: skip
    assert text(nst_job.JobEvent("finished", frame=1, frames=6)) == (
        None, "Neural Style: frame 2 of 6 done"
    )  # fmt: skip
    one = nst_job.JobEvent("progress", level=0, levels=1, iteration=0, iterations=5, fraction=0.1)
    assert text(one)[1].startswith("Neural Style: level 1/1")  # a one-layer job as before


# -- the job ----------------------------------------------------------------------------------


def sources() -> list[bytes]:
    """Six distinct 4x2 RGB u8 frames."""
    return [bytes((17 * i + j) % 256 for j in range(FRAME_BYTES)) for i in range(N)]


def styled(pixels: bytes) -> bytes:
    """What the played server paints: every sample inverted."""
    return bytes(255 - value for value in pixels)


class Server:
    """A transport whose StyleClient is the real client base, with the server played message
    by message into the real ResultReader: for each frame a progress event, then its result
    (the frame inverted). When frame `fail_at` is due the job ends with `fail` (or, with
    `stop`, the stream ends as if all was sent); frame `bad_at` is sent at the wrong size;
    before painting frame `wait_at` the server waits (5 s at most) for the client's cancel."""

    def __init__(self, *, fail_at=None, fail=None, stop=False, bad_at=None, wait_at=None):
        self.fail_at, self.fail, self.stop = fail_at, fail, stop
        self.bad_at, self.wait_at = bad_at, wait_at
        self.specs, self.estimated, self.cancelled, self.sent = [], [], False, 0
        server = self

        class StyleClient(nst_job.ClientBase):
            def _call(self, method, message):
                assert method == "Estimate"
                server.estimated.append(message)
                return pb.JobEstimate()

            def _stylize(self, messages, reader, cancel, poll_interval):
                server.play(list(messages), reader, cancel)

        self.transport = SimpleNamespace(
            StyleClient=StyleClient, JobRequest=nst_job.JobRequest,
            ClientError=nst_job.ClientError, ServerUnavailable=nst_job.ServerUnavailable,
            ServerLost=nst_job.ServerLost, JobFailed=nst_job.JobFailed,
            JobCancelled=nst_job.JobCancelled,
        )  # fmt: skip

    def play(self, messages, reader, cancel):
        spec = messages[0].spec
        self.specs.append(spec)
        content = b"".join(m.chunk.data for m in messages if m.chunk.stream == pb.STREAM_CONTENT)
        frame_bytes = spec.width * spec.height * spec.channels
        for index in range(spec.frames):
            if index == self.fail_at:
                if self.stop:
                    return
                raise self.fail
            if index == self.wait_at:
                deadline = time.monotonic() + 5
                while not cancel() and time.monotonic() < deadline:
                    time.sleep(0.01)
            if cancel():
                self.cancelled = True
                raise nst_job.JobCancelled("the job was cancelled")
            progress = pb.ProgressEvent(
                level=0, levels=1, iteration=0, iterations=1, fraction=index / spec.frames,
                frame=index, frames=spec.frames,
            )  # fmt: skip
            reader.take(pb.StylizeEvent(progress=progress))
            pixels = styled(content[index * frame_bytes : (index + 1) * frame_bytes])
            width = spec.width + 1 if index == self.bad_at else spec.width
            pixels += bytes((width - spec.width) * spec.height * spec.channels)
            send_result(reader, pixels, width, spec.height, frame=index, frames=spec.frames)
            self.sent += 1
            time.sleep(0.01)  # the next frame is painted while GIMP writes this one

    def cancel_seen(self, within: float = 5.0) -> bool:
        deadline = time.monotonic() + within
        while not self.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.cancelled


class Canvas:
    """A double of GimpFrameLayers: the image's layers (top first) and its undo history.
    Layers added while the job runs are outside the history, as GIMP's are with undo
    frozen; `log` records, in GIMP's thread, the events shown and the layers written."""

    def __init__(self, log, fail_at=None):
        self.layers = [f"source {i}" for i in reversed(range(N))]  # frame 0 at the bottom
        self.history: list = []
        self.log, self.fail_at = log, fail_at

    def add(self, index, pixels):
        if index == self.fail_at:
            raise RuntimeError("GIMP could not write the layer")
        layer = SimpleNamespace(name=f"Neural Style frame {index + 1} of {N}", pixels=pixels)
        self.layers.insert(0, layer)  # above the frames' layers before it
        self.log.append(("add", index))
        return layer

    def remove(self, layer):
        self.layers.remove(layer)

    def keep(self, layers, names):
        kept = [SimpleNamespace(name=name, pixels=layer.pixels) for layer, name in zip(
            layers, names, strict=True)]  # fmt: skip
        for layer in layers:
            self.remove(layer)
        self.layers[:0] = reversed(kept)
        self.history.append(("Neural Style", [layer.name for layer in kept]))
        return kept


def run_frames(server, canvas, log, timeout=30, cancel=None, apply_to="frames"):
    names = [frames.frame_layer_name(f"Frame {i + 1} (100ms)") for i in range(N)]
    request = nst_job.JobRequest(
        b"".join(sources()), W, H, 3, "u8", styles=[(b"style image", 1.0)], mask=bytes(W * H),
        **frames.request_fields(apply_to, N),
    )  # fmt: skip
    said = []

    def show(event):
        log.append((event.kind, event.frame))

    cancel = cancel or core.Deadline(timeout)
    kept = frames.run_frames(
        server.transport, request, "127.0.0.1:7000", timeout, {}, names, canvas, show,
        said.append, cancel, start=lambda address, settings: "not started in the tests",
    )  # fmt: skip
    return kept, said


def test_frames_are_one_job_each_written_as_it_arrives_and_kept_in_order_as_one_undo_step():
    server, log = Server(), []
    canvas = Canvas(log)
    kept, said = run_frames(server, canvas, log)

    assert len(server.specs) == 1 and server.specs[0].frames == N and server.specs[0].has_mask
    assert not server.specs[0].independent and not server.estimated[0].independent
    assert [spec.frames for spec in server.estimated] == [N]  # asked before: all the frames
    names = [f"Frame {i + 1} (Neural Style) (100ms)" for i in range(N)]
    assert [layer.name for layer in kept] == names
    assert [layer.pixels for layer in kept] == [styled(p) for p in sources()]
    # above the sources, the first frame's layer lowest: GIMP plays them after the sources
    assert [getattr(layer, "name", layer) for layer in canvas.layers] == [
        *reversed(names),
        *(f"source {i}" for i in reversed(range(N))),
    ]
    assert canvas.history == [("Neural Style", names)]
    # each frame's layer was written as it arrived, before the next frame was painted
    adds = [entry for entry in log if entry[0] in ("progress", "add")]
    assert adds == [entry for i in range(N) for entry in (("progress", i), ("add", i))]
    assert [s for s in said if "writing" in s] == [
        f"Neural Style: writing frame {i + 1} of {N}" for i in range(N)
    ]


def test_each_layer_alone_asks_the_server_for_independent_frames_in_the_estimate_and_the_job():
    server, log = Server(), []
    kept, _said = run_frames(server, Canvas(log), log, apply_to="layers")
    assert [(s.frames, s.independent) for s in server.estimated] == [(N, True)]
    assert [(s.frames, s.independent) for s in server.specs] == [(N, True)]
    assert [layer.pixels for layer in kept] == [styled(p) for p in sources()]


def test_a_cancel_midway_leaves_the_image_and_its_undo_history_as_they_were():
    server, log = Server(wait_at=3), []
    canvas = Canvas(log)
    with pytest.raises(core.PluginError, match=r"gave up after 1 s"):
        run_frames(server, canvas, log, timeout=1)
    assert server.cancelled and server.sent == 3 and log.count(("add", 2)) == 1
    assert canvas.layers == [f"source {i}" for i in reversed(range(N))]
    assert canvas.history == []


def test_a_signal_cancel_midway_leaves_nothing_either():
    server, log = Server(wait_at=2), []
    canvas, cancel = Canvas(log), core.Deadline(30)
    original_add = canvas.add

    def add_then_signal(index, pixels):
        if index == 1:
            cancel.signalled = True  # as SIGTERM does
        return original_add(index, pixels)

    canvas.add = add_then_signal
    with pytest.raises(core.PluginError, match="The Neural Style job was cancelled"):
        run_frames(server, canvas, log, cancel=cancel)
    assert canvas.layers == [f"source {i}" for i in reversed(range(N))] and not canvas.history


@pytest.mark.parametrize(
    "server, words",
    [
        (Server(fail_at=3, fail=nst_job.JobFailed("CUDA out of memory", "RESOURCE_EXHAUSTED")),
         "could not stylise the layer: CUDA out of memory"),
        (Server(fail_at=3, fail=nst_job.ServerLost("the server stopped answering")),
         "the server stopped answering"),
        (Server(fail_at=4, stop=True), "ended the job after 4 of 6 frames"),
        (Server(bad_at=2, wait_at=3), r"wrong shape \(5x2x3 u8, expected 4x2x3 u8\)"),
    ],
)  # fmt: skip
def test_a_frame_failing_midway_leaves_the_image_and_its_undo_history_as_they_were(server, words):
    log = []
    canvas = Canvas(log)
    with pytest.raises(core.PluginError, match=words):
        run_frames(server, canvas, log)
    assert canvas.layers == [f"source {i}" for i in reversed(range(N))]
    assert canvas.history == []
    if server.bad_at is not None:  # the plug-in refused the frame and cancelled the job
        assert server.cancel_seen() and server.sent == 3


def test_a_layer_gimp_cannot_write_midway_removes_the_others_and_cancels_the_job():
    server, log = Server(wait_at=5), []
    canvas = Canvas(log, fail_at=3)
    with pytest.raises(RuntimeError, match="could not write the layer"):
        run_frames(server, canvas, log)
    assert canvas.layers == [f"source {i}" for i in reversed(range(N))]
    assert canvas.history == []
    assert server.cancel_seen() and server.sent < N  # the job stopped, not ran to its end


def test_no_function_of_the_plugin_rebinds_the_name_of_a_module_it_imports():
    """neural_style.py imports its halves as `core`, `dialog` and `frames`; a local of one of
    those names in a function hides the module there (the dialog's window was once called
    `dialog`, and the interactive dialog failed on `dialog.server_facts` in every GIMP
    while the non-interactive tests passed)."""
    import ast

    for path in sorted(PLUGIN_DIR.glob("*.py")):
        tree = ast.parse(path.read_text())
        modules = {
            alias.asname or alias.name.split(".")[0]
            for node in tree.body
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef):
                continue
            bound = {
                target.id
                for node in ast.walk(function)
                if isinstance(node, ast.Assign | ast.AnnAssign | ast.For | ast.With)
                for target in ast.walk(node)
                if isinstance(target, ast.Name) and isinstance(target.ctx, ast.Store)
            }
            bound |= {arg.arg for arg in function.args.args}
            hidden = sorted(bound & modules)
            assert not hidden, f"{path.name}: {function.name} rebinds {hidden}"


def test_the_next_run_removes_frame_layers_a_killed_run_left_and_nothing_else():
    """GIMP's Cancel button kills the plug-in mid-job: the frames' layers written so far
    ("Neural Style frame i of N", outside the undo history) stay until the next run."""

    class Layer(SimpleNamespace):
        def get_name(self):
            return self.name

        def get_parent(self):
            return None

    names = ["Neural Style frame 2 of 8", "Neural Style frame 1 of 8", "Frame 2 (Neural Style)",
             "Neural Style frame notes", "Frame 2", "Frame 1"]  # fmt: skip
    layers = [Layer(name=name) for name in names]
    calls = []
    image = SimpleNamespace(
        get_layers=lambda: list(layers),
        remove_layer=lambda layer: (calls.append(("remove", layer.name)), layers.remove(layer)),
        undo_freeze=lambda: calls.append("freeze"),
        undo_thaw=lambda: calls.append("thaw"),
    )
    canvas = frames.GimpFrameLayers.__new__(frames.GimpFrameLayers)
    canvas.image, canvas.top = image, layers[-1]
    canvas.sweep()
    assert [layer.name for layer in layers] == names[2:]
    assert calls == [
        "freeze", ("remove", names[0]), "thaw", "freeze", ("remove", names[1]), "thaw",
    ]  # fmt: skip
