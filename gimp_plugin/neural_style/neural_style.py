#!/usr/bin/env python3
"""Neural Style for GIMP 3: Filters > Neural Style...

A thin GIMP 3 plug-in, the same file for GIMP 3.0 and 3.2. It reads the active layer at its
own precision and the selection as a soft mask, sends them with a style image to the local
Neural Style server, and writes the result as a new layer above the source, in one undo
group. This file is the GIMP glue (procedure, dialog, pixels, layers, progress bar); the job
itself (settings, transport, server start, worker thread, error messages) is in
neural_style_core.py beside it, and what the dialog says (its Style entries, the server's and
the expected time's lines) in neural_style_dialog.py; neither imports `gi`. No torch or numpy
runs inside GIMP.

"Apply to: All layers as frames" styles the image's layers as an animation's frames in one
job, one new layer per frame (neural_style_frames.py: which layers, in which order, where the
new layers go).

Instead of a style image, the user can pick a trained style network from the server's style
library (fast mode, `style-model`): the dialog lists what the server offers; a script passes
the model's name.

Installed by `nst-server install-gimp-plugin` into <GIMP config dir>/plug-ins/neural_style/:
this file, neural_style_core.py, neural_style_dialog.py, neural_style_frames.py, the
nst_proto package (the pure-Python client), vendor.zip (grpclib, h2, protobuf and their
pure-Python needs: one copy works in every GIMP's Python) and neural_style.json (the
server's address and the commands that start the server and reinstall the plug-in).

Cancelling: GIMP 3 has no way for a Python plug-in to be told that the user pressed the
progress bar's cancel button; GIMP kills the plug-in process instead. The connection then
breaks and the server cancels the job on the client's disconnect. SIGTERM and SIGINT are
also turned into a cancel of the job, and a deadline (the `timeout` argument) cancels it too.
"""

import contextlib
import functools
import os
import sys

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GLib, GObject  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import neural_style_core as core  # noqa: E402
import neural_style_dialog as dialog  # noqa: E402
import neural_style_frames as frames  # noqa: E402

PROC_NAME = "plug-in-neural-style"
METHODS = (
    ("proposed", "Proposed (dynamic weighting)", "Keeps the style/content balance steady"),
    ("gatys", "Gatys et al. (classic)", "The classic optimisation with fixed weights"),
)
QUALITIES = (
    ("draft", "Draft (fast)", "Few iterations, for a quick look"),
    ("normal", "Normal", "The default balance of time and quality"),
    ("high", "High (slow)", "More iterations and levels"),
)
PluginError = core.PluginError
THUMBNAIL_SIDE = 48  # pixels, of each painting in the Style drop-down
STYLE_GRID_COLUMNS = 3


def _pixel_layout(image, drawable):
    """(babl format, sample type, channels) matching the layer's own precision and TRC."""
    return core.pixel_layout(image.get_precision().value_name, drawable.has_alpha())


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


class _ProgressBar:
    """Shows the job's events in GIMP's progress bar (GIMP's thread only)."""

    def __init__(self):
        self.text = core.ProgressText()
        self.last = ""
        Gimp.progress_init("Neural Style: sending the image to the server")

    def say(self, message):
        if message != self.last:
            Gimp.progress_set_text(message)
            self.last = message

    def __call__(self, event):
        fraction, message = self.text(event)
        if fraction is not None:
            Gimp.progress_update(fraction)
        if message is not None:
            self.say(message)


@contextlib.contextmanager
def _undo_frozen(image):
    """What runs inside is not recorded in the image's undo history."""
    image.undo_freeze()
    try:
        yield
    finally:
        image.undo_thaw()


