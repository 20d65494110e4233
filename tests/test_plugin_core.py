"""The plug-in's GIMP-free half (gimp_plugin/neural_style/neural_style_core.py and
neural_style_dialog.py) with a fake server behind the real client base: options, the server
start (and why it cannot start inside a Flatpak), the worker thread and its deadline, the
estimate before the job and in the dialog, and the message a person reads for each failure.

The fake is nst_proto.job.ClientBase with the server's answers scripted, and the errors are
nst_proto.job's own, so a call the plug-in makes wrongly, or an error it does not mean to
catch, fails here as it would against a real server."""

from __future__ import annotations

import subprocess
import sys
import threading
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
import neural_style_dialog as dialog  # noqa: E402
import neural_style_frames as frames  # noqa: E402

# The transport's errors, as nst_proto.pure_client (the plug-in's transport) exports them.
ClientError = nst_job.ClientError
ServerUnavailable = nst_job.ServerUnavailable
ServerLost = nst_job.ServerLost
JobFailed = nst_job.JobFailed
JobCancelled = nst_job.JobCancelled
FITS = pb.JobEstimate()  # the server's estimate of a job it would run, nothing measured yet


def request(pixel_bytes: int = 24, channels: int = 3, **fields) -> nst_job.JobRequest:
    """A real 4x2 u8 job (`pixel_bytes` other than 8 * channels: one that does not add up)."""
    fields.setdefault("styles", [(b"style image", 1.0)])
    return nst_job.JobRequest(bytes(pixel_bytes), 4, 2, channels, "u8", **fields)


def fake_transport(*outcomes, answers=None):
    """A transport module whose StyleClient is the real client base (nst_proto.job.ClientBase:
    its request checks, and its estimate, info, list_models, gallery and stylize fronts) with
    the server played by a script. `answers` maps a one-answer call (Estimate, GetInfo, ...)
    to its replies in turn, each a reply message or an exception to raise, the last one again
    for later calls (Estimate answers FITS unless told); each stylize plays `outcomes` in
    turn: an exception to raise, a list of events to send before returning a result, or a
    callable (on_event, cancel) -> result. `calls` records (method, address, message)."""
    answers = {"Estimate": [FITS], **(answers or {})}
    calls = []

    def count(method: str) -> int:
        return sum(1 for name, _address, _message in calls if name == method)

    class StyleClient(nst_job.ClientBase):
        def _call(self, method, message):
            calls.append((method, self.address, message))
            replies = answers[method]
            reply = replies[min(count(method), len(replies)) - 1]
            if isinstance(reply, Exception):
                raise reply
            return reply

        def _stylize(self, messages, reader, cancel, poll_interval):
            messages = list(messages)
            assert messages[0].HasField("spec") and messages[-1].HasField("submit")
            calls.append(("Stylize", self.address, messages[0].spec))
            outcome = outcomes[count("Stylize") - 1]
            if isinstance(outcome, Exception):
                raise outcome
            on_event = reader.on_event or (lambda event: None)
            if callable(outcome):
                outcome(on_event, cancel)
            else:
                for event in outcome:
                    on_event(event)
            send_result(reader, bytes(24), 4, 2)

    transport = SimpleNamespace(
        StyleClient=StyleClient,
        JobRequest=nst_job.JobRequest,
        ClientError=ClientError,
        ServerUnavailable=ServerUnavailable,
        ServerLost=ServerLost,
        JobFailed=JobFailed,
        JobCancelled=JobCancelled,
    )
    return transport, calls


def methods(calls) -> list[str]:
    return [method for method, _address, _message in calls]


def run(transport, *, job=None, timeout=30, settings=None, start=lambda address, settings: None):
    shown, said = [], []
    result = core.run_job(
        transport,
        job or request(),
        "127.0.0.1:7000",
        timeout,
        settings or {},
        shown.append,
        said.append,
        core.Deadline(timeout),
        start=start,
    )
    return result, shown, said


