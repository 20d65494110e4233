"""`nst-server install-service`: the unit file it writes is valid for systemd, and the command
it names starts this installation's server on the address and style library asked for, the
one `nst-server status` then finds."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess

from nst_server.autostart import unit_text
from test_server_e2e import free_port, health, nst_server


def exec_start(unit: str) -> list[str]:
    line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def test_the_unit_quotes_what_systemd_would_split():
    unit = unit_text(["/opt/my env/bin/nst-server"], ["--models", "/home/me/100% styles"])
    assert 'ExecStart="/opt/my env/bin/nst-server" serve --models "/home/me/100%% styles"' in unit


def test_install_service_writes_a_valid_unit_that_starts_the_right_server(tmp_path):
    state, models = tmp_path / "state", tmp_path / "my styles"
    env = {**os.environ, "NST_STATE_DIR": str(state)}
    address = f"127.0.0.1:{free_port()}"
    written = nst_server(
        "install-service", "--unit-dir", str(tmp_path / "units"), "--address", address,
        "--models", str(models), "--device", "cpu", env=env,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    unit_file = tmp_path / "units" / "nst-server.service"
    assert f"wrote {unit_file}" in written.stdout
    assert "systemctl --user enable --now nst-server" in written.stdout
    unit = unit_file.read_text()
    words = exec_start(unit)
    assert os.path.isabs(words[0]) and os.access(words[0], os.X_OK), words[0]
    assert words[1] == "serve"
    assert words[words.index("--address") + 1] == address
    assert words[words.index("--models") + 1] == str(models)
    assert words[words.index("--pid-file") + 1] == str(state / "server.json")
    assert "Restart=on-failure" in unit and "WantedBy=default.target" in unit

    analyze = shutil.which("systemd-analyze")
    if analyze:
        verify = subprocess.run([analyze, "verify", str(unit_file)], capture_output=True, text=True)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    else:
        print("systemd-analyze is not installed here: the unit was not verified by systemd")

    # what systemd would run: the server comes up there, with that library
    service = subprocess.Popen([*words, "--no-warm-up"], env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if health(address) == "SERVING" and (state / "server.json").exists():
                break
            assert service.poll() is None, "the unit's command exited"
            subprocess.run(["sleep", "0.2"])
        status = nst_server("status", env=env)
        assert status.returncode == 0 and f"on {address}" in status.stdout, status.stdout
        assert "journalctl --user -u nst-server" in status.stdout
        models_listed = nst_server("models", "--address", address, env=env)
        assert f"style library {models}" in models_listed.stdout, models_listed.stdout
    finally:
        service.terminate()
        service.wait(60)
    assert service.returncode == 0, "SIGTERM (systemctl stop) ends it cleanly"
    assert not (state / "server.json").exists()


def test_install_service_says_what_to_do_without_systemd(tmp_path, monkeypatch, capsys):
    from nst_server import autostart

    monkeypatch.setattr(autostart.sys, "platform", "darwin")
    parser = argparse.ArgumentParser()
    autostart.add_arguments(parser)
    assert autostart.run(parser.parse_args(["--unit-dir", str(tmp_path)])) == 2
    error = capsys.readouterr().err
    assert "systemd user unit, which this system (darwin) does not have" in error
    assert "nst-server start" in error and not list(tmp_path.iterdir())
