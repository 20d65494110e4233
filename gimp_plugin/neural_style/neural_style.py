#!/usr/bin/env python3
"""Neural Style for GIMP 3: Filters > Neural Style...

A thin GIMP 3.0 plug-in. It reads the active layer at its own precision and the selection
as a soft mask, sends them with a style image to the local Neural Style server through the
project's gRPC client (nst_proto.client), and writes the result as a new layer above the
source, in one undo group. No torch or numpy runs inside GIMP; grpc is imported lazily.

Instead of a style image, the user can pick a trained style network from the server's style
library (fast mode, `style-model`): the dialog lists what the server offers; a script passes
the model's name.

Installed by `nst-server install-gimp-plugin`, which puts this file, the nst_proto package
and a vendor/ folder (grpcio and protobuf for GIMP's own Python) into
<GIMP config dir>/plug-ins/neural_style/, and may write neural_style.json beside it with
the absolute command that starts the server.

Cancelling: GIMP 3.0.4 has no way for a Python plug-in to be told that the user pressed the
progress bar's cancel button; GIMP kills the plug-in process instead. The gRPC stream then
breaks and the server cancels the job on the client's disconnect. SIGTERM and SIGINT are
also turned into a cancel of the job, and a deadline (the `timeout` argument) cancels it too.
"""

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GLib, GObject  # noqa: E402

PROC_NAME = "plug-in-neural-style"
PLUGIN_DIR = os.path.dirname(os.path.realpath(__file__))
SETTINGS_FILE = os.path.join(PLUGIN_DIR, "neural_style.json")
DEFAULT_ADDRESS = "127.0.0.1:50051"
METHODS = (
    ("proposed", "Proposed (dynamic weighting)", "Keeps the style/content balance steady"),
    ("gatys", "Gatys et al. (classic)", "The classic optimisation with fixed weights"),
)
# The job's own arguments, set by GIMP or through the drop-down, not shown as fields.
ARGUMENTS_OFF_DIALOG = ("run-mode", "image", "drawables", "style-model")
QUALITIES = (
    ("draft", "Draft (fast)", "Few iterations, for a quick look"),
    ("normal", "Normal", "The default balance of time and quality"),
    ("high", "High (slow)", "More iterations and levels"),
)


class PluginError(Exception):
    """A failure the user can act on; the message is shown by GIMP as is."""