class _PreviewLayer:
    """The result so far, in a layer above the source while the job runs (GIMP's thread).

    One layer of the source's size, masked by the selection, into which each of the server's
    small previews is scaled (core.upscale_nearest says why not by GIMP). It is inserted and
    removed with undo frozen around those two calls only, so it leaves nothing in the undo
    history; undo is never left frozen while the job runs, because GIMP's Cancel button
    kills the plug-in outright. A preview layer left by such a kill is removed by the next
    run (`sweep`)."""

    NAME = "Neural Style preview"

    def __init__(self, image, source, masked):
        self.image, self.source, self.masked = image, source, masked
        self.layer = None

    @classmethod
    def sweep(cls, image, source):
        """Remove preview layers a killed run left beside `source`."""
        parent = source.get_parent()
        siblings = parent.get_children() if parent is not None else image.get_layers()
        for layer in siblings:
            if layer.get_name() == cls.NAME and layer != source:
                with _undo_frozen(image):
                    image.remove_layer(layer)
                core.trace("stale preview removed")

    def _insert(self):
        image, source = self.image, self.source
        layer = Gimp.Layer.new(
            image, self.NAME, source.get_width(), source.get_height(),
            Gimp.ImageType.RGB_IMAGE, 100.0, Gimp.LayerMode.NORMAL,
        )  # fmt: skip
        _ok, ox, oy = source.get_offsets()
        with _undo_frozen(image):
            image.insert_layer(layer, source.get_parent(), image.get_item_position(source))
            layer.set_offsets(ox, oy)
            if self.masked:
                layer.add_mask(layer.create_mask(Gimp.AddMaskType.SELECTION))
        self.layer = layer

    def show(self, width, height, rgb):
        if self.layer is None:
            self._insert()
        out_width, out_height = self.layer.get_width(), self.layer.get_height()
        pixels = core.upscale_nearest(rgb, width, height, out_width, out_height)
        target = self.layer.get_buffer()
        target.set(Gegl.Rectangle.new(0, 0, out_width, out_height), "R'G'B' u8", pixels)
        target.flush()
        self.layer.update(0, 0, self.layer.get_width(), self.layer.get_height())
        Gimp.displays_flush()
        core.trace("preview", layers=len(self.image.get_layers()), width=width, height=height)

    def remove(self):
        if self.layer is None:
            return
        with _undo_frozen(self.image):
            self.image.remove_layer(self.layer)
        self.layer = None
        Gimp.displays_flush()
        core.trace("preview removed", layers=len(self.image.get_layers()))


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


def _address(config, settings):
    return core.server_address(config.get_property("server"), settings)


def _style_arguments(config, read=core.read_style):
    """(styles, model, name for the new layer, style file path): see core.style_arguments."""
    style_file = config.get_property("style-file")
    path = style_file.get_path() if style_file is not None else None
    return core.style_arguments(
        config.get_property("style-model"), config.get_property("style-name"), path, read
    )


def _job_options(config, transport, long_side, preview=True):
    """The job's options: the dialog's arguments (FRONT, ADVANCED) that are the contract's."""
    arguments = {name: config.get_property(name) for name in (*FRONT, *ADVANCED)}
    return core.job_options(arguments, transport.OPTION_TYPES, long_side=long_side, preview=preview)


def _pixel_layer(layer):
    if not layer.is_layer() or layer.is_group():
        raise PluginError(
            "Neural Style needs a pixel layer, not a layer group, layer mask or channel."
        )
    return layer


def _read_pixels(layer, fmt):
    rect = Gegl.Rectangle.new(0, 0, layer.get_width(), layer.get_height())
    return bytes(layer.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.NONE))


class _Job:
    """What a job of `source` (the layer, or the topmost frame) needs from GIMP: the
    arguments, the server, the layer's layout, the selection as a mask, the progress bar,
    the preview layer; `request` holds `pixels` (`count` frames of the source's size)."""

    def __init__(self, image, source, config):
        self.styles, self.model, style_name, style_path = _style_arguments(config)
        self.name = core.layer_name(style_name, style_path)
        self.settings = core.read_settings()
        self.address = _address(config, self.settings)
        self.timeout = int(config.get_property("timeout"))
        self.transport = core.load_transport(settings=self.settings)
        self.width, self.height = source.get_width(), source.get_height()
        self.fmt, self.sample, self.channels = _pixel_layout(image, source)
        self.mask = _read_mask(image, source, self.width, self.height)
        self.options = _job_options(config, self.transport, max(self.width, self.height))
        _PreviewLayer.sweep(image, source)
        self.preview = _PreviewLayer(image, source, masked=self.mask is not None)

    def request(self, pixels, fields=None):
        """The job of `pixels`; `fields`: frames.request_fields for a job of several layers."""
        return self.transport.JobRequest(
            pixels, self.width, self.height, self.channels, self.sample, styles=self.styles,
            mask=self.mask, options=self.options, model=self.model, **(fields or {}),
        )  # fmt: skip

    def run(self, request, function, *arguments):
        """function(transport, request, address, timeout, settings, *arguments, show, say,
        cancel): core.run_job or neural_style_frames.run_frames, with the preview removed
        whatever the outcome."""
        progress = _ProgressBar()

        def show(event):
            progress(event)
            pixels = core.preview_pixels(event)
            if pixels is not None:
                self.preview.show(*pixels)

        cancel = core.Deadline(self.timeout)
        cancel.cancel_on_signals()
        try:
            return function(
                self.transport, request, self.address, self.timeout, self.settings, *arguments,
                show, progress.say, cancel,
            )  # fmt: skip
        finally:
            self.preview.remove()