def options(long_side=4000, preview=True, **arguments):
    """core.job_options of the dialog's arguments (by their names, dashes and all)."""
    dialog = {"method": "proposed", "strength": 0.6, "quality": "draft", "preserve-color": 1}
    dialog |= {"seed": 3, "style-scale": 1, "server": "127.0.0.1:1", "timeout": 60}
    dialog |= {name.replace("_", "-"): value for name, value in arguments.items()}
    return core.job_options(dialog, nst_job.OPTION_TYPES, long_side=long_side, preview=preview)


def test_job_options_cap_the_working_size_and_keep_the_preset_iterations():
    assert options(size=512, iterations=0) == {
        "method": "proposed",
        "strength": 0.6,
        "quality": "draft",
        "preserve_color": True,
        "seed": 3,
        "style_scale": 1.0,
        "size": 512,
        "preview_max_side": core.PREVIEW_MAX_SIDE,
        "preview_interval": core.PREVIEW_INTERVAL,
    }
    assert options(size=0, iterations=0, style_scale=2)["style_scale"] == 2.0
    small = options(size=512, iterations=40, long_side=300)
    assert "size" not in small and small["iterations"] == 40


def test_every_argument_named_for_an_option_of_the_contract_is_sent_as_its_type():
    sent = options(size=0, iterations=0, pooling="avg", strength=1, full_resolution="refine")
    assert sent["pooling"] == "avg" and sent["full_resolution"] == "refine"
    assert sent["strength"] == 1.0 and isinstance(sent["strength"], float)
    assert set(sent) <= set(nst_job.OPTION_TYPES)  # server, timeout: the plug-in's own


def test_previews_are_asked_for_small_and_only_whole_ones_are_drawn(tmp_path, monkeypatch):
    quiet = options(size=0, iterations=0, preview=False)
    assert "preview_max_side" not in quiet
    assert options(size=0, iterations=0)["preview_max_side"] <= 512

    def event(kind="preview", width=4, height=2, pixels=bytes(24)):
        return SimpleNamespace(
            kind=kind, preview=pixels, preview_width=width, preview_height=height
        )

    assert core.preview_pixels(event()) == (4, 2, bytes(24))
    assert core.preview_pixels(event(pixels=bytes(23))) is None  # never drawn half
    assert core.preview_pixels(event(width=0)) is None
    assert core.preview_pixels(event(kind="progress")) is None
    assert core.preview_pixels(SimpleNamespace(kind="finished")) is None

    core.trace("preview", layers=2)  # no trace file asked for: nothing written
    monkeypatch.setenv("NST_PLUGIN_TRACE", str(tmp_path / "trace.jsonl"))
    core.trace("preview", layers=2)
    core.trace("preview removed", layers=1)
    lines = (tmp_path / "trace.jsonl").read_text().splitlines()
    assert lines == ['{"what": "preview", "layers": 2}', '{"what": "preview removed", "layers": 1}']


def test_a_preview_fills_the_layer_by_nearest_neighbour():
    import numpy as np

    small = np.random.default_rng(1).integers(0, 256, (7, 10, 3), np.uint8)
    for out_h, out_w in ((7, 10), (30, 43), (5, 4)):
        rows = np.arange(out_h) * 7 // out_h
        cols = np.arange(out_w) * 10 // out_w
        expected = small[rows][:, cols].tobytes()
        assert core.upscale_nearest(small.tobytes(), 10, 7, out_w, out_h) == expected


def test_one_style_choice_for_paintings_your_image_and_models():
    wave = SimpleNamespace(name="great-wave", title="The Great Wave", artist="Hokusai")
    choices = dialog.style_choices([wave, "the-kiss"], [("tiny", "Tiny (trained at 128 px)")])
    assert [c for c, _ in choices] == ["gallery:great-wave", "gallery:the-kiss", "", "model:tiny"]
    assert choices[0][1] == "The Great Wave, Hokusai" and choices[1][1] == "The kiss"
    assert choices[2] == dialog.OWN_IMAGE and choices[3][1] == "Tiny (trained at 128 px), instant"
    for choice, _label in choices:
        assert dialog.choice_of(*dialog.chosen_style(choice)) == choice
    assert dialog.chosen_style("gallery:great-wave") == ("great-wave", "")
    assert dialog.chosen_style("model:tiny") == ("", "tiny")
    assert dialog.chosen_style("") == ("", "")
    # a network that ships with the gallery is labelled as its painting
    shipped = dialog.style_choices([wave], [("great-wave", "great-wave (trained at 128 px)")])
    assert shipped[-1] == ("model:great-wave", "The Great Wave, Hokusai, instant")
    # a server without a gallery (or not answering) still offers your own image
    assert dialog.style_choices([], []) == [dialog.OWN_IMAGE]


