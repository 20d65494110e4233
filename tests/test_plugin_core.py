"""The plug-in's GIMP-free half (gimp_plugin/neural_style/neural_style_core.py) with a fake
client: options, the server start (and why it cannot start inside a Flatpak), the worker
thread and its deadline, and the message a person reads for each failure."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from nst_proto.job import OPTION_TYPES

PLUGIN_DIR = Path(__file__).resolve().parent.parent / "gimp_plugin" / "neural_style"
_spec = importlib.util.spec_from_file_location(
    "neural_style_core", PLUGIN_DIR / "neural_style_core.py"
)
core = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(core)


class ClientError(Exception):
    pass


class ServerUnavailable(ClientError):
    pass


class JobFailed(ClientError):
    pass


class JobCancelled(ClientError):
    pass


@dataclass
class Request:
    width: int = 4
    height: int = 2
    channels: int = 3
    sample_type: str = "u8"


def fake_transport(*outcomes):
    """A transport module whose StyleClient.stylize plays `outcomes` in turn: an exception
    to raise, a list of events to send before returning a result, or a callable."""
    calls = []

    class StyleClient:
        def __init__(self, address, timeout):
            self.address = address

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def stylize(self, request, on_event=None, cancel=None):
            calls.append(self.address)
            outcome = outcomes[len(calls) - 1]
            if isinstance(outcome, Exception):
                raise outcome
            if callable(outcome):
                return outcome(on_event, cancel)
            for event in outcome:
                on_event(event)
            return SimpleNamespace(width=4, height=2, channels=3, sample_type="u8", pixels=b"")

    transport = SimpleNamespace(
        StyleClient=StyleClient,
        ClientError=ClientError,
        ServerUnavailable=ServerUnavailable,
        JobFailed=JobFailed,
        JobCancelled=JobCancelled,
    )
    return transport, calls


def run(transport, *, timeout=30, settings=None, start=lambda address, settings: None):
    shown, said = [], []
    result = core.run_job(
        transport,
        Request(),
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
    return core.job_options(dialog, OPTION_TYPES, long_side=long_side, preview=preview)


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
    assert set(sent) <= set(OPTION_TYPES)  # server, timeout: the plug-in's own


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
    choices = core.style_choices([wave, "the-kiss"], [("tiny", "Tiny (trained at 128 px)")])
    assert [c for c, _ in choices] == ["gallery:great-wave", "gallery:the-kiss", "", "model:tiny"]
    assert choices[0][1] == "The Great Wave, Hokusai" and choices[1][1] == "The kiss"
    assert choices[2] == core.OWN_IMAGE and choices[3][1] == "Tiny (trained at 128 px), instant"
    for choice, _label in choices:
        assert core.choice_of(*core.chosen_style(choice)) == choice
    assert core.chosen_style("gallery:great-wave") == ("great-wave", "")
    assert core.chosen_style("model:tiny") == ("", "tiny")
    assert core.chosen_style("") == ("", "")
    # a network that ships with the gallery is labelled as its painting
    shipped = core.style_choices([wave], [("great-wave", "great-wave (trained at 128 px)")])
    assert shipped[-1] == ("model:great-wave", "The Great Wave, Hokusai, instant")
    # a server without a gallery (or not answering) still offers your own image
    assert core.style_choices([], []) == [core.OWN_IMAGE]


def test_the_dialog_says_where_the_server_runs_or_that_ok_starts_it():
    address = "127.0.0.1:50051"
    assert "not running at 127.0.0.1:50051" in core.server_status(None, address)
    assert "starts when you press OK" in core.server_status(None, address)
    cpu = SimpleNamespace(device="cpu", gpu_name="", queued=0, busy=False)
    assert core.server_status(cpu, address) == "Server: running on the CPU"
    gpu = SimpleNamespace(device="cuda:0", gpu_name="NVIDIA H100", queued=2, busy=True)
    assert (
        core.server_status(gpu, address) == "Server: running on NVIDIA H100, busy, 2 job(s) waiting"
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
    core.check_result(good, Request())
    with pytest.raises(core.PluginError, match=r"wrong shape \(4x2x3 u8, expected 4x2x4 u8\)"):
        core.check_result(good, Request(channels=4))


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
    assert starts == ["127.0.0.1:7000"] and len(calls) == 2
    assert shown == events and result.width == 4
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


def test_failures_become_one_message_each():
    for error, words in (
        (JobFailed("style image 1: not an image"), "could not stylise the layer: style image 1"),
        (JobCancelled("cancelled"), "The Neural Style job was cancelled."),
        (ClientError("odd"), "Neural Style: odd"),
        (ValueError("9 pixel bytes, but 4x2x3 u8 needs 24"), "cannot send this layer: 9 pixel"),
    ):
        transport, _ = fake_transport(error)
        with pytest.raises(core.PluginError, match=words):
            run(transport)


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
    job = lambda on_event: transport.StyleClient("x", 1).stylize(None, on_event, deadline)  # noqa: E731
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


def estimate(**fields):
    base = dict(seconds=0.0, measured_jobs=0, work_width=0, work_height=0, refused="")
    return SimpleNamespace(**{**base, "fits_work_size": 0, **fields})


def test_the_dialog_says_the_expected_time_from_the_servers_measurements():
    text = core.estimate_text(
        estimate(seconds=95.4, measured_jobs=3, work_width=768, work_height=512)
    )
    assert text == (
        "Expected time: about 1 min 35 s at 768x512 (the server's speed on its last 3 jobs)"
    )
    assert "its last job)" in core.estimate_text(estimate(seconds=4, measured_jobs=1))
    assert "first job" in core.estimate_text(estimate())  # nothing measured: no made-up figure
    assert "once the server runs" in core.estimate_text(None)
    too_large = estimate(refused="styling at 8000 pixels needs ...", fits_work_size=2670)
    assert core.estimate_text(too_large) == (
        "Too large for the server's memory at this working size: set Advanced > Working size "
        "to 2670 or less (0 lets the quality choose)."
    )


def test_a_job_the_server_would_refuse_stops_before_any_pixel_is_sent():
    sent = []
    transport, _calls = fake_transport([])

    class Estimating(transport.StyleClient):
        def estimate(self, width, height, *, styles, options, model):
            sent.append((width, height))
            return estimate(refused="styling at 8000 pixels ...", fits_work_size=2670)

        def stylize(self, request, on_event=None, cancel=None):
            raise AssertionError("the job must not be sent")

    transport.StyleClient = Estimating
    request = SimpleNamespace(width=4, height=2, styles=[], options={}, model="tiny")
    with pytest.raises(core.PluginError, match="Working size to 2670 or less"):
        core.run_job(
            transport, request, "127.0.0.1:7000", 30, {}, [].append, [].append,
            core.Deadline(30),
        )  # fmt: skip
    assert sent == [(4, 2)]
