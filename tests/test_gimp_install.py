"""The installer without a real GIMP: which GIMP 3 installations it finds on Linux, Flatpak,
Windows and macOS (platform, environment and file system faked), what it writes, and what it
says. The real GIMPs are in tests/gimp/."""

from __future__ import annotations

import json
import os
import plistlib
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from nst_server import gimp_install
from nst_server.gimp_install import GimpInstallation, find_installations, install

REPO = Path(__file__).resolve().parent.parent
VENDOR = REPO / "gimp_plugin" / "vendor"


def program(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def found(installations) -> list[tuple[str, str, Path]]:
    return [(i.kind, i.version, i.config_dir) for i in installations]


def test_linux_finds_every_3x_folder_and_every_gimp_program_newest_first(tmp_path):
    home = tmp_path / "home"
    for version in ("2.10", "3.0", "3.2"):
        (home / ".config" / "GIMP" / version).mkdir(parents=True)
    bin_dir = tmp_path / "usr-bin"
    program(bin_dir / "gimp-3.2")
    program(bin_dir / "gimp-console-3.2")
    program(bin_dir / "gimp-console-3.4")  # installed, never started: no folder yet
    program(bin_dir / "gimp-script-fu-interpreter-3.0")  # not a GIMP
    env = {"HOME": str(home), "PATH": str(bin_dir)}
    result = find_installations(platform="linux", env=env)
    config = home / ".config" / "GIMP"
    assert found(result) == [
        ("linux", "3.4", config / "3.4"),
        ("linux", "3.2", config / "3.2"),
        ("linux", "3.0", config / "3.0"),
    ]
    newest, current, _ = result
    assert newest.console == [str(bin_dir / "gimp-console-3.4")]
    assert current.console == [str(bin_dir / "gimp-console-3.2")], "the console one is preferred"
    assert any("its folder" in why for why in current.found_by)
    assert not any(i.sandboxed for i in result)
    assert gimp_install.older_gimps(env=env) == [config / "2.10"]


def test_linux_honours_xdg_config_home_and_gimp3_directory(tmp_path):
    (tmp_path / "xdg" / "GIMP" / "3.2").mkdir(parents=True)
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PATH": ""}
    assert found(find_installations(platform="linux", env=env)) == [
        ("linux", "3.2", tmp_path / "xdg" / "GIMP" / "3.2")
    ]
    env["GIMP3_DIRECTORY"] = str(tmp_path / "custom")
    assert found(find_installations(platform="linux", env=env)) == [
        ("custom", "", tmp_path / "custom")
    ]


def test_flatpak_folders_and_installs_are_found_and_marked_sandboxed(tmp_path):
    home = tmp_path / "home"
    flatpak_config = home / ".var/app/org.gimp.GIMP/config/GIMP"
    (flatpak_config / "3.0").mkdir(parents=True)
    system = tmp_path / "root"
    program(system / "var/lib/flatpak/app/org.gimp.GIMP/x86_64/stable/active/files/bin/gimp-3.2")
    program(tmp_path / "bin" / "flatpak")
    env = {"HOME": str(home), "PATH": str(tmp_path / "bin")}
    result = find_installations(platform="linux", env=env, roots=system)
    assert found(result) == [
        ("flatpak", "3.2", flatpak_config / "3.2"),
        ("flatpak", "3.0", flatpak_config / "3.0"),
    ]
    assert all(i.sandboxed for i in result)
    assert result[0].console == [
        "flatpak",
        "run",
        "--command=gimp-3.2",
        "org.gimp.GIMP",
    ]


def test_windows_plan_appdata_program_files_and_per_user_installs(tmp_path):
    appdata, program_files, local = tmp_path / "Roaming", tmp_path / "PF", tmp_path / "Local"
    (appdata / "GIMP" / "3.0").mkdir(parents=True)
    program(program_files / "GIMP 3" / "bin" / "gimp-3.2.exe")
    program(program_files / "GIMP 3" / "bin" / "gimp-console-3.2.exe")
    program(local / "Programs" / "GIMP 3" / "bin" / "gimp-3.4.exe")
    env = {
        "USERPROFILE": str(tmp_path),
        "APPDATA": str(appdata),
        "ProgramFiles": str(program_files),
        "LOCALAPPDATA": str(local),
    }
    result = find_installations(platform="win32", env=env)
    assert found(result) == [
        ("windows", "3.4", appdata / "GIMP" / "3.4"),
        ("windows", "3.2", appdata / "GIMP" / "3.2"),
        ("windows", "3.0", appdata / "GIMP" / "3.0"),
    ]
    assert result[1].console == [str(program_files / "GIMP 3" / "bin" / "gimp-console-3.2.exe")]
    assert result[0].console == [str(local / "Programs" / "GIMP 3" / "bin" / "gimp-3.4.exe")]


def test_macos_plan_application_support_and_the_app_bundles_version(tmp_path):
    home, system = tmp_path / "home", tmp_path / "root"
    support = home / "Library" / "Application Support" / "GIMP"
    (support / "3.0").mkdir(parents=True)
    contents = system / "Applications" / "GIMP.app" / "Contents"
    contents.mkdir(parents=True)
    with (contents / "Info.plist").open("wb") as fh:
        plistlib.dump({"CFBundleShortVersionString": "3.2.4"}, fh)
    program(contents / "MacOS" / "gimp")
    result = find_installations(platform="darwin", env={"HOME": str(home)}, roots=system)
    assert found(result) == [("macos", "3.2", support / "3.2"), ("macos", "3.0", support / "3.0")]
    assert result[0].console == [str(contents / "MacOS" / "gimp")]


def test_every_file_of_the_plugin_is_installed_and_packaged():
    """A module added beside neural_style.py must be copied into GIMP and shipped in the
    wheel, or the plug-in fails to import there while every test here passes."""
    modules = sorted(p.name for p in (REPO / "gimp_plugin" / "neural_style").glob("*.py"))
    assert sorted(gimp_install.PLUGIN_FILES) == modules
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packaged = pyproject["tool"]["setuptools"]["package-data"]["nst_gimp_plugin"]
    assert sorted(p.removeprefix("neural_style/") for p in packaged if p.endswith(".py")) == modules


def test_the_installed_plugin_modules_import_without_gimp(tmp_path):
    """Beside each other in GIMP's folder, the GIMP-free modules find each other (the
    plug-in puts its folder on sys.path), with no site-packages."""
    dest = install(GimpInstallation("linux", "3.2", tmp_path / "cfg"), log=lambda line: None)
    probe = f"import sys; sys.path.insert(0, {str(dest)!r}); import neural_style_dialog"
    run = subprocess.run([sys.executable, "-S", "-E", "-c", probe], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_install_layout_pure_python_only_and_reinstall(tmp_path):
    lines: list[str] = []
    gimp = GimpInstallation("linux", "3.2", tmp_path / "cfg")
    dest = install(gimp, log=lines.append, address="127.0.0.1:6000")
    assert dest == tmp_path / "cfg" / "plug-ins" / "neural_style"
    plugin = dest / "neural_style.py"
    assert plugin.stat().st_mode & stat.S_IXUSR
    assert sorted(p.name for p in dest.glob("*.py")) == sorted(gimp_install.PLUGIN_FILES)
    assert sorted(p.name for p in (dest / "nst_proto").iterdir()) == sorted(
        gimp_install.PROTO_FILES
    )
    with zipfile.ZipFile(dest / "vendor.zip") as archive:
        names = archive.namelist()
    for package in ("grpclib", "h2", "hpack", "hyperframe", "multidict", "google/protobuf"):
        assert f"{package}/__init__.py" in names, package
    assert "typing_extensions.py" in names and "google/__init__.py" in names
    assert "google/protobuf/internal/decoder.py" in names
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".dll"))]
    depth = max(len(p.relative_to(dest).parts) for p in dest.rglob("*"))
    assert depth <= 2, "GIMP copies a plug-in to a new version's folder only a few levels deep"
    settings = json.loads((dest / "neural_style.json").read_text())
    assert settings["address"] == "127.0.0.1:6000"
    assert settings["install_command"][-1] == "install-gimp-plugin"
    assert settings["gimp"] == {"kind": "linux", "version": "3.2"}
    assert any("7 packages" in line for line in lines)

    (dest / "stale.txt").write_text("from an older version")
    again = install(gimp, log=lines.append)
    assert not (again / "stale.txt").exists(), "a reinstall replaces the folder whole"
    assert [p.name for p in (tmp_path / "cfg" / "plug-ins").iterdir()] == ["neural_style"]