def stylize_layer(image, drawables, config):
    """The whole job; raises PluginError with a message for the user on any failure."""
    if frames.wants_frames(config.get_property("apply-to")):
        return stylize_frames(image, drawables, config)
    if len(drawables) != 1:
        raise PluginError(
            "Neural Style works on one layer: select exactly one layer, or choose "
            "Apply to: All layers as frames."
        )
    source = _pixel_layer(drawables[0])
    job = _Job(image, source, config)
    request = job.request(_read_pixels(source, job.fmt))
    result = job.run(request, core.run_job)
    core.check_result(result, request)
    layer = _write_layer(
        image, source, job.name, job.fmt, job.width, job.height, bytes(result.pixels)
    )
    Gimp.progress_end()
    Gimp.displays_flush()
    return layer


def _frame(image, layer):
    """The frame facts neural_style_frames checks and orders."""
    stack, item = [], layer
    while item is not None:
        stack.insert(0, image.get_item_position(item))
        item = item.get_parent()
    _ok, x, y = layer.get_offsets()
    return frames.Frame(
        layer.get_name(), layer.get_width(), layer.get_height(), (x, y), layer.has_alpha(),
        layer.is_group(), tuple(stack),
    )  # fmt: skip


def stylize_frames(image, drawables, config):
    """ "All layers as frames" (or "each alone"): one job for the frames
    (neural_style_frames), one new layer per frame, in one undo step."""
    layers = frames.chosen(drawables, image.get_layers())
    facts = [_frame(image, layer) for layer in layers]
    frames.check_frames(facts)
    order = frames.playback_order(facts)
    layers = [_pixel_layer(layers[i]) for i in order]
    top = layers[-1]  # the new layers go above it, the preview above them
    job = _Job(image, top, config)
    fields = frames.request_fields(config.get_property("apply-to"), len(layers))
    request = job.request(b"".join(_read_pixels(layer, job.fmt) for layer in layers), fields)
    canvas = frames.GimpFrameLayers(Gimp, Gegl, image, top, job.fmt, len(layers), job.preview)
    canvas.sweep()
    names = [frames.frame_layer_name(layer.get_name()) for layer in layers]
    kept = job.run(request, frames.run_frames, names, canvas)
    Gimp.progress_end()
    Gimp.displays_flush()
    return kept


# The dialog: the artist's controls in front, the engineering ones behind "Advanced". Each
# of them named for an option of the contract is sent as that option (_job_options).
FRONT = (
    "apply-to", "style-file", "strength", "style-scale", "quality", "preserve-color", "seed",
)  # fmt: skip
ADVANCED = ("method", "size", "iterations", "server", "timeout")


def _pixbuf(png, side=THUMBNAIL_SIDE):
    """A GdkPixbuf of a thumbnail PNG, at most `side` pixels; None for none."""
    if not png:
        return None
    gi.require_version("GdkPixbuf", "2.0")
    from gi.repository import GdkPixbuf  # noqa: PLC0415

    loader = GdkPixbuf.PixbufLoader()
    try:
        loader.write(png)
        loader.close()
    except GLib.Error:
        return None
    pixbuf = loader.get_pixbuf()
    width, height = pixbuf.get_width(), pixbuf.get_height()
    scale = side / max(width, height)
    width, height = max(1, round(width * scale)), max(1, round(height * scale))
    return pixbuf.scale_simple(width, height, GdkPixbuf.InterpType.BILINEAR)


