#!/usr/bin/env python3
"""Photograph the plug-in in a real GIMP under Xvfb, in one of the project's Debian roots:
its dialog, its Style drop-down open (the gallery), the canvas mid-job with the preview layer,
and a result on the canvas.

    python scripts/screenshot_gimp.py [--suite sid|trixie] [--what dialog gallery preview result]
                                      [--server ADDRESS] [--out docs/images]

Builds the root with the GUI tools if needed (scripts/build_gimp_root.sh --gui), makes a fresh
home in which GIMP has run once and installs the plug-in into it with the real installer and
no flags, as a user does. `dialog` opens Filters > Neural Style's dialog on an example image
(with a server answering at --server, its style models show in the drop-down); `result` makes
a feathered selection on the photograph, runs the plug-in against the server and shoots the
whole window with the new layer; `preview` does the same and shoots while the job runs,
once the preview layer was drawn 12 times. Without --server a real `nst-server serve` is
started on a free port for the run (its style library: $NST_MODELS). Needs root. Kills only
the processes it started. Writes gimp-3.x-dialog.png, gimp-3.x-gallery.png,
gimp-3.x-preview.png and gimp-3.x-result.png (the GIMP version).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from gimp_root import REPO, GimpRoot  # noqa: E402
from local_server import local_server  # noqa: E402

SUITE_NAMES = {"trixie": "GIMP 3.0", "sid": "GIMP 3.2"}
# Python-Fu run by GIMP: the photograph on the canvas and the plug-in's config, then each
# script's own part. STATUS_PATH is replaced by the file the script writes its outcome to.
CONFIGURE = """
import json
img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path({content!r}))
Gimp.Display.new(img)
Gimp.displays_flush()
w, h = img.get_width(), img.get_height()
proc = Gimp.get_pdb().lookup_procedure("plug-in-neural-style")
cfg = proc.create_config()
cfg.set_property("image", img)
cfg.set_core_object_array("drawables", [img.get_layers()[0]])
cfg.set_property("style-file", Gio.File.new_for_path({style!r}))
cfg.set_property("strength", 0.6)
cfg.set_property("server", {server!r})
"""
OPEN_DIALOG = """
cfg.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
res = proc.run(cfg)
open("STATUS_PATH", "w").write(json.dumps({"status": res.index(0).value_name}))
"""
RUN_ON_CANVAS = """
img.select_ellipse(Gimp.ChannelOps.REPLACE, w * 0.08, h * 0.05, w * 0.84, h * 0.9)
Gimp.Selection.feather(img, min(w, h) * 0.08)
cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
cfg.set_property("timeout", 1800)
res = proc.run(cfg)
Gimp.Selection.none(img)
Gimp.displays_flush()
message = str(res.index(1)) if res.length() > 1 else None
open("STATUS_PATH", "w").write(json.dumps({"status": res.index(0).value_name,
                                           "message": message}))
