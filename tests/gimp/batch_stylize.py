# ruff: noqa: F821 (GIMP's batch interpreter puts Gimp, Gegl and Gio in scope)
# Runs inside GIMP 3.0.4 (gimp-console-3.0 --batch-interpreter=python-fu-eval), where Gimp,
# Gegl and Gio are in scope. PARAMS (a dict) is prepended by the test. Loads an image, makes a
# (feathered) selection, runs plug-in-neural-style non-interactively and dumps what the test
# checks: raw layer pixels before and after, the selection mask, the layer stack, the status.
import json
import time

P = PARAMS
out = {"layers": [], "status": None, "message": None}
img = None


def dump(drawable, fmt, path):
    w, h = drawable.get_width(), drawable.get_height()
    data = drawable.get_buffer().get(
        Gegl.Rectangle.new(0, 0, w, h),
        1.0,
        fmt,
        Gegl.AbyssPolicy.NONE,
    )
    with open(path, "wb") as fh:
        fh.write(bytes(data))


try:
    img = Gimp.file_load(
        Gimp.RunMode.NONINTERACTIVE,
        Gio.File.new_for_path(P["content"]),
    )
    if P.get("precision"):
        img.convert_precision(getattr(Gimp.Precision, P["precision"]))
    out["precision"] = img.get_precision().value_name
    if P.get("canvas"):
        cw, ch, dx, dy = P["canvas"]
        img.resize(cw, ch, dx, dy)
    src = img.get_layers()[0]
    w, h = src.get_width(), src.get_height()
    _ok, ox, oy = src.get_offsets()
    out["source"] = {
        "name": src.get_name(),
        "offsets": [ox, oy],
        "size": [w, h],
        "has_alpha": src.has_alpha(),
    }
    dump(src, P["fmt"], P["dir"] + "/source_before.raw")
    if P.get("ellipse"):
        img.select_ellipse(Gimp.ChannelOps.REPLACE, *P["ellipse"])
    if P.get("feather"):
        Gimp.Selection.feather(img, P["feather"])
    sel = (
        img.get_selection()
        .get_buffer()
        .get(Gegl.Rectangle.new(ox, oy, w, h), 1.0, "Y u8", Gegl.AbyssPolicy.NONE)
    )
    with open(P["dir"] + "/mask.raw", "wb") as fh:
        fh.write(bytes(sel))

    proc = Gimp.get_pdb().lookup_procedure("plug-in-neural-style")
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    cfg.set_property("image", img)
    cfg.set_core_object_array("drawables", [src])
    cfg.set_property("style-file", Gio.File.new_for_path(P["style"]))
    for key, value in P["args"].items():
        cfg.set_property(key, value)
    started = time.monotonic()
    res = proc.run(cfg)
    out["seconds"] = round(time.monotonic() - started, 2)
    out["status"] = res.index(0).value_nick
    if res.length() > 1:
        out["message"] = str(res.index(1))
    for index, layer in enumerate(img.get_layers()):
        _ok, lx, ly = layer.get_offsets()
        out["layers"].append(
            {
                "name": layer.get_name(),
                "offsets": [lx, ly],
                "size": [layer.get_width(), layer.get_height()],
                "has_alpha": layer.has_alpha(),
                "is_source": layer == src,
            }
        )
        dump(layer, P["fmt"], P["dir"] + f"/layer{index}.raw")
    out["precision_after"] = img.get_precision().value_name
    out["undo_enabled"] = img.undo_is_enabled()
finally:
    with open(P["dir"] + "/result.json", "w") as fh:
        json.dump(out, fh, indent=1)
    if img is not None:
        img.delete()