def test_a_token_and_certificate_for_a_remote_server_are_recorded_and_checked_first(
    tmp_path, capsys
):
    (tmp_path / "token").write_text("s3cret\n")
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n")
    access = gimp_install.access_settings(tmp_path / "token", tmp_path / "ca.pem")
    dest = install(GimpInstallation("linux", "3.2", tmp_path / "cfg"), access=access,
                   log=lambda line: None)  # fmt: skip
    settings = json.loads((dest / "neural_style.json").read_text())
    assert settings["token_file"] == str(tmp_path / "token")
    assert settings["tls_ca_file"] == str(tmp_path / "ca.pem")
    code = gimp_install.main(["--gimp-config-dir", str(tmp_path / "other"), "--token-file",
                              str(tmp_path / "no-such-token")])  # fmt: skip
    assert code == 1 and "cannot read the token file" in capsys.readouterr().err
    assert not (tmp_path / "other").exists(), "nothing installed with a token it cannot read"


def test_shipped_wheels_are_pure_python_and_match_their_hashes():
    wheels = gimp_install.vendored_wheels()
    assert len(wheels) == 7
    for wheel in wheels:
        assert wheel.name.endswith("-py3-none-any.whl"), wheel.name
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
        assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib"))], wheel.name


def test_a_damaged_wheel_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    copy = tmp_path / "vendor"
    copy.mkdir()
    for item in VENDOR.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    wheel = next(copy.glob("h2-*.whl"))
    wheel.write_bytes(wheel.read_bytes()[:-10])
    real = gimp_install._package_dir
    monkeypatch.setattr(
        gimp_install,
        "_package_dir",
        lambda package, sub="": copy if sub == "vendor" else real(package, sub),
    )
    with pytest.raises(gimp_install.InstallError, match=r"h2-.* is damaged"):
        install(GimpInstallation("linux", "3.2", tmp_path / "cfg"), log=lambda _: None)
    assert not (tmp_path / "cfg").exists()


