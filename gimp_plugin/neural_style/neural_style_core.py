"""The Neural Style plug-in without GIMP: what a job needs besides pixels and layers.

neural_style.py (the GIMP glue) reads the layer and the selection, shows the dialog and the
progress bar, and writes the new layer; neural_style_dialog.py says what the dialog shows;
everything else is here, importing no `gi`, so the ordinary test suite runs it with a fake
client (tests/test_plugin_core.py):

- the installer's record beside the plug-in (neural_style.json): the server's address, the
  command that starts it and the command that reinstalls the plug-in;
- loading the transport (nst_proto.pure_client and its pure-Python packages in vendor.zip),
  with an error that names GIMP's Python and the command that fixes it;
- starting the server when nothing answers, except inside a Flatpak, whose sandbox cannot
  start programs on the host: there the message says the command to run on the host;
- running the job in a worker thread while GIMP's thread shows its events and keeps the
  deadline, and turning every client error into one message for the user.

It runs in GIMP's own Python (3.10 on macOS and newer elsewhere): standard library only.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

PLUGIN_DIR = os.path.dirname(os.path.realpath(__file__))
SETTINGS_NAME = "neural_style.json"
# nst_proto.DEFAULT_ADDRESS (a test keeps them equal): the plug-in must register and explain a
# broken installation without importing anything beside it.
DEFAULT_ADDRESS = "127.0.0.1:50051"
INSTALL_COMMAND = ["nst-server", "install-gimp-plugin"]
# The live preview: the server sends the result so far this many pixels on the long side, at
# most this often; GIMP scales it to the layer. Small, so a preview costs little on either side.
PREVIEW_MAX_SIDE = 512
PREVIEW_INTERVAL = 1.0
# Pure-Python runtimes: a compiled protobuf or multidict elsewhere on GIMP's path was built for
# another Python or another version (see nst_proto.pure_client).
TRANSPORT_ENVIRONMENT = {
    "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python",
    "MULTIDICT_NO_EXTENSIONS": "1",
}
# Windows's process creation flag (winbase.h) for a console program run without a window;
# spelled out because the subprocess module defines it only on Windows.
CREATE_NO_WINDOW = 0x08000000


class PluginError(Exception):
    """A failure the user can act on; the message is shown by GIMP as is."""


def read_settings(plugin_dir: str = PLUGIN_DIR) -> dict:
    """neural_style.json as the installer wrote it (missing or broken: empty)."""
    try:
        with open(os.path.join(plugin_dir, SETTINGS_NAME), encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def command_text(argv: list[str]) -> str:
    """A command as a person types it in this system's shell."""
    return subprocess.list2cmdline(argv) if os.name == "nt" else shlex.join(argv)


def install_command(settings: dict) -> str:
    command = settings.get("install_command")
    return command_text(command if isinstance(command, list) and command else INSTALL_COMMAND)


def start_command(settings: dict, address: str) -> str:
    """The command that starts the server at `address`, as the installer recorded it."""
    command = settings.get("server_command")
    argv = list(command) if isinstance(command, list) and command else ["nst-server"]
    argv.append("start")
    if address != DEFAULT_ADDRESS:
        argv += ["--address", address]
    return command_text(argv)


def server_address(argument: str | None, settings: dict) -> str:
    """The `server` argument, else the installer's address, else the default."""
    return (argument or "").strip() or settings.get("address") or DEFAULT_ADDRESS


