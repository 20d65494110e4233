"""The installer's logic on the host (no GIMP needed): config dirs, layout, reinstall, errors."""

from __future__ import annotations

import json
import stat

import pytest

gimp_install = pytest.importorskip("nst_server.gimp_install")


def test_gimp3_directory_wins(tmp_path):
    env = {"HOME": str(tmp_path), "GIMP3_DIRECTORY": str(tmp_path / "custom")}
    assert gimp_install.candidate_config_dirs(env) == [tmp_path / "custom"]


def test_native_dir_is_the_default_and_honours_xdg(tmp_path):
    assert gimp_install.candidate_config_dirs({"HOME": str(tmp_path)}) == [
        tmp_path / ".config" / "GIMP" / "3.0"
    ]
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert gimp_install.candidate_config_dirs(env) == [tmp_path / "xdg" / "GIMP" / "3.0"]


def test_flatpak_dir_is_found(tmp_path):
    flatpak = tmp_path / ".var/app/org.gimp.GIMP/config/GIMP/3.0"
    flatpak.mkdir(parents=True)
    assert gimp_install.candidate_config_dirs({"HOME": str(tmp_path)}) == [flatpak]
    native = tmp_path / ".config" / "GIMP" / "3.0"
    native.mkdir(parents=True)
    assert gimp_install.candidate_config_dirs({"HOME": str(tmp_path)}) == [native, flatpak]


def test_install_layout_and_reinstall(tmp_path):
    lines: list[str] = []
    dest = gimp_install.install(
        tmp_path / "cfg", vendor=False, log=lines.append, address="127.0.0.1:6000"
    )
    assert dest == (tmp_path / "cfg" / "plug-ins" / "neural_style").resolve()
    plugin = dest / "neural_style.py"
    assert plugin.stat().st_mode & stat.S_IXUSR
    assert (dest / "nst_proto" / "client.py").is_file()
    assert not list((dest / "nst_proto").rglob("__pycache__"))
    settings = json.loads((dest / "neural_style.json").read_text())
    assert settings["address"] == "127.0.0.1:6000" and settings["server_command"]
    assert any("Installing the Neural Style plug-in" in line for line in lines)
    (dest / "vendor").mkdir()
    (dest / "vendor" / "marker").write_text("kept")
    again = gimp_install.install(tmp_path / "cfg", vendor=False, log=lines.append)
    assert (again / "vendor" / "marker").read_text() == "kept"
    leftovers = [p.name for p in (tmp_path / "cfg" / "plug-ins").iterdir()]
    assert leftovers == ["neural_style"], leftovers


def test_unwritable_config_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(gimp_install.InstallError, match="cannot create"):
        gimp_install.install(blocker, vendor=False, log=lambda _line: None)