def test_an_unwritable_config_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(gimp_install.InstallError, match="cannot create"):
        install(GimpInstallation("custom", "", blocker), log=lambda _: None)


def test_a_gimp_that_never_ran_makes_its_own_folder_first(tmp_path):
    home = tmp_path / "home"
    folder = home / ".config" / "GIMP" / "3.4"
    console = program(tmp_path / "bin" / "gimp-console-3.4")
    console.write_text(f'#!/bin/sh\n[ "$1 $2" = "-i --quit" ] && mkdir -p "{folder}"\n')
    gimp = find_installations(
        platform="linux", env={"HOME": str(home), "PATH": str(console.parent)}
    )[0]
    lines: list[str] = []
    done, problems = gimp_install.install_everywhere([gimp], log=lines.append)
    assert problems == [] and done == [folder / "plug-ins" / "neural_style"]
    assert any("has not run yet" in line for line in lines)

    broken = program(tmp_path / "bin2" / "gimp-console-3.6")
    gimp = find_installations(platform="linux", env={"HOME": str(home), "PATH": str(broken.parent)})
    done, problems = gimp_install.install_everywhere(gimp[:1], log=lines.append)
    assert done == [] and "start it once" in problems[0]
    assert not (home / ".config" / "GIMP" / "3.6").exists(), "never a folder GIMP did not make"


def installer(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nst_server", "install-gimp-plugin", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_the_command_installs_into_each_gimp_and_says_what_it_did(tmp_path):
    home = tmp_path / "home"
    for folder in (
        ".config/GIMP/3.0",
        ".config/GIMP/3.2",
        ".var/app/org.gimp.GIMP/config/GIMP/3.2",
    ):
        (home / folder).mkdir(parents=True)
    env = {"HOME": str(home), "XDG_CONFIG_HOME": "", "GIMP3_DIRECTORY": "", "PATH": os.defpath}
    listed = installer(env, "--list")
    assert listed.returncode == 0, listed.stderr
    assert not (home / ".config/GIMP/3.2/plug-ins").exists(), "--list changes nothing"
    done = installer(env)
    assert done.returncode == 0, done.stderr
    for folder in (
        ".config/GIMP/3.0",
        ".config/GIMP/3.2",
        ".var/app/org.gimp.GIMP/config/GIMP/3.2",
    ):
        assert (home / folder / "plug-ins/neural_style/neural_style.py").is_file(), folder
        assert str(home / folder) in done.stdout
    assert "Installed into 3 GIMP installation(s)" in done.stdout
    assert "Flatpak sandbox, which cannot start the server" in done.stdout
    assert "nst-server install-service" in done.stdout


def test_the_command_says_what_to_do_when_there_is_no_gimp(tmp_path):
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": "", "GIMP3_DIRECTORY": "", "PATH": ""}
    proc = installer(env)
    assert proc.returncode == 1
    assert "no GIMP 3 found" in proc.stderr and "--gimp-config-dir" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