def test_the_dialog_says_where_the_server_runs_or_that_ok_starts_it():
    address = "127.0.0.1:50051"
    assert "not running at 127.0.0.1:50051" in dialog.server_status(None, address)
    assert "starts when you press OK" in dialog.server_status(None, address)
    assert dialog.server_status(None, "gpu1:50051") == (
        "Server: no answer from gpu1:50051 (another computer: start the server there)"
    )
    cpu = SimpleNamespace(device="cpu", gpu_name="", queued=0, busy=False)
    assert dialog.server_status(cpu, address) == "Server: running on the CPU"
    gpu = SimpleNamespace(device="cuda:0", gpu_name="NVIDIA H100", queued=2, busy=True)
    assert (
        dialog.server_status(gpu, address)
        == "Server: running on NVIDIA H100, busy, 2 job(s) waiting"
    )


def test_the_plugins_own_default_address_is_the_contracts():
    """The core keeps a copy (it must load, and say what is wrong, without nst_proto)."""
    import nst_proto

    assert core.DEFAULT_ADDRESS == nst_proto.DEFAULT_ADDRESS


def test_names_addresses_and_the_result_check():
    assert core.layer_name("", "/x/starry_night.jpg") == "starry_night (Neural Style)"
    assert core.layer_name("tiny", None) == "tiny (Neural Style)"
    assert core.server_address("  ", {"address": "127.0.0.1:6000"}) == "127.0.0.1:6000"
    assert core.server_address("", {}) == core.DEFAULT_ADDRESS
    good = SimpleNamespace(width=4, height=2, channels=3, sample_type="u8")
    core.check_result(good, request())
    with pytest.raises(core.PluginError, match=r"wrong shape \(4x2x3 u8, expected 4x2x4 u8\)"):
        core.check_result(good, request(32, channels=4))


def test_the_layer_travels_in_its_own_precision_and_encoding():
    assert core.pixel_layout("GIMP_PRECISION_U8_NON_LINEAR", False) == ("R'G'B' u8", "u8", 3)
    assert core.pixel_layout("GIMP_PRECISION_U16_LINEAR", True) == ("RGBA u16", "u16", 4)
    assert core.pixel_layout("GIMP_PRECISION_HALF_PERCEPTUAL", True) == ("R~G~B~A float", "f32", 4)
    assert core.pixel_layout("GIMP_PRECISION_U32_LINEAR", False) == ("RGB float", "f32", 3)


def test_the_style_arguments_choose_a_model_a_painting_or_the_image_file(tmp_path):
    style = tmp_path / "starry.jpg"
    style.write_bytes(b"jpeg")
    assert core.style_arguments(" tiny ", "the-kiss", str(style)) == ([], "tiny", "tiny", None)
    assert core.style_arguments("", "the-kiss", None) == ([("the-kiss", 1.0)], "", "the-kiss", None)
    assert core.style_arguments(None, "", str(style)) == ([(b"jpeg", 1.0)], "", "", str(style))
    with pytest.raises(core.PluginError, match="Choose a style image"):
        core.style_arguments("", "", None)
    with pytest.raises(core.PluginError, match="does not exist or is not a file"):
        core.style_arguments("", "", str(tmp_path))


