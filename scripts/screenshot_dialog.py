#!/usr/bin/env python3
"""Photograph the plug-in's dialog in the real GUI GIMP 3.0.4, under Xvfb in the project's root.

    python scripts/screenshot_dialog.py [-o docs/images/gimp-dialog.png] [--whole-screen]
                                        [--with-grpc]

Builds the GIMP root with the GUI tools if needed (scripts/build_gimp_root.sh --gui), installs
the plug-in into a fresh GIMP config dir with the real installer, opens an example image,
opens Filters > Neural Style's dialog (run-mode INTERACTIVE) and saves a PNG of it.
Needs root. Kills only the Xvfb, openbox and GIMP processes it started. With --with-grpc the
plug-in gets its vendored gRPC, so the dialog can ask a server already running at the default
address for its style models and show the "Style model (fast)" drop-down (docs/images'
picture: `nst-server serve --models DIR` with two models, then this).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gimp_root import REPO, GimpRoot  # noqa: E402

GIMPRC = '(config-version "3.0.4")\n(show-welcome-dialog no)\n(color-profile-policy keep)\n'
OPEN_DIALOG = """
import json
img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path({content!r}))
Gimp.Display.new(img)
Gimp.displays_flush()
proc = Gimp.get_pdb().lookup_procedure("plug-in-neural-style")
cfg = proc.create_config()
cfg.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
cfg.set_property("image", img)
cfg.set_core_object_array("drawables", [img.get_layers()[0]])
cfg.set_property("style-file", Gio.File.new_for_path({style!r}))
cfg.set_property("strength", 0.6)
res = proc.run(cfg)
open({status!r}, "w").write(json.dumps({{"status": res.index(0).value_name}}))
"""


def install_plugin(config_host: Path, log=print, vendor: bool = False) -> None:
    """The real installer when the package is importable here, else a copy of the file."""
    try:
        from nst_server.gimp_install import install  # noqa: PLC0415

        install(config_host, vendor=vendor, log=log)
    except Exception as exc:  # noqa: BLE001 - the dialog alone needs only the plug-in file
        log(f"installer unavailable ({exc}); copying the plug-in file only")
        dest = config_host / "plug-ins" / "neural_style"
        dest.mkdir(parents=True, exist_ok=True)
        src = REPO / "gimp_plugin" / "neural_style" / "neural_style.py"
        shutil.copy2(src, dest / "neural_style.py")
        (dest / "neural_style.py").chmod(0o755)


def take(output: Path, whole_screen: bool = False, log=print, grpc: bool = False) -> Path:
    root = GimpRoot.ensure(gui=True, log=log)
    work = root.workdir("screenshot")
    cfg_host, cfg_in = work.path("config")
    cfg_host.mkdir()
    (cfg_host / "gimprc").write_text(GIMPRC)
    install_plugin(cfg_host, log, vendor=grpc)
    content_host, content_in = work.path("rocket.jpg")
    style_host, style_in = work.path("starry_night.jpg")
    shutil.copy(REPO / "examples" / "rocket.jpg", content_host)
    shutil.copy(REPO / "examples" / "starry_night.jpg", style_host)
    script_host, script_in = work.path("open_dialog.py")
    status_host, status_in = work.path("status.json")
    script_host.write_text(OPEN_DIALOG.format(content=content_in, style=style_in, status=status_in))
    shot_host, shot_in = work.path("shot.png")
    started = time.monotonic()
    with root.xvfb() as x:
        x.spawn(
            "gimp-3.0",
            "--no-splash",
            "--batch-interpreter",
            "python-fu-eval",
            "-b",
            f'exec(open("{script_in}").read())',
            env={"GIMP3_DIRECTORY": cfg_in, "LANG": "C.UTF-8"},
            log=work.host / "gimp.log",
        )
        wid = x.wait_window("^Neural Style$", timeout=120)
        log(f"dialog window {wid} appeared after {time.monotonic() - started:.1f} s")
        x.x("xdotool", "mousemove", "1279", "799")
        time.sleep(2.0)  # let GTK finish drawing
        if whole_screen:
            res = x.x("import", "-window", "root", shot_in)
        else:
            res = x.x("import", "-frame", "-window", wid, shot_in)
        if res.returncode != 0:
            raise RuntimeError(f"import failed: {res.output}")
    output.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", str(shot_host), str(output)], check=True)
    log(f"saved {output} ({output.stat().st_size} bytes)")
    shutil.rmtree(work.host, ignore_errors=True)
    return output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-o", "--output", type=Path, default=REPO / "docs" / "images" / "gimp-dialog.png"
    )
    parser.add_argument("--whole-screen", action="store_true")
    parser.add_argument("--with-grpc", action="store_true", help="vendor gRPC (see above)")
    args = parser.parse_args()
    take(args.output, args.whole_screen, grpc=args.with_grpc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