"""


def _user_home(root: GimpRoot, log):
    """A home in which GIMP has run once, with the plug-in installed the way a user does."""
    home = root.new_home("screenshot")
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "GIMP3_DIRECTORY")}
    env["HOME"] = str(home.host)
    proc = subprocess.run(
        [sys.executable, "-m", "nst_server", "install-gimp-plugin"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    log(proc.stdout.strip())
    return home


def trim_to_windows(path: Path) -> None:
    """Crop a whole-screen shot to the windows on it (Xvfb's empty screen is black)."""
    from PIL import Image

    with Image.open(path) as image:
        box = image.convert("L").getbbox()
        if box:
            image.crop(box).save(path)


def _count_previews(trace: Path) -> int:
    text = trace.read_text() if trace.is_file() else ""
    return sum('"what": "preview"' in line for line in text.splitlines())


def shoot(
    root: GimpRoot,
    home,
    script: str,
    window: str | None,
    out: Path,
    log,
    wait=600,
    previews: int = 0,
    actions: tuple[tuple[str, ...], ...] = (),
):
    """Run `script` in the GUI GIMP; shoot `window` (a title regex), or the whole screen once
    the plug-in has shown `previews` preview layers (mid-job), or once the script wrote its
    status. `actions` (xdotool commands, WINDOW standing for `window`'s id) are done first,
    and then the whole screen is shot: what they open (a drop-down) is a window of its own."""
    work = root.workdir("shot")
    status_host, status_in = work.path("status.json")
    trace_host, trace_in = work.path("trace.jsonl")
    script_host, script_in = work.path("script.py")
    shot_host, shot_in = work.path("shot.png")
    script_host.write_text(script.replace("STATUS_PATH", status_in))
    started = time.monotonic()
    with root.xvfb() as x:
        gimp = x.spawn(
            "gimp", "--no-splash", "--batch-interpreter", "python-fu-eval",
            "-b", f'exec(open("{script_in}").read())',
            env={"HOME": home.inside, "LANG": "C.UTF-8", "NST_PLUGIN_TRACE": trace_in},
            log=work.host / "gimp.log",
        )  # fmt: skip
        if window:
            wid = x.wait_window(window, timeout=120)
            log(f"window {window!r} appeared after {time.monotonic() - started:.1f} s")
            time.sleep(3.0)  # the dialog asks the server for its gallery and estimate
            for action in actions:
                x.x("xdotool", *(wid if word == "WINDOW" else word for word in action))
                time.sleep(1.5)
        elif previews:
            while _count_previews(trace_host) < previews:
                if gimp.poll() is not None or time.monotonic() - started > wait:
                    raise RuntimeError(f"no {previews} previews: {_count_previews(trace_host)}")
                time.sleep(0.2)
            log(f"{previews} previews shown after {time.monotonic() - started:.0f} s")
        else:
            while not status_host.is_file():
                if gimp.poll() is not None or time.monotonic() - started > wait:
                    log_text = (work.host / "gimp.log").read_text()[-3000:]
                    raise RuntimeError(f"GIMP gave no status: {log_text}")
                time.sleep(1)
            status = json.loads(status_host.read_text())
            log(f"the plug-in ended with {status} after {time.monotonic() - started:.0f} s")
            if status["status"] != "GIMP_PDB_SUCCESS":
                raise RuntimeError(f"the plug-in failed: {status}")
        x.x("xdotool", "mousemove", "1279", "799")
        time.sleep(3.0)  # let GTK finish drawing
        target = ["-frame", "-window", wid] if window and not actions else ["-window", "root"]
        res = x.x("import", *target, shot_in)
        if res.returncode != 0:
            raise RuntimeError(f"import failed: {res.output}")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot_host, out)
    if not window or actions:
        trim_to_windows(out)
    shutil.rmtree(work.host, ignore_errors=True)
    log(f"saved {out}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=sorted(SUITE_NAMES), default="sid")
    parser.add_argument(
        "--what",
        nargs="+",
        choices=("dialog", "gallery", "preview", "result"),
        default=["dialog"],
    )
    parser.add_argument("--server", help="a running server (default: start one)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = parser.parse_args()
    root = GimpRoot.ensure(args.suite, gui=True)
    print(f"{SUITE_NAMES[args.suite]}: GIMP {root.version}, Python {root.python_version}")
    home = _user_home(root, print)
    work = root.workdir("images")
    content_host, content_in = work.path("rocket.jpg")
    style_host, style_in = work.path("starry_night.jpg")
    shutil.copy(REPO / "examples" / "rocket.jpg", content_host)
    shutil.copy(REPO / "examples" / "starry_night.jpg", style_host)
    with local_server(args.server, print) as address:
        configure = CONFIGURE.format(content=content_in, style=style_in, server=address)
        if "dialog" in args.what:
            out = args.out / f"gimp-{root.minor}-dialog.png"
            shoot(root, home, configure + OPEN_DIALOG, "^Neural Style$", out, print)
        if "gallery" in args.what:  # a click on the Style drop-down, the dialog's first row
            out = args.out / f"gimp-{root.minor}-gallery.png"
            click = (("mousemove", "--window", "WINDOW", "250", "40"), ("click", "1"))
            shoot(root, home, configure + OPEN_DIALOG, "^Neural Style$", out, print, actions=click)
        if "preview" in args.what:
            out = args.out / f"gimp-{root.minor}-preview.png"
            shoot(root, home, configure + RUN_ON_CANVAS, None, out, print, previews=12)
        if "result" in args.what:
            out = args.out / f"gimp-{root.minor}-result.png"
            shoot(root, home, configure + RUN_ON_CANVAS, None, out, print)
    shutil.rmtree(home.host, ignore_errors=True)
    shutil.rmtree(work.host, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