def _style_combo(Gtk, config, choices, thumbnails):  # noqa: N803 - the Gtk module
    """The Style drop-down: a grid of thumbnails with names, bound to the style-name and
    style-model arguments."""
    from gi.repository import GdkPixbuf  # noqa: PLC0415 - loaded by _pixbuf's require

    store = Gtk.ListStore(str, GdkPixbuf.Pixbuf, str)
    for choice_id, label in choices:
        store.append([choice_id, _pixbuf(thumbnails.get(choice_id)), label])
    combo = Gtk.ComboBox.new_with_model(store)
    combo.set_id_column(0)
    picture, text = Gtk.CellRendererPixbuf(), Gtk.CellRendererText()
    text.set_property("width-chars", 22)
    text.set_property("ellipsize", 3)  # Pango.EllipsizeMode.END
    combo.pack_start(picture, False)
    combo.add_attribute(picture, "pixbuf", 1)
    combo.pack_start(text, True)
    combo.add_attribute(text, "text", 2)
    combo.set_wrap_width(STYLE_GRID_COLUMNS)  # the open drop-down is a contact sheet
    current = dialog.choice_of(
        (config.get_property("style-name") or "").strip(),
        (config.get_property("style-model") or "").strip(),
    )
    combo.set_active_id(current if current in {c for c, _ in choices} else "")

    def chosen(widget):
        name, model = dialog.chosen_style(widget.get_active_id() or "")
        config.set_property("style-name", name)
        config.set_property("style-model", model)

    combo.connect("changed", chosen)
    chosen(combo)
    return combo


def _estimate_updater(config, label, size, address, frame_count):
    """Keep `label` saying what the job would take (on `frame_count` layers when applied to
    all layers as frames), asking the server again (at most every half second) whenever an
    argument changes."""
    pending = []
    read = functools.lru_cache(maxsize=1)(core.read_style)  # not again for every change

    def job(transport):
        styles, model, _name, _path = _style_arguments(config, read)
        options = _job_options(config, transport, max(size), preview=False)
        apply_to = config.get_property("apply-to")
        count = frame_count if frames.wants_frames(apply_to) else 1
        return styles, model, options, frames.request_fields(apply_to, count)

    def update():
        pending.clear()
        label.set_text(dialog.estimate_line(address, size, job))
        return False

    def changed(*_args):
        if not pending:
            pending.append(GLib.timeout_add(500, update))

    config.connect("notify", changed)
    update()


def _style_box(config, facts, address, size, frame_count):
    """The one "Style" drop-down (gallery paintings, your own image, trained models) and the
    lines saying where the server runs and how long the job would take (`facts`: the
    server's dialog.ServerFacts)."""
    gi.require_version("Gtk", "3.0")
    from gi.repository import Gtk  # noqa: PLC0415

    choices = dialog.style_choices(facts.gallery, facts.models)
    box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=6)
    row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=6)
    label = Gtk.Label.new_with_mnemonic("Sty_le")
    row.pack_start(label, False, False, 0)
    combo = _style_combo(Gtk, config, choices, facts.thumbnails)
    label.set_mnemonic_widget(combo)
    row.pack_start(combo, True, True, 0)
    box.pack_start(row, False, False, 0)
    status = Gtk.Label(label=dialog.server_status(facts.info, address), xalign=0.0)
    box.pack_start(status, False, False, 0)
    expected = Gtk.Label(label="", xalign=0.0)
    expected.set_line_wrap(True)
    expected.set_max_width_chars(60)
    box.pack_start(expected, False, False, 0)
    if facts.info is not None:
        _estimate_updater(config, expected, size, address, frame_count)
    else:
        expected.set_text(dialog.estimate_text(None))
    box.show_all()
    return box