def _settings():
    """Read neural_style.json written by the installer (missing or broken: empty)."""
    try:
        with open(SETTINGS_FILE, encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _import_client():
    """Import the project's client from beside this file (lazily: not at plug-in scan)."""
    for path in (os.path.join(PLUGIN_DIR, "vendor"), PLUGIN_DIR):
        if os.path.isdir(path) and path not in sys.path:
            sys.path.insert(0, path)
    try:
        from nst_proto import client  # noqa: PLC0415
    except ImportError as exc:
        raise PluginError(
            f"The Neural Style plug-in cannot load its gRPC client ({exc}). "
            "Reinstall it with: nst-server install-gimp-plugin"
        ) from exc
    return client


def _pixel_layout(image, drawable):
    """(babl format, sample type, channels) matching the layer's own precision and TRC.

    Reading and writing in the image's own encoding keeps pixels outside the selection
    bit-identical: integer images travel as u8/u16, half/float/double/u32 as float32.
    """
    precision = image.get_precision().value_name  # e.g. GIMP_PRECISION_U16_NON_LINEAR
    if "_U8_" in precision:
        sample, babl_type = "u8", "u8"
    elif "_U16_" in precision:
        sample, babl_type = "u16", "u16"
    else:
        sample, babl_type = "f32", "float"
    if precision.endswith("_NON_LINEAR"):
        model = "R'G'B'"
    elif precision.endswith("_PERCEPTUAL"):
        model = "R~G~B~"
    else:
        model = "RGB"
    alpha = drawable.has_alpha()
    fmt = f"{model}{'A' if alpha else ''} {babl_type}"
    return fmt, sample, 4 if alpha else 3


def _read_mask(image, layer, width, height):
    """The selection inside the layer's bounds as w*h u8 bytes, or None for no selection."""
    if Gimp.Selection.is_empty(image):
        return None
    _ok, ox, oy = layer.get_offsets()
    rect = Gegl.Rectangle.new(ox, oy, width, height)
    data = image.get_selection().get_buffer().get(rect, 1.0, "Y u8", Gegl.AbyssPolicy.NONE)
    data = bytes(data)
    if not any(data):
        raise PluginError(
            "The selection does not overlap the active layer. Select a region of the "
            "layer, or Select > None to stylise the whole layer."
        )
    return data


def _style_path(config):
    style_file = config.get_property("style-file")
    path = style_file.get_path() if style_file is not None else None
    if not path:
        raise PluginError('Choose a style image (the "Style image" argument is empty).')
    if not os.path.isfile(path):
        raise PluginError(f"The style image {path} does not exist or is not a file.")
    return path


def _fmt_seconds(seconds):
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class _Progress:
    """Turns the client's job events into GIMP's progress bar and text."""

    def __init__(self):
        self.started = time.monotonic()
        self.last_text = ""
        Gimp.progress_init("Neural Style: sending the image to the server")

    def text(self, message):
        if message != self.last_text:
            Gimp.progress_set_text(message)
            self.last_text = message

    def __call__(self, event):
        kind = getattr(event, "kind", None) or type(event).__name__.lower()
        if kind == "queued":
            position = getattr(event, "position", None)
            self.text(
                f"Neural Style: queued (position {position})"
                if position
                else "Neural Style: queued"
            )
        elif kind == "started":
            self.started = time.monotonic()
            self.text("Neural Style: started")
        elif kind == "progress":
            fraction = float(getattr(event, "fraction", 0.0) or 0.0)
            Gimp.progress_update(min(max(fraction, 0.0), 1.0))
            left = getattr(event, "eta", None)
            if not left:
                elapsed = time.monotonic() - self.started
                left = elapsed * (1.0 - fraction) / fraction if fraction > 0.02 else None
            level = getattr(event, "level", 0)  # 0-based, like the iteration
            levels = getattr(event, "levels", 0)
            iteration = getattr(event, "iteration", 0)
            iterations = getattr(event, "iterations", 0)
            text = (
                f"Neural Style: level {level + 1}/{levels}, iteration {iteration + 1}/{iterations}"
            )
            if left is not None:
                text += f", about {_fmt_seconds(left)} left"
            self.text(text)
        elif kind == "finished":
            Gimp.progress_update(1.0)
            self.text("Neural Style: writing the new layer")


class _Deadline:
    """The cancel check handed to the client: a deadline, SIGTERM and SIGINT."""

    def __init__(self, seconds):
        self.deadline = time.monotonic() + seconds if seconds > 0 else None
        self.seconds = seconds
        self.signalled = False
        self.timed_out = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                signal.signal(sig, self._on_signal)
            except (ValueError, OSError):
                pass

    def _on_signal(self, _signum, _frame):
        self.signalled = True

    def __call__(self):
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
        return self.signalled or self.timed_out


def _server_command(settings):
    """(command, None) to start the daemon, or (None, why not).

    The installer's record (neural_style.json) first, then $NST_SERVER_COMMAND, then
    nst-server on GIMP's PATH.
    """
    reasons = []
    command = settings.get("server_command")
    if isinstance(command, list) and command:
        if os.path.isfile(command[0]) and os.access(command[0], os.X_OK):
            return command, None
        reasons.append(f"the installed start command {command[0]} is not there")
    for name in (os.environ.get("NST_SERVER_COMMAND"), "nst-server"):
        found = shutil.which(name) if name else None
        if found:
            return [found], None
    reasons.append("nst-server is not on GIMP's PATH")
    return None, " and ".join(reasons)


def _start_server(address, settings):
    """Try `nst-server start`; return None on success, else the reason it could not."""
    command, why_not = _server_command(settings)
    if command is None:
        return why_not
    Gimp.progress_set_text("Neural Style: starting the server (nst-server start)")
    try:
        proc = subprocess.run(
            [*command, "start", "--address", address],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=float(settings.get("start_timeout", 120)),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"running {command[0]} start failed: {exc}"
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
        return f"{command[0]} start exited with status {proc.returncode}: " + " ".join(tail)
    return None


_DONE = object()


def _run_in_worker(job, progress, cancel, timeout, grace=20.0):
    """Run job(on_event) in a daemon thread while this (main) thread shows its events.

    libgimp's wire to GIMP is not thread-safe, so only this thread talks to GIMP; and it
    keeps the deadline itself, so GIMP is never left waiting on a stuck connection: once the
    deadline passes the job is asked to cancel, and after `grace` more seconds it is abandoned.
    """
    events = queue.Queue()
    outcome = {}

    def target():
        try:
            outcome["result"] = job(events.put)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            outcome["error"] = exc
        finally:
            events.put(_DONE)

    threading.Thread(target=target, name="neural-style-job", daemon=True).start()
    cancelled_at = None
    while True:
        try:
            event = events.get(timeout=0.2)
        except queue.Empty:
            event = None
        if event is _DONE:
            break
        if event is not None:
            progress(event)
        if cancelled_at is None and cancel():
            cancelled_at = time.monotonic()
            Gimp.progress_set_text("Neural Style: cancelling the job")
        if cancelled_at is not None and time.monotonic() - cancelled_at > grace:
            raise PluginError(
                f"Neural Style gave up: no result after {timeout} s (the timeout argument) and "
                f"the server did not confirm the cancel within {grace:.0f} s. Check the server "
                "with `nst-server status` and its log."
            )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _write_layer(image, source, name, fmt, width, height, data):
    """Insert the result as a new layer above `source`, in one undo group."""
    layer_type = source.type()
    image.undo_group_start()
    try:
        layer = Gimp.Layer.new(image, name, width, height, layer_type, 100.0, Gimp.LayerMode.NORMAL)
        parent = source.get_parent()
        image.insert_layer(layer, parent, image.get_item_position(source))
        _ok, ox, oy = source.get_offsets()
        layer.set_offsets(ox, oy)
        buffer = layer.get_buffer()
        buffer.set(Gegl.Rectangle.new(0, 0, width, height), fmt, data)
        buffer.flush()
        layer.update(0, 0, width, height)
    finally:
        image.undo_group_end()
    return layer


def stylize_layer(image, drawables, config):
    """The whole job; raises PluginError with a message for the user on any failure."""
    if len(drawables) != 1:
        raise PluginError("Neural Style works on one layer: select exactly one layer.")
    source = drawables[0]
    if not source.is_layer() or source.is_group():
        raise PluginError(
            "Neural Style needs a pixel layer, not a layer group, layer mask or channel."
        )
    model = (config.get_property("style-model") or "").strip()
    style_path = None if model else _style_path(config)
    settings = _settings()
    address = (config.get_property("server") or "").strip() or settings.get(
        "address", DEFAULT_ADDRESS
    )
    timeout = int(config.get_property("timeout"))

    width, height = source.get_width(), source.get_height()
    fmt, sample, channels = _pixel_layout(image, source)
    rect = Gegl.Rectangle.new(0, 0, width, height)
    pixels = bytes(source.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.NONE))
    mask = _read_mask(image, source, width, height)
    styles = []
    if style_path is not None:
        try:
            with open(style_path, "rb") as fh:
                styles = [(fh.read(), 1.0)]
        except OSError as exc:
            raise PluginError(f"Cannot read the style image {style_path}: {exc}") from exc

    size = int(config.get_property("size"))
    iterations = int(config.get_property("iterations"))
    options = {
        "method": config.get_property("method"),
        "strength": float(config.get_property("strength")),
        "quality": config.get_property("quality"),
        "preserve_color": bool(config.get_property("preserve-color")),
        "seed": int(config.get_property("seed")),
    }
    if 0 < size < max(width, height):
        options["size"] = size  # a cap: small layers are styled at their own size
    if iterations > 0:
        options["iterations"] = iterations

    client_mod = _import_client()
    progress = _Progress()
    cancel = _Deadline(timeout)

    def job(on_event):
        # the gRPC deadline is a backstop behind the plug-in's own deadline (cancel())
        client = client_mod.StyleClient(address=address, timeout=float(timeout) + 60.0)
        try:
            return client.stylize(
                pixels,
                width,
                height,
                channels,
                sample,
                styles=styles,
                mask=mask,
                options=options,
                on_event=on_event,
                cancel=cancel,
                model=model,
            )
        finally:
            close = getattr(client, "close", None)
            if close is not None:
                close()

    def run_job():
        return _run_in_worker(job, progress, cancel, timeout)

    unavailable = getattr(client_mod, "ServerUnavailable", ())
    failed = getattr(client_mod, "JobFailed", ())
    cancelled = getattr(client_mod, "JobCancelled", ())
    client_error = getattr(client_mod, "ClientError", ())
    try:
        try:
            result = run_job()
        except unavailable as first:
            reason = _start_server(address, settings)
            if reason is not None:
                raise PluginError(
                    f"The Neural Style server is not running at {address}, and GIMP could "
                    f"not start it ({reason}). Start it in a terminal with:\n"
                    f"    nst-server start --address {address}\n"
                    "then run Filters > Neural Style again."
                ) from first
            result = run_job()
    except unavailable as exc:
        raise PluginError(
            f"The Neural Style server at {address} does not answer ({exc}). Check it with "
            f"`nst-server status`, or start it with: nst-server start --address {address}"
        ) from exc
    except cancelled as exc:
        if cancel.timed_out:
            raise PluginError(
                f"Neural Style gave up after {timeout} s (the timeout argument) and cancelled "
                "the job. Try a smaller working size, the draft quality, or a longer timeout."
            ) from exc
        raise PluginError("The Neural Style job was cancelled.") from exc
    except failed as exc:
        raise PluginError(f"The Neural Style server could not stylise the layer: {exc}") from exc
    except client_error as exc:
        raise PluginError(f"Neural Style: {exc}") from exc
    except ValueError as exc:  # the client's argument checks, before anything is sent
        raise PluginError(f"Neural Style cannot send this layer: {exc}") from exc

    if cancel.timed_out:
        raise PluginError(f"Neural Style gave up after {timeout} s (the timeout argument).")
    if (result.width, result.height, result.channels) != (width, height, channels) or (
        result.sample_type != sample
    ):
        raise PluginError(
            "The server returned an image of the wrong shape "
            f"({result.width}x{result.height}x{result.channels} {result.sample_type}, expected "
            f"{width}x{height}x{channels} {sample}); update the server and the plug-in together."
        )
    style_name = model or os.path.splitext(os.path.basename(style_path))[0]
    name = f"{style_name} (Neural Style)"
    layer = _write_layer(image, source, name, fmt, width, height, bytes(result.pixels))
    Gimp.progress_end()
    Gimp.displays_flush()
    return layer


def _library_models(config):
    """(id, label) of the server's style models, or [] when it has none or does not answer
    within two seconds (the dialog must open at once; the job starts the server if needed)."""
    address = (config.get_property("server") or "").strip() or _settings().get(
        "address", DEFAULT_ADDRESS
    )
    try:
        client_mod = _import_client()
        with client_mod.StyleClient(address=address, timeout=5.0, connect_timeout=2.0) as client:
            models = client.list_models()
    except Exception:  # noqa: BLE001 - no list is no choice, never a failed dialog
        return []
    return [(m.id, f"{m.name} (trained at {m.training_size} px)") for m in models]


def _style_model_combo(config, models):
    """A drop-down "Style model" bound to the `style-model` argument; the first entry means
    "use the style image"."""
    gi.require_version("Gtk", "3.0")
    from gi.repository import Gtk  # noqa: PLC0415

    box = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=6)
    box.pack_start(Gtk.Label(label="Style model (fast):"), False, False, 0)
    combo = Gtk.ComboBoxText()
    combo.append("", "None: use the style image")
    for model_id, label in models:
        combo.append(model_id, label)
    current = (config.get_property("style-model") or "").strip()
    combo.set_active_id(current if current in {m for m, _ in models} else "")
    combo.connect("changed", lambda c: config.set_property("style-model", c.get_active_id() or ""))
    config.set_property("style-model", combo.get_active_id() or "")
    box.pack_start(combo, True, True, 0)
    box.show_all()
    return box