def read_style(path: str) -> bytes:
    """The style image file's bytes (the server decodes and checks them)."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise PluginError(f"Cannot read the style image {path}: {exc.strerror or exc}") from exc


def job_options(
    arguments: dict, option_types: dict, *, long_side: int, preview: bool = True
) -> dict:
    """The job's options from the procedure's arguments: every argument named for an option
    of the contract (`option_types`, the transport's OPTION_TYPES: name -> Python type; an
    argument's dashes are the option's underscores), as that option's type. The others
    (the server, the timeout, the style file) are not options.

    `size` is the working size (0: the quality's); a layer smaller than it is styled at its
    own size. The result has the layer's full size either way. `iterations` 0 means the
    quality preset's. `preview` asks the server for preview images while the job runs."""
    options = {}
    for name, value in arguments.items():
        option = name.replace("-", "_")
        if option in option_types:
            options[option] = option_types[option](value)
    if not 0 < options.get("size", 0) < long_side:
        options.pop("size", None)
    if not options.get("iterations"):
        options.pop("iterations", None)
    if preview:
        options["preview_max_side"] = PREVIEW_MAX_SIDE
        options["preview_interval"] = PREVIEW_INTERVAL
    return options


def upscale_nearest(rgb: bytes, width: int, height: int, out_width: int, out_height: int) -> bytes:
    """RGB u8 pixels scaled to out_width x out_height by nearest neighbour, in plain Python.

    For the preview layer: GIMP's own scaling (a PDB call) would take over the plug-in's
    progress bar and hide its Cancel button, and GEGL's operations are not loaded in a
    plug-in. Each source row is widened once and shared by the output rows it covers, so a
    512-pixel preview fills a 24-megapixel layer in well under a second."""
    columns = [x * width // out_width for x in range(out_width)]
    wide = []
    for y in range(height):
        row = rgb[3 * y * width : 3 * (y + 1) * width]
        wide.append(b"".join(row[3 * x : 3 * x + 3] for x in columns))
    return b"".join(wide[y * height // out_height] for y in range(out_height))


def trace(what: str, **fields) -> None:
    """One JSON line about what the plug-in did to the image, appended to $NST_PLUGIN_TRACE
    when it is set: the real-GIMP tests see there what happens during a job."""
    path = os.environ.get("NST_PLUGIN_TRACE")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"what": what, **fields}) + "\n")


def preview_pixels(event) -> tuple[int, int, bytes] | None:
    """(width, height, RGB u8 bytes) of a preview event, None for any other event or a
    preview whose size does not match its bytes (never drawn half)."""
    if getattr(event, "kind", "") != "preview":
        return None
    width, height = int(event.preview_width), int(event.preview_height)
    pixels = bytes(event.preview or b"")
    if width <= 0 or height <= 0 or len(pixels) != width * height * 3:
        return None
    return width, height, pixels


def check_result(result, request) -> None:
    """The result must have the layer's layout, or writing it would scramble the layer."""
    got = (result.width, result.height, result.channels, result.sample_type)
    wanted = (request.width, request.height, request.channels, request.sample_type)
    if got != wanted:
        raise PluginError(
            "The server returned an image of the wrong shape ({}x{}x{} {}, expected {}x{}x{} {}); "
            "update the server and the plug-in together.".format(*got, *wanted)
        )


def layer_name(model: str, style_path: str | None) -> str:
    """The new layer's name: the style's (file, painting or model) name."""
    style = model or os.path.splitext(os.path.basename(style_path or "style"))[0]
    return f"{style} (Neural Style)"


def pixel_layout(precision: str, alpha: bool) -> tuple[str, str, int]:
    """(babl format, sample type, channels) for a layer of GIMP precision `precision` (its
    name, e.g. GIMP_PRECISION_U16_NON_LINEAR), with or without alpha.

    Reading and writing in the image's own encoding keeps pixels outside the selection
    bit-identical: integer images travel as u8/u16, half/float/double/u32 as float32."""
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
    return f"{model}{'A' if alpha else ''} {babl_type}", sample, 4 if alpha else 3


def style_arguments(
    model: str | None, painting: str | None, path: str | None, read=read_style
) -> tuple[list, str, str, str | None]:
    """(styles, model, name for the new layer, style file path) that the style-model,
    style-name and style-file arguments choose, in that order: a trained model, a gallery
    painting by name, or the style image file (read by `read`)."""
    model = (model or "").strip()
    painting = "" if model else (painting or "").strip()
    if model:
        return [], model, model, None
    if painting:
        return [(painting, 1.0)], "", painting, None
    if not path:
        raise PluginError('Choose a style image (the "Style image" argument is empty).')
    if not os.path.isfile(path):
        raise PluginError(f"The style image {path} does not exist or is not a file.")
    return [(read(path), 1.0)], "", "", path


def refusal_message(estimate) -> str:
    """Why the server would refuse the job, in the dialog's words."""
    if estimate.fits_work_size:
        return (
            f"Too large for the server's memory at this working size: set Advanced > Working "
            f"size to {estimate.fits_work_size} or less (0 lets the quality choose)."
        )
    return f"The server would refuse this job: {estimate.refused}"


def estimate_job(transport, client, request):
    """The server's JobEstimate for `request`, or None from a server that answers without one.

    Only the server's refusal of the call itself (the transport's JobFailed: UNIMPLEMENTED
    from a server older than Estimate) is taken as "no estimate": the job then says what is
    wrong. Nothing answering (ServerUnavailable) goes to run_job, which starts the server."""
    frames = getattr(request, "frames", 1)  # an animation's estimate covers all its frames
    independent = getattr(request, "independent", False)  # each frame styled alone
    fields = {"frames": frames, "independent": independent} if frames > 1 else {}
    try:
        return client.estimate(
            request.width,
            request.height,
            styles=request.styles,
            options=request.options,
            model=request.model,
            **fields,
        )
    except transport.JobFailed:
        return None


def in_flatpak(environ: dict | None = None, info_file: str = "/.flatpak-info") -> bool:
    """True inside a Flatpak sandbox (GIMP from Flathub)."""
    environ = os.environ if environ is None else environ
    return bool(environ.get("FLATPAK_ID")) or os.path.exists(info_file)


def open_client(transport, address: str, settings: dict, **arguments):
    """transport.StyleClient(address, **arguments) with the token and the certificate that
    the settings name for a server on another machine ("token_file", "tls_ca_file", read by
    nst_proto.access); PluginError, in one line, when one cannot be read, before any call."""
    from nst_proto.access import read_access  # noqa: PLC0415 - beside the transport

    try:
        access = read_access(settings.get("token_file"), settings.get("tls_ca_file"))
    except ValueError as exc:
        raise PluginError(
            f"{exc} (named in the plug-in's {SETTINGS_NAME}): install it again with the right "
            "files: nst-server install-gimp-plugin --token-file FILE --tls-ca FILE"
        ) from None
    return transport.StyleClient(address, **arguments, **access.client_arguments())


def load_transport(plugin_dir: str = PLUGIN_DIR, settings: dict | None = None):
    """nst_proto.pure_client from beside this file, and its packages from vendor.zip.

    Imported when a job or the dialog needs it, never at plug-in scan. On failure the error
    names GIMP's Python and the command that reinstalls the plug-in."""
    for path in (os.path.join(plugin_dir, "vendor.zip"), plugin_dir):
        if os.path.exists(path) and path not in sys.path:
            sys.path.insert(0, path)
    saved = {name: os.environ.get(name) for name in TRANSPORT_ENVIRONMENT}
    os.environ.update(TRANSPORT_ENVIRONMENT)
    try:
        from nst_proto import pure_client  # noqa: PLC0415
    except Exception as exc:  # noqa: BLE001 - any import failure gets the same advice
        version = ".".join(str(v) for v in sys.version_info[:3])
        raise PluginError(
            f"The Neural Style plug-in cannot load its connection to the server in GIMP's "
            f"Python {version} ({type(exc).__name__}: {exc}). Reinstall the plug-in with: "
            f"{install_command(settings if settings is not None else read_settings(plugin_dir))}"
        ) from exc
    finally:  # programs the plug-in starts (the server) get the environment GIMP gave it
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return pure_client


def server_command(settings: dict) -> tuple[list[str] | None, str | None]:
    """(command, None) to start the daemon, or (None, why not).

    The installer's record first, then $NST_SERVER_COMMAND, then nst-server on GIMP's PATH."""
    reasons = []
    command = settings.get("server_command")
    if isinstance(command, list) and command:
        if os.path.isfile(command[0]) and os.access(command[0], os.X_OK):
            return list(command), None
        reasons.append(f"the installed start command {command[0]} is not there")
    for name in (os.environ.get("NST_SERVER_COMMAND"), "nst-server"):
        found = shutil.which(name) if name else None
        if found:
            return [found], None
    reasons.append("nst-server is not on GIMP's PATH")
    return None, " and ".join(reasons)


def on_this_computer(address: str) -> bool:
    """Whether the plug-in could start the server at `address` (nst_proto.access.is_loopback,
    as nst-server decides where it may listen alone); a malformed address counts as this
    computer's: connecting to it says what is wrong with it."""
    from nst_proto.access import is_loopback  # noqa: PLC0415 - beside the transport

    try:
        return is_loopback(address)
    except ValueError:
        return True


def start_server(address: str, settings: dict, *, flatpak: bool | None = None) -> str | None:
    """Try `nst-server start`; None on success, else why it could not (a sentence part).

    The command is an argument list, never a shell line, so no quoting differs between
    systems. On Windows GIMP runs plug-ins in its windowless pythonw.exe, and a console
    program started from there opens a console window: CREATE_NO_WINDOW gives it a hidden
    one. The server runs in the user's own Python: GIMP's PYTHONHOME and PYTHONPATH (set for
    GIMP's bundled Python) would make it load GIMP's library instead, so they are left out."""
    if not on_this_computer(address):
        return f"{address} is another computer's address: start the server there"
    if in_flatpak() if flatpak is None else flatpak:
        return "GIMP runs in a Flatpak sandbox, which cannot start programs on this computer"
    command, why_not = server_command(settings)
    if command is None:
        return why_not
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
    try:
        proc = subprocess.run(
            [*command, "start", "--address", address],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            env=environment,
            timeout=float(settings.get("start_timeout", 120)),
            creationflags=CREATE_NO_WINDOW if os.name == "nt" else 0,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"running {command[0]} start failed: {exc}"
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
        return f"{command[0]} start exited with status {proc.returncode}: " + " ".join(tail)
    return None


def not_running_message(address: str, settings: dict, reason: str) -> str:
    message = (
        f"The Neural Style server is not running at {address}, and GIMP could not start it "
        f"({reason}). Start it in a terminal with:\n    {start_command(settings, address)}\n"
    )
    if in_flatpak():
        message += "(nst-server install-service starts it at every login.)\n"
    return message + "then run Filters > Neural Style again."


def fmt_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class ProgressText:
    """Turns the client's job events into the progress bar's fraction and text."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, event) -> tuple[float | None, str | None]:
        """(fraction or None, text or None) for one event."""
        kind = getattr(event, "kind", "")
        if kind == "queued":
            position = getattr(event, "position", 0)
            return None, "Neural Style: queued" + (f" (position {position})" if position else "")
        if kind == "started":
            self.started = time.monotonic()
            return None, "Neural Style: started"
        frames = int(getattr(event, "frames", 1) or 1)  # an animation's: the whole sequence's
        frame = f"frame {int(getattr(event, 'frame', 0)) + 1} of {frames}, " if frames > 1 else ""
        if kind == "progress":
            fraction = min(max(float(event.fraction or 0.0), 0.0), 1.0)
            left = event.eta
            if not left:
                elapsed = time.monotonic() - self.started
                left = elapsed * (1.0 - fraction) / fraction if fraction > 0.02 else None
            text = (
                f"Neural Style: {frame}level {event.level + 1}/{event.levels}, "
                f"iteration {event.iteration + 1}/{event.iterations}"
            )
            if left is not None:
                text += f", about {fmt_seconds(left)} left"
            return fraction, text
        if kind == "finished":
            if frames > 1:
                return None, f"Neural Style: {frame.rstrip(', ')} done"
            return 1.0, "Neural Style: writing the new layer"
        return None, None


class Deadline:
    """The cancel check handed to the client: a deadline, or a signal that set `signalled`."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds if seconds > 0 else None
        self.seconds = seconds
        self.signalled = False
        self.timed_out = False

    def __call__(self) -> bool:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
        return self.signalled or self.timed_out

    def cancel_on_signals(self) -> None:
        """SIGTERM and SIGINT sent to the plug-in cancel the job instead of killing it."""

        def on_signal(_signum, _frame) -> None:
            self.signalled = True

        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                signal.signal(sig, on_signal)
            except (ValueError, OSError):  # not the main thread, or a platform without it
                pass


_DONE = object()


def run_in_worker(job, show, cancel: Deadline, say, grace: float = 20.0):
    """Run job(on_event) in a daemon thread while this (GIMP's) thread shows its events.

    libgimp's wire to GIMP is not thread-safe, so only this thread calls `show(event)` and
    `say(text)`; and it keeps the deadline itself, so GIMP is never left waiting on a stuck
    connection: once the deadline passes the job is asked to cancel, and after `grace` more
    seconds it is abandoned."""
    events: queue.Queue = queue.Queue()
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["result"] = job(events.put)
        except BaseException as exc:  # noqa: BLE001 - handed to GIMP's thread
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
            show(event)
        if cancelled_at is None and cancel():
            cancelled_at = time.monotonic()
            say("Neural Style: cancelling the job")
        if cancelled_at is not None and time.monotonic() - cancelled_at > grace:
            raise PluginError(
                f"Neural Style gave up: no result after {cancel.seconds} s (the timeout argument) "
                f"and the server did not confirm the cancel within {grace:.0f} s. Check the "
                "server with `nst-server status` and its log."
            )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def run_job(
    transport,
    request,
    address: str,
    timeout: float,
    settings: dict,
    show,
    say,
    cancel: Deadline,
    start=start_server,
    stylize=None,
):
    """Run `request` on the server at `address` and return the JobResult.

    Starts the server once when nothing answers (`start`, or the reason it cannot), and turns
    every error of the client into a PluginError with what to do. `stylize(client, request,
    on_event, cancel)` runs the job on the connected client (default: client.stylize; the
    frames' job passes its own, neural_style_frames.run_frames)."""

    def job(on_event):
        # the call's own deadline is a backstop behind the plug-in's (cancel)
        client = open_client(transport, address, settings, timeout=float(timeout) + 60.0)
        with client:
            estimate = estimate_job(transport, client, request)  # refused before any pixel is sent
            if estimate is not None and estimate.refused:
                raise PluginError(refusal_message(estimate))
            if stylize is not None:
                return stylize(client, request, on_event, cancel)
            return client.stylize(request, on_event=on_event, cancel=cancel)

    try:
        try:
            return run_in_worker(job, show, cancel, say)
        except transport.ServerUnavailable as first:
            say("Neural Style: starting the server (nst-server start)")
            reason = start(address, settings)
            if reason is not None:
                raise PluginError(not_running_message(address, settings, reason)) from first
            return run_in_worker(job, show, cancel, say)
    except transport.ServerUnavailable as exc:
        raise PluginError(
            f"The Neural Style server at {address} does not answer ({exc}). Check it with "
            f"`nst-server status`, or start it with: {start_command(settings, address)}"
        ) from exc
    except transport.JobCancelled as exc:
        if cancel.timed_out:
            raise PluginError(
                f"Neural Style gave up after {timeout} s (the timeout argument) and cancelled "
                "the job. Try a smaller working size, the draft quality, or a longer timeout."
            ) from exc
        raise PluginError("The Neural Style job was cancelled.") from exc
    except transport.JobFailed as exc:
        raise PluginError(f"The Neural Style server could not stylise the layer: {exc}") from exc
    except transport.ClientError as exc:
        raise PluginError(f"Neural Style: {exc}") from exc
    except ValueError as exc:  # the request's own checks, before anything is sent
        raise PluginError(f"Neural Style cannot send this layer: {exc}") from exc