def test_progress_text_speaks_in_levels_iterations_and_time_left():
    text = core.ProgressText()
    assert text(SimpleNamespace(kind="queued", position=2)) == (
        None,
        "Neural Style: queued (position 2)",
    )
    event = SimpleNamespace(
        kind="progress", fraction=0.5, eta=75.0, level=1, levels=3, iteration=9, iterations=30
    )
    assert text(event) == (
        0.5,
        "Neural Style: level 2/3, iteration 10/30, about 1 min 15 s left",
    )
    assert text(SimpleNamespace(kind="finished")) == (1.0, "Neural Style: writing the new layer")


def test_a_server_that_is_not_running_is_started_once_and_the_job_retried():
    events = [SimpleNamespace(kind="started")]
    transport, calls = fake_transport(ServerUnavailable("nothing answers"), events)
    starts = []
    result, shown, said = run(
        transport, start=lambda address, settings: starts.append(address) or None
    )
    assert starts == ["127.0.0.1:7000"]
    assert methods(calls) == ["Estimate", "Stylize", "Estimate", "Stylize"]
    assert shown[:-1] == events and shown[-1].kind == "finished" and result.width == 4
    assert "starting the server" in said[0]


def test_a_server_that_cannot_be_started_gives_the_command_that_starts_it():
    transport, _ = fake_transport(ServerUnavailable("nothing answers"))
    settings = {"server_command": ["/opt/venv/bin/nst-server"]}
    with pytest.raises(core.PluginError) as error:
        run(transport, settings=settings, start=lambda address, settings: "it is not installed")
    message = str(error.value)
    assert "not running at 127.0.0.1:7000" in message and "it is not installed" in message
    assert "/opt/venv/bin/nst-server start --address 127.0.0.1:7000" in message


def test_inside_a_flatpak_the_plugin_does_not_try_and_names_the_host_command(monkeypatch):
    monkeypatch.setenv("FLATPAK_ID", "org.gimp.GIMP")
    assert core.in_flatpak()
    reason = core.start_server("127.0.0.1:50051", {"server_command": [sys.executable]})
    assert "Flatpak sandbox" in reason
    transport, _ = fake_transport(ServerUnavailable("nothing answers"))
    settings = {"server_command": ["/home/me/.local/bin/nst-server"]}
    with pytest.raises(core.PluginError) as error:
        run(transport, settings=settings, start=core.start_server)
    message = str(error.value)
    assert "/home/me/.local/bin/nst-server start --address 127.0.0.1:7000" in message
    assert "nst-server install-service starts it at every login" in message
    monkeypatch.delenv("FLATPAK_ID")
    assert not core.in_flatpak(info_file="/nonexistent/.flatpak-info")


def test_start_server_runs_the_recorded_command_and_reports_its_failure(tmp_path):
    script = tmp_path / "nst-server"
    script.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\nexit 0\n')
    script.chmod(0o755)
    settings = {"server_command": [str(script)]}
    assert core.start_server("127.0.0.1:7001", settings, flatpak=False) is None
    assert (tmp_path / "args").read_text().split() == ["start", "--address", "127.0.0.1:7001"]
    script.write_text("#!/bin/sh\necho 'port taken' >&2\nexit 1\n")
    reason = core.start_server("127.0.0.1:7001", settings, flatpak=False)
    assert "exited with status 1: port taken" in reason
    (tmp_path / "args").unlink()
    script.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\nexit 0\n')
    assert core.start_server("gpu1:50051", settings, flatpak=False) == (
        "gpu1:50051 is another computer's address: start the server there"
    )
    assert not (tmp_path / "args").exists(), "nothing started here for another computer"
    for here in ("localhost:50051", "[::1]:50051", "127.0.0.2:7", "unix:/tmp/nst.sock"):
        assert core.on_this_computer(here), here


def test_failures_become_one_message_each():
    for error, words in (
        (JobFailed("style image 1: not an image"), "could not stylise the layer: style image 1"),
        (JobCancelled("cancelled"), "The Neural Style job was cancelled."),
        (nst_job.lost("127.0.0.1:7000"), "Neural Style: the Neural Style server at 127.0.0.1"),
        (ClientError("odd"), "Neural Style: odd"),
    ):
        transport, _ = fake_transport(error, error)  # a lost server is tried twice
        with pytest.raises(core.PluginError, match=words):
            run(transport)
    # the real request's checks, before anything is sent
    transport, calls = fake_transport()
    with pytest.raises(core.PluginError, match="cannot send this layer: 9 pixel bytes, but 4x2x3"):
        run(transport, job=request(9))
    assert "Stylize" not in methods(calls)