def _show_dialog(procedure, config):
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi  # noqa: PLC0415

    GimpUi.init(PROC_NAME)
    dialog = GimpUi.ProcedureDialog.new(procedure, config, "Neural Style")
    dialog.get_scale_entry("strength", 1.0)
    arguments = [spec.get_name() for spec in procedure.get_arguments()]
    dialog.fill([name for name in arguments if name not in ARGUMENTS_OFF_DIALOG])
    models = _library_models(config)
    if models:
        dialog.get_content_area().pack_start(_style_model_combo(config, models), False, False, 6)
    else:
        config.set_property("style-model", "")
    ok = dialog.run()
    dialog.destroy()
    return ok


def run(procedure, run_mode, image, drawables, config, _data):
    if run_mode == Gimp.RunMode.INTERACTIVE and not _show_dialog(procedure, config):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    try:
        stylize_layer(image, drawables, config)
    except PluginError as exc:
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(str(exc)))
    except Exception as exc:  # noqa: BLE001 - GIMP must get an error, never a crash
        return procedure.new_return_values(
            Gimp.PDBStatusType.EXECUTION_ERROR,
            GLib.Error(f"Neural Style failed unexpectedly: {type(exc).__name__}: {exc}"),
        )
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def _choice(entries):
    choice = Gimp.Choice.new()
    for index, (nick, label, help_text) in enumerate(entries):
        choice.add(nick, index, label, help_text)
    return choice