def _show_dialog(procedure, config, size, frame_count):
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi  # noqa: PLC0415

    GimpUi.init(PROC_NAME)
    window = GimpUi.ProcedureDialog.new(procedure, config, "Neural Style")
    window.get_scale_entry("strength", 1.0)
    window.get_label("advanced-title", "Advanced", False, False)
    window.fill_box("advanced-box", list(ADVANCED))
    window.fill_expander("advanced", "advanced-title", False, "advanced-box")
    window.fill([*FRONT, "advanced"])
    settings = core.read_settings()
    address = _address(config, settings)
    facts = dialog.server_facts(address, settings)
    style_box = _style_box(config, facts, address, size, frame_count)
    content = window.get_content_area()
    content.pack_start(style_box, False, False, 6)
    content.reorder_child(style_box, 0)
    ok = window.run()
    window.destroy()
    return ok


def run(procedure, run_mode, image, drawables, config, _data):
    size = (drawables[0].get_width(), drawables[0].get_height()) if drawables else (0, 0)
    frame_count = len(frames.chosen(drawables, image.get_layers()))
    interactive = run_mode == Gimp.RunMode.INTERACTIVE
    if interactive and not _show_dialog(procedure, config, size, frame_count):
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
        procedure.set_sensitivity_mask(  # several selected layers: the frames
            Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES
        )
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
            "style-file", "St_yle image", "The image whose style is transferred",
            Gimp.FileChooserAction.OPEN, True, None, rw,
        )  # fmt: skip
        procedure.add_string_argument(
            "style-model", "Style _model",
            "The name of a trained style network in the server's style library (nst-server "
            "--models); when set it is used instead of the style image (fast mode)",
            "", rw,
        )  # fmt: skip
        procedure.add_string_argument(
            "style-name", "Style _name",
            "A painting of the style gallery by name (nst styles lists them); when set it is "
            "used instead of the style image",
            "", rw,
        )  # fmt: skip
        procedure.add_double_argument(
            "strength", "Stre_ngth", "How far the result moves from the layer (0 to 1)", 0.0, 1.0,
            0.5, rw,
        )  # fmt: skip
        procedure.add_choice_argument(
            "quality", "_Quality", "Quality preset (iterations and levels)", _choice(QUALITIES),
            "normal", rw,
        )  # fmt: skip
        procedure.add_int_argument(
            "size", "Working si_ze",
            "Long side in pixels the optimisation runs at (0: by quality, 512 to 1024); the "
            "new layer has the layer's full size and detail whatever it is",
            0, 8192, 0, rw,
        )  # fmt: skip
        procedure.add_double_argument(
            "style-scale", "Stro_ke size",
            "The size of the style's brush strokes: 1 as in the painting, 0.5 half as large, "
            "2 twice as large, at any layer size",
            0.25, 4.0, 1.0, rw,
        )  # fmt: skip
        procedure.add_choice_argument(
            "method", "_Method", "Optimisation method", _choice(METHODS), "proposed", rw,
        )  # fmt: skip
        procedure.add_boolean_argument(
            "preserve-color", "Preserve _colours",
            "Keep the layer's colours, take only texture and brushwork from the style", False, rw,
        )  # fmt: skip
        procedure.add_string_argument(
            "server", "Server a_ddress", "host:port of the Neural Style server (nst-server start)",
            core.DEFAULT_ADDRESS, rw,
        )  # fmt: skip
        procedure.add_int_argument(
            "iterations", "_Iterations", "Iteration budget (0: the quality preset's)", 0, 100000,
            0, rw,
        )  # fmt: skip
        procedure.add_int_argument(
            "seed", "_Variation",
            "Another number paints another variation of the same style (the random seed)", 0,
            2**31 - 1, 0, rw,
        )  # fmt: skip
        procedure.add_int_argument(
            "timeout", "_Timeout (s)", "Give up and cancel the job after this many seconds", 5,
            86400, 1800, rw,
        )  # fmt: skip
        procedure.add_choice_argument(
            "apply-to", "_Apply to", "This layer, the image's layers as the frames of an "
            "animation, or each layer alone (neural_style_frames.py)",
            _choice(frames.APPLY_TO), "layer", rw,
        )  # fmt: skip
        return procedure


if __name__ == "__main__":
    Gimp.main(NeuralStyle.__gtype__, sys.argv)