def test_a_job_whose_server_was_lost_is_sent_once_more_and_delivered():
    transport, calls = fake_transport(nst_job.lost("127.0.0.1:7000"), [])
    result, _, _ = run(transport)
    assert result.pixels == bytes(24) and methods(calls).count("Stylize") == 2


def test_the_deadline_cancels_the_job_and_says_so():
    def slow(on_event, cancel):
        while not cancel():
            time.sleep(0.02)
        raise JobCancelled("cancelled")

    transport, _ = fake_transport(slow)
    tic = time.monotonic()
    with pytest.raises(core.PluginError, match=r"gave up after 1 s \(the timeout argument\)"):
        run(transport, timeout=1)
    assert time.monotonic() - tic < 5


def test_a_stuck_connection_is_abandoned_after_the_grace_period():
    stuck = threading.Event()
    transport, _ = fake_transport(lambda on_event, cancel: stuck.wait(30))
    said = []
    deadline = core.Deadline(0.3)
    job = lambda on_event: transport.StyleClient("x", 1).stylize(request(), on_event, deadline)  # noqa: E731
    tic = time.monotonic()
    with pytest.raises(core.PluginError, match="did not confirm the cancel within 1 s"):
        core.run_in_worker(job, lambda e: None, deadline, said.append, grace=1.0)
    stuck.set()
    assert time.monotonic() - tic < 5 and said == ["Neural Style: cancelling the job"]


def test_a_transport_that_cannot_load_names_gimps_python_and_the_fix(tmp_path):
    """GIMP's Python with the plug-in file but no transport beside it: the message names the
    Python version and the recorded reinstall command."""
    plugin = tmp_path / "neural_style"
    plugin.mkdir()
    (plugin / "neural_style_core.py").write_text((PLUGIN_DIR / "neural_style_core.py").read_text())
    (plugin / "neural_style.json").write_text(
        '{"install_command": ["/opt/venv/bin/nst-server", "install-gimp-plugin"]}'
    )
    probe = (
        f"import sys; sys.path.insert(0, {str(plugin)!r}); import neural_style_core as c\n"
        "try:\n    c.load_transport()\nexcept c.PluginError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-E", "-c", probe], capture_output=True, text=True, timeout=60
    ).stdout
    version = ".".join(str(v) for v in sys.version_info[:3])
    assert f"in GIMP's Python {version} (ModuleNotFoundError: No module named 'nst_proto')" in out
    assert out.strip().endswith(
        "Reinstall the plug-in with: /opt/venv/bin/nst-server install-gimp-plugin"
    )


def estimate(**fields) -> nst_job.JobEstimate:
    return nst_job.JobEstimate(**{"seconds": 0.0, "measured_jobs": 0, "work_width": 0,
                                  "work_height": 0, **fields})  # fmt: skip


def test_the_dialog_says_the_expected_time_from_the_servers_measurements():
    text = dialog.estimate_text(
        estimate(seconds=95.4, measured_jobs=3, work_width=768, work_height=512)
    )
    assert text == (
        "Expected time: about 1 min 35 s at 768x512 (the server's speed on its last 3 jobs)"
    )
    assert "its last job)" in dialog.estimate_text(estimate(seconds=4, measured_jobs=1))
    assert "first job" in dialog.estimate_text(estimate())  # nothing measured: no made-up figure
    assert "once the server runs" in dialog.estimate_text(None)
    too_large = estimate(refused="styling at 8000 pixels needs ...", fits_work_size=2670)
    assert dialog.estimate_text(too_large) == (
        "Too large for the server's memory at this working size: set Advanced > Working size "
        "to 2670 or less (0 lets the quality choose)."
    )
    other = estimate(refused="the style model tiny is not in the library")
    assert dialog.estimate_text(other) == (
        "The server would refuse this job: the style model tiny is not in the library"
    )