class NeuralStyle(Gimp.PlugIn):
    def do_query_procedures(self):
        return [PROC_NAME]

    def do_set_i18n(self, _name):
        return False

    def do_create_procedure(self, name):
        rw = GObject.ParamFlags.READWRITE
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        procedure.set_image_types("RGB*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label("Neural _Style...")
        procedure.add_menu_path("<Image>/Filters/")
        procedure.set_documentation(
            "Paint the layer in the style of another image",
            "Sends the active layer (and the selection as a soft mask) to the local Neural "
            "Style server and adds the stylised result as a new layer above it. The source "
            "layer is never changed; pixels outside the selection stay identical.",
            name,
        )
        procedure.set_attribution("Neural Style for GIMP", "MIT", "2026")
        procedure.add_file_argument(
            "style-file",
            "St_yle image",
            "The image whose style is transferred",
            Gimp.FileChooserAction.OPEN,
            True,
            None,
            rw,
        )
        procedure.add_string_argument(
            "style-model",
            "Style _model",
            "The name of a trained style network in the server's style library (nst-server "
            "--models); when set it is used instead of the style image (fast mode)",
            "",
            rw,
        )
        procedure.add_double_argument(
            "strength",
            "_Strength",
            "How far the result moves from the layer (0 to 1)",
            0.0,
            1.0,
            0.5,
            rw,
        )
        procedure.add_choice_argument(
            "quality",
            "_Quality",
            "Quality preset (iterations and levels)",
            _choice(QUALITIES),
            "normal",
            rw,
        )
        procedure.add_int_argument(
            "size",
            "Max working si_ze",
            "Largest long side in pixels the style is computed "
            "at (0: always the layer's own size); the new layer keeps the layer's size",
            0,
            8192,
            512,
            rw,
        )
        procedure.add_choice_argument(
            "method",
            "_Method",
            "Optimisation method",
            _choice(METHODS),
            "proposed",
            rw,
        )
        procedure.add_boolean_argument(
            "preserve-color",
            "Preserve _colours",
            "Keep the layer's colours, take only texture and brushwork from the style",
            False,
            rw,
        )
        procedure.add_string_argument(
            "server",
            "Ser_ver address",
            "host:port of the Neural Style server (nst-server start)",
            DEFAULT_ADDRESS,
            rw,
        )
        procedure.add_int_argument(
            "iterations",
            "_Iterations",
            "Iteration budget (0: the quality preset's)",
            0,
            100000,
            0,
            rw,
        )
        procedure.add_int_argument(
            "seed",
            "See_d",
            "Random seed, for repeatable results",
            0,
            2**31 - 1,
            0,
            rw,
        )
        procedure.add_int_argument(
            "timeout",
            "_Timeout (s)",
            "Give up and cancel the job after this many seconds",
            5,
            86400,
            1800,
            rw,
        )
        return procedure


if __name__ == "__main__":
    Gimp.main(NeuralStyle.__gtype__, sys.argv)