def test_a_job_the_server_would_refuse_stops_before_any_pixel_is_sent():
    refusal = pb.JobEstimate(refused="styling at 8000 pixels ...", fits_work_size=2670)
    transport, calls = fake_transport(answers={"Estimate": [refusal]})
    with pytest.raises(core.PluginError, match="Working size to 2670 or less"):
        run(transport, job=request(styles=[], model="tiny", options={"size": 8000}))
    assert methods(calls) == ["Estimate"]
    spec = calls[0][2]
    assert (spec.width, spec.height, spec.model, spec.options.size) == (4, 2, "tiny", 8000)


def test_a_server_older_than_estimate_still_runs_the_job():
    """Such a server answers UNIMPLEMENTED; the job itself then says whatever is wrong."""
    older = JobFailed("Method not found: nst.v1.StyleService/Estimate", "UNIMPLEMENTED")
    transport, calls = fake_transport([], answers={"Estimate": [older]})
    result, _shown, _said = run(transport)
    assert methods(calls) == ["Estimate", "Stylize"] and result.width == 4


def test_nothing_answering_the_estimate_starts_the_server_once():
    transport, calls = fake_transport(
        [], answers={"Estimate": [ServerUnavailable("nothing answers"), FITS]}
    )
    starts = []
    run(transport, start=lambda address, settings: starts.append(address) or None)
    assert starts == ["127.0.0.1:7000"]
    assert methods(calls) == ["Estimate", "Estimate", "Stylize"]


def test_a_bug_behind_the_estimate_is_not_taken_for_an_older_server():
    transport, calls = fake_transport([], answers={"Estimate": [TypeError("a bug")]})
    with pytest.raises(TypeError, match="a bug"):
        run(transport)
    assert "Stylize" not in methods(calls)


def line(transport, job=lambda transport: ([(b"style image", 1.0)], "", {"strength": 0.5}, {})):
    return dialog.estimate_line("127.0.0.1:7000", (4000, 3000), job, lambda settings: transport)


def test_the_dialog_asks_the_server_for_the_expected_time_of_the_chosen_job():
    measured = pb.JobEstimate(seconds=95.4, measured_jobs=3, work_width=768, work_height=576)
    transport, calls = fake_transport(answers={"Estimate": [measured]})
    assert line(transport) == (
        "Expected time: about 1 min 35 s at 768x576 (the server's speed on its last 3 jobs)"
    )
    spec = calls[0][2]
    assert (spec.width, spec.height, spec.options.strength) == (4000, 3000, 0.5)
    refusal = pb.JobEstimate(refused="styling at 8000 pixels ...", fits_work_size=2670)
    transport, _calls = fake_transport(answers={"Estimate": [refusal]})
    assert "set Advanced > Working size to 2670 or less" in line(transport)


@pytest.mark.parametrize("apply_to", ["frames", "layers"])
def test_the_dialogs_time_line_covers_every_frame_of_all_layers_as_frames(apply_to):
    measured = pb.JobEstimate(seconds=300, measured_jobs=2, work_width=768, work_height=576)
    transport, calls = fake_transport(answers={"Estimate": [measured]})
    fields = frames.request_fields(apply_to, 6)
    six = line(transport, lambda transport: ([(b"style image", 1.0)], "", {}, fields))
    assert six == (
        "Expected time: about 5 min 00 s for 6 frames at 768x576 (the server's speed on its "
        "last 2 jobs)"
    )
    spec = calls[0][2]
    assert spec.frames == 6 and spec.independent == (apply_to == "layers")


PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_the_settings_token_and_certificate_reach_the_client(tmp_path):
    """A server on another machine: the files the settings name (nst-server
    install-gimp-plugin --token-file --tls-ca) are read at each connection; none: plain."""
    (tmp_path / "token").write_text("s3cret\n")
    (tmp_path / "ca.pem").write_bytes(PEM)
    made = []
    transport = SimpleNamespace(StyleClient=lambda address, **arguments: made.append(arguments))
    settings = {"token_file": str(tmp_path / "token"), "tls_ca_file": str(tmp_path / "ca.pem")}
    core.open_client(transport, "10.0.0.5:50051", settings, connect_timeout=3)
    core.open_client(transport, "127.0.0.1:50051", {}, connect_timeout=3)
    assert made == [
        {"connect_timeout": 3, "token": "s3cret", "root_certificates": PEM},
        {"connect_timeout": 3},
    ]


def test_an_unreadable_token_file_stops_the_job_before_anything_is_sent(tmp_path, monkeypatch):
    settings = {"token_file": str(tmp_path / "gone")}
    transport, calls = fake_transport([])
    with pytest.raises(core.PluginError) as error:
        core.open_client(transport, "10.0.0.5:50051", settings)
    message = str(error.value)
    assert "cannot read the token file" in message and "--token-file FILE" in message
    assert "\n" not in message and calls == []
    monkeypatch.setattr(core, "read_settings", lambda: settings)
    assert line(transport).startswith(f"cannot read the token file {tmp_path / 'gone'}")


def test_the_dialogs_time_line_without_a_server_or_a_style_says_what_to_do():
    transport, _calls = fake_transport(answers={"Estimate": [ServerUnavailable("no answer")]})
    assert line(transport) == "Expected time: known once the server runs"
    older = JobFailed("Method not found", "UNIMPLEMENTED")
    transport, _calls = fake_transport(answers={"Estimate": [older]})
    assert line(transport) == "Expected time: known once the server runs"

    def no_style(transport):
        return core.style_arguments("", "", None)

    assert line(transport, no_style) == (
        'Choose a style image (the "Style image" argument is empty).'
    )
    transport, calls = fake_transport()
    assert "known once" not in line(
        transport, lambda transport: ([], "tiny", {"no_such_option": 1}, {})
    )
    assert line(transport, lambda transport: ([], "tiny", {"no_such_option": 1}, {})).startswith(
        "Expected time: cannot ask the server (unknown option(s) no_such_option"
    )
    assert calls == []  # refused by the client's own check, before any call


def facts_transport(gallery_reply):
    info = pb.ServerInfo(device="cpu", gallery=["the-kiss"])
    models = pb.ModelList(
        models=[pb.StyleModel(id="tiny", name="Tiny", thumbnail_png=b"png", training_size=128)]
    )
    answers = {"GetInfo": [info], "ListModels": [models], "ListGallery": [gallery_reply]}
    return fake_transport(answers=answers)


def test_the_dialog_lists_the_servers_paintings_and_models():
    wave = pb.GalleryPainting(name="great-wave", title="The Great Wave", thumbnail_png=b"wave")
    transport, _calls = facts_transport(pb.Gallery(paintings=[wave]))
    facts = dialog.server_facts("127.0.0.1:7000", {}, lambda settings: transport)
    assert facts.info.device == "cpu" and [p.name for p in facts.gallery] == ["great-wave"]
    assert facts.models == [("tiny", "Tiny (trained at 128 px)")]
    assert facts.thumbnails == {"model:tiny": b"png", "gallery:great-wave": b"wave"}
    # a server from before ListGallery: the painting names of its info
    transport, _calls = facts_transport(JobFailed("Method not found", "UNIMPLEMENTED"))
    facts = dialog.server_facts("127.0.0.1:7000", {}, lambda settings: transport)
    assert facts.gallery == ["the-kiss"] and facts.thumbnails == {"model:tiny": b"png"}


def test_the_dialog_opens_without_choices_when_nothing_answers_or_the_transport_is_broken():
    transport, _calls = fake_transport(answers={"GetInfo": [ServerUnavailable("no answer")]})
    assert dialog.server_facts("127.0.0.1:7000", {}, lambda settings: transport) == (
        dialog.ServerFacts()
    )

    def broken(settings):
        raise core.PluginError("The Neural Style plug-in cannot load its connection ...")

    assert dialog.server_facts("127.0.0.1:7000", {}, broken) == dialog.ServerFacts()
