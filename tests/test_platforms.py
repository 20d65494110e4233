"""The product on the systems it is not built on here (Windows, macOS), checked on this Linux.

What is real and what is simulated, test by test (each docstring says which):
- the Unix-only modules (resource, fcntl, pwd, grp, termios) are hidden, as a Windows Python
  lacks them: every product module imports and a 64-pixel job runs, in a fresh Python;
- the OS is reported as Windows or macOS to the real functions (sys.platform, os.name, the
  platformdirs class of that OS), and what only that OS can give is stood in for: Windows's
  known-folder lookup, a Windows process start (Popen recorded), a process to stop (psutil's
  Process recorded), and GIMP's program folders (laid out in a temporary folder);
- on this Linux the daemon really starts (two at once), answers, and stops.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import ntpath
import os
import subprocess
import sys
import types
from pathlib import Path

import platformdirs
import platformdirs.macos
import platformdirs.unix
import platformdirs.windows
import psutil
import pytest
import torch
from nst_server import daemon, gimp_install, library
from test_server_e2e import free_port

from nst_engine import devices, memory

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "gimp_plugin" / "neural_style" / "neural_style_core.py"
UNIX_ONLY = ("resource", "fcntl", "pwd", "grp", "termios")
HIDE = f"import sys; [sys.modules.__setitem__(m, None) for m in {UNIX_ONLY!r}]"
# What Windows's known-folder lookup answers for a user "me" (platformdirs asks it by CSIDL).
WINDOWS_FOLDERS = {
    "CSIDL_LOCAL_APPDATA": r"C:\Users\me\AppData\Local",
    "CSIDL_APPDATA": r"C:\Users\me\AppData\Roaming",
}


def python(code: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


def report_windows(monkeypatch, *modules: types.ModuleType) -> types.ModuleType:
    """Give `modules` an `os` that reports "nt", as Windows's Python does. Only theirs: the
    real os.name stays, since pathlib and pytest pick their classes by it."""
    windows_os = types.ModuleType("os")
    windows_os.__dict__.update(vars(os))
    windows_os.name = "nt"
    for module in modules:
        monkeypatch.setattr(module, "os", windows_os)
    return windows_os


def load_plugin_core() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("neural_style_core", CORE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- a Python without the Unix-only modules -------------------------------------------------


def test_the_issues_target_command_imports_stylize_without_unix_only_modules():
    """Issue #31's command, word for word: the modules hidden before anything is imported."""
    proc = python(HIDE + "; from nst_engine import stylize")
    assert proc.returncode == 0, proc.stderr


WALK_AND_STYLIZE = """
import importlib, importlib.util, json, pkgutil, sys
# psutil's Linux backend imports `resource` itself (its Windows backend does not), and Ray's
# utilities import `pwd` off Windows only (ray/_private/utils.py; Ray is the optional extra
# `cluster`, imported by nst_engine.batch_cluster and nst_server.cluster): they are loaded
# first, as they would load on Windows, and everything after runs with the modules hidden.
import psutil
try:
    import ray
except ImportError:
    pass
{hide}
imported = []
for package in ("nst_engine", "nst_server", "nst_proto"):
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, package + "."):
        if not module.name.endswith(".__main__"):  # that one runs the command line
            importlib.import_module(module.name)
            imported.append(module.name)
spec = importlib.util.spec_from_file_location("neural_style_core", {core!r})
spec.loader.exec_module(importlib.util.module_from_spec(spec))
imported.append("neural_style_core")

import numpy as np
from nst_engine import StyleOptions, stylize

rng = np.random.default_rng(0)
content = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
style = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
result = stylize(content, style, options=StyleOptions(size=64, iterations=2, device="cpu"))
print(json.dumps({{
    "imported": imported,
    "shape": list(result.image.shape),
    "peak_memory_mb": result.stats["peak_memory_mb"],
    "still_hidden": all(sys.modules[m] is None for m in {hidden!r}),
}}))
"""


def test_every_product_module_imports_and_a_64_pixel_job_runs_without_unix_only_modules():
    """The engine, the server, the contract and the plug-in's core import, and `stylize` runs
    a 64x64 job on the CPU, in a Python where the Unix-only modules cannot be imported."""
    code = WALK_AND_STYLIZE.format(hide=HIDE, core=str(CORE), hidden=UNIX_ONLY)
    proc = python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in ("nst_engine.devices", "nst_engine.memory", "nst_server.daemon",
                 "nst_server.gimp_install", "nst_server.autostart", "nst_proto.pure_client",
                 "neural_style_core"):  # fmt: skip
        assert name in report["imported"]
    assert report["shape"] == [64, 64, 3] and report["still_hidden"]
    assert report["peak_memory_mb"] > 0


# Platform facts the product must not write by hand, and the one place each may appear.
FORBIDDEN_NAMES = {
    "os.fork", "os.sysconf", "os.getuid", "os.geteuid", "os.kill", "os.killpg", "os.setsid",
    "signal.SIGKILL", "signal.SIGHUP", "signal.SIGUSR1", "ctypes.windll",
}  # fmt: skip
# GIMP's own folder rule (GLib's), written out so tests can stand in another machine.
XDG_ALLOWED = {"server/gimp_install.py"}


def product_files() -> list[Path]:
    folders = ("nst_engine", "server", "proto", "gimp_plugin/neural_style")
    return sorted(p for folder in folders for p in (REPO / folder).rglob("*.py"))


def docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def module_level_imports(tree: ast.Module) -> list[str]:
    """Modules imported anywhere but inside a function (a function imports when it runs)."""
    names, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module.split(".")[0])
        todo += list(ast.iter_child_nodes(node))
    return names


def test_the_product_writes_no_platform_fact_by_hand():
    """No Unix-only module imported at module level, no fork/kill/sysconf/uid/ctypes, no /proc
    path and no XDG variable outside the installer's GIMP rule: the libraries say those."""
    problems = []
    for path in product_files():
        where = path.relative_to(REPO).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        problems += [f"{where}: imports {name}" for name in module_level_imports(tree)
                     if name in UNIX_ONLY or name == "ctypes"]  # fmt: skip
        skip = docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if f"{node.value.id}.{node.attr}" in FORBIDDEN_NAMES:
                    problems.append(f"{where}:{node.lineno}: {node.value.id}.{node.attr}")
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
            ):
                if "/proc/" in node.value or node.value.startswith("/proc"):
                    problems.append(f"{where}:{node.lineno}: reads {node.value!r}")
                if "XDG_" in node.value and where not in XDG_ALLOWED:
                    problems.append(f"{where}:{node.lineno}: reads {node.value!r}")
    assert problems == []


# -- memory, as each OS reports it -----------------------------------------------------------


def fake_process(**memory_info):
    info = types.SimpleNamespace(**memory_info)
    return lambda pid=None: types.SimpleNamespace(memory_info=lambda: info)


def test_peak_memory_is_in_bytes_on_linux_macos_and_windows(monkeypatch):
    """Linux is real: getrusage's KiB are turned into bytes. macOS is simulated (sys.platform
    "darwin", a `resource` whose ru_maxrss is in bytes, as Apple's is); Windows too (psutil's
    peak working set, and no `resource` module at all)."""
    import resource

    on_linux = devices.process_peak_bytes()
    assert on_linux >= resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert on_linux >= psutil.Process().memory_info().rss

    three_gib = 3 << 30
    usage = types.SimpleNamespace(ru_maxrss=three_gib)
    fake_resource = types.SimpleNamespace(RUSAGE_SELF=0, getrusage=lambda who: usage)
    monkeypatch.setattr(devices.sys, "platform", "darwin")
    monkeypatch.setitem(sys.modules, "resource", fake_resource)
    monkeypatch.setattr(psutil, "Process", fake_process(rss=1 << 30))
    assert devices.process_peak_bytes() == three_gib
    assert devices.peak_memory_mb(torch.device("cpu")) == 3 * 1024

    monkeypatch.setattr(devices.sys, "platform", "win32")
    monkeypatch.setitem(sys.modules, "resource", None)
    monkeypatch.setattr(psutil, "Process", fake_process(rss=1 << 30, peak_wset=5 << 30))
    assert devices.process_peak_bytes() == 5 << 30


def test_free_memory_on_the_cpu_is_what_the_os_calls_available():
    """psutil's available memory (Linux's MemAvailable here), not the machine's whole RAM."""
    free, ram = memory.available_bytes(torch.device("cpu")), psutil.virtual_memory()
    assert abs(free - ram.available) < ram.total * 0.05
    assert free < ram.total


# -- the daemon's folders, start, stop and status --------------------------------------------


@pytest.fixture
def bare_home(monkeypatch, tmp_path):
    """A home with none of the variables that move the folders."""
    for name in ("NST_STATE_DIR", "NST_MODELS", "XDG_STATE_HOME", "XDG_DATA_HOME",
                 "XDG_CONFIG_HOME"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def as_system(monkeypatch, system: str) -> None:
    """Report `system` to platformdirs (its class for that OS) and to the product."""
    classes = {
        "linux": platformdirs.unix.Unix,
        "windows": platformdirs.windows.Windows,
        "macos": platformdirs.macos.MacOS,
    }
    monkeypatch.setattr(platformdirs, "PlatformDirs", classes[system])
    monkeypatch.setattr(platformdirs.windows, "get_win_folder", WINDOWS_FOLDERS.__getitem__)


@pytest.mark.parametrize(
    ("system", "state", "models"),
    [
        ("linux", "{home}/.local/state/neural-style", "{home}/.local/share/neural-style/models"),
        ("windows", r"C:\Users\me\AppData\Local\neural-style",
         r"C:\Users\me\AppData\Local\neural-style\models"),
        ("macos", "{home}/Library/Application Support/neural-style",
         "{home}/Library/Application Support/neural-style/models"),
    ],
)  # fmt: skip
def test_the_daemons_folders_are_where_each_os_keeps_a_users_files(
    system, state, models, monkeypatch, bare_home
):
    """Simulated: platformdirs's own class for each OS, and on Windows its known-folder lookup
    answered for a user "me". The state folder holds the pid file, log, output and lock."""
    as_system(monkeypatch, system)
    normal = ntpath.normpath if system == "windows" else str
    home = str(bare_home)
    assert normal(str(daemon.state_dir())) == state.format(home=home)
    assert normal(str(library.default_folder())) == models.format(home=home)
    files = {"server.json": daemon.pid_path(), "server.log": daemon.log_path(),
             "server.out": daemon.out_path(), "server.lock": daemon.lock_path()}  # fmt: skip
    for name, path in files.items():
        assert normal(str(path)) == normal(str(daemon.state_dir() / name))


def test_linux_folders_stay_where_they_were(monkeypatch, bare_home, tmp_path):
    """The XDG variables still move them, as before platformdirs; $NST_STATE_DIR wins."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert daemon.state_dir() == tmp_path / "state" / "neural-style"
    assert library.default_folder() == tmp_path / "data" / "neural-style" / "models"
    monkeypatch.setenv("NST_STATE_DIR", str(tmp_path / "mine"))
    assert daemon.pid_path() == tmp_path / "mine" / "server.json"


class RecordedPopen:
    """Stands in for subprocess.Popen: records the call, then does what a ready `serve` does
    (writes the pid file)."""

    calls: list[tuple[list[str], dict]] = []
    pid = 4242

    def __init__(self, command: list[str], **kwargs) -> None:
        RecordedPopen.calls.append((command, kwargs))
        pid_file = Path(command[command.index("--pid-file") + 1])
        pid_file.write_text(json.dumps({"pid": self.pid, "address": command[5]}))

    def poll(self):
        return None


def start_recorded(monkeypatch, tmp_path) -> tuple[list[str], dict]:
    RecordedPopen.calls = []
    monkeypatch.setenv("NST_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(daemon.subprocess, "Popen", RecordedPopen)
    monkeypatch.setattr(daemon, "health_status", lambda address: "SERVING")
    if hasattr(os, "fork"):
        monkeypatch.setattr(os, "fork", lambda: pytest.fail("the daemon must not fork"))
    assert daemon.start("127.0.0.1:7003", ["--device", "cpu"], timeout=5) == 0
    [(command, kwargs)] = RecordedPopen.calls
    return command, kwargs


def test_start_on_windows_makes_a_detached_process_group_without_a_console(
    monkeypatch, tmp_path, capsys
):
    """Simulated: os.name "nt" (what Windows's Python reports) in the daemon; Popen recorded,
    since no Windows process can be made here."""
    report_windows(monkeypatch, daemon)
    command, kwargs = start_recorded(monkeypatch, tmp_path)
    assert kwargs["creationflags"] == 0x00000008 | 0x00000200  # DETACHED | NEW_PROCESS_GROUP
    assert "start_new_session" not in kwargs and "preexec_fn" not in kwargs
    assert kwargs["close_fds"] and kwargs["stdin"] == subprocess.DEVNULL
    assert command[:4] == [sys.executable, "-m", "nst_server", "serve"]
    assert command[command.index("--pid-file") + 1] == str(tmp_path / "state" / "server.json")
    assert "nst-server started (pid 4242) on 127.0.0.1:7003" in capsys.readouterr().out


def test_start_on_posix_makes_a_new_session(monkeypatch, tmp_path):
    """Real os.name (posix, as on macOS); Popen recorded."""
    command, kwargs = start_recorded(monkeypatch, tmp_path)
    assert kwargs["start_new_session"] is True and "creationflags" not in kwargs
    assert command[command.index("--log-file") + 1] == str(tmp_path / "state" / "server.log")


class RecordedProcess:
    """Stands in for psutil.Process of a running nst-server: records terminate and kill."""

    def __init__(self, stubborn: bool) -> None:
        self.stubborn, self.ended, self.calls = stubborn, False, []

    def __call__(self, pid: int) -> RecordedProcess:
        self.calls.append(("Process", pid))
        return self

    def status(self) -> str:
        if self.ended:
            raise psutil.NoSuchProcess(4242)
        return psutil.STATUS_SLEEPING

    def cmdline(self) -> list[str]:
        return [r"C:\Python312\python.exe", "-m", "nst_server", "serve"]

    def terminate(self) -> None:
        self.calls.append("terminate")
        self.ended = not self.stubborn

    def kill(self) -> None:
        self.calls.append("kill")
        self.ended = True


@pytest.mark.parametrize("stubborn", [False, True])
def test_stop_on_windows_terminates_through_psutil_and_sends_no_signal(
    stubborn, monkeypatch, tmp_path, capsys
):
    """Simulated: os.name "nt" in the daemon, and psutil.Process recorded (on Windows its
    terminate and kill are TerminateProcess). os.kill is made to fail: on Windows it would
    kill at once."""
    windows_os = report_windows(monkeypatch, daemon)
    monkeypatch.setattr(windows_os, "kill", lambda *args: pytest.fail("stop sent a signal"))
    monkeypatch.setenv("NST_STATE_DIR", str(tmp_path))
    (tmp_path / "server.json").write_text(json.dumps({"pid": 4242, "address": "127.0.0.1:7004"}))
    process = RecordedProcess(stubborn)
    monkeypatch.setattr(psutil, "Process", process)
    monkeypatch.setattr(os, "kill", lambda *args: pytest.fail("stop must not send a signal"))
    assert daemon.stop(timeout=0.1) == (1 if stubborn else 0)
    assert [c for c in process.calls if isinstance(c, str)] == (
        ["terminate", "kill"] if stubborn else ["terminate"]
    )
    assert not (tmp_path / "server.json").exists()
    out = capsys.readouterr().out
    assert ("did not stop within 0.1 s; killed it" if stubborn else "(pid 4242) stopped") in out


def test_status_on_windows_finds_the_server_through_psutil(monkeypatch, tmp_path, capsys):
    """Simulated: os.name "nt" in the daemon, psutil.Process recorded, and the health answer
    given: a live server is running; a vanished one leaves a stale pid file that status
    removes."""
    report_windows(monkeypatch, daemon)
    monkeypatch.setenv("NST_STATE_DIR", str(tmp_path))
    pid_file = tmp_path / "server.json"
    pid_file.write_text(json.dumps({"pid": 4242, "address": f"127.0.0.1:{free_port()}"}))
    monkeypatch.setattr(psutil, "Process", RecordedProcess(stubborn=False))
    monkeypatch.setattr(daemon, "health_status", lambda address: "SERVING")
    assert daemon.status() == 0 and "running (pid 4242)" in capsys.readouterr().out

    def gone(pid):
        raise psutil.NoSuchProcess(pid)

    monkeypatch.setattr(psutil, "Process", gone)
    assert daemon.status() == 3 and "pid 4242 is gone" in capsys.readouterr().out
    assert not pid_file.exists()


def nst_server(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nst_server", *args],
        capture_output=True, text=True, env=env, timeout=240,
    )  # fmt: skip


def test_two_starts_at_once_make_one_server_that_status_sees_and_stop_ends(tmp_path):
    """Real, on this Linux: two `nst-server start` at the same moment, one state folder. The
    lock lets one start the server; the other waits, then finds it running."""
    env = {**os.environ, "NST_STATE_DIR": str(tmp_path / "state")}
    address = f"127.0.0.1:{free_port()}"
    start = [sys.executable, "-m", "nst_server", "start", "--address", address,
             "--device", "cpu", "--no-warm-up"]  # fmt: skip
    both = [
        subprocess.Popen(start, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        outputs = [proc.communicate(timeout=240) for proc in both]
        assert [proc.returncode for proc in both] == [0, 0], outputs
        said = [out for out, _err in outputs]
        assert sum("nst-server started (pid" in text for text in said) == 1, said
        assert sum("nst-server is already running" in text for text in said) == 1, said
        pid = json.loads((tmp_path / "state" / "server.json").read_text())["pid"]
        assert daemon.alive(pid)

        status = nst_server("status", env=env)
        assert status.returncode == 0 and f"running (pid {pid}) on {address}" in status.stdout
    finally:
        stopped = nst_server("stop", env=env)
    assert stopped.returncode == 0 and f"(pid {pid}) stopped" in stopped.stdout
    assert not daemon.alive(pid)
    assert nst_server("status", env=env).returncode == 3


# -- the plug-in's installer and its own start of the server ---------------------------------


def windows_machine(tmp_path: Path, with_python: bool) -> dict:
    """A Windows user's folders: GIMP 3.2 installed for all users as its installer lays it
    out (bin\\ holds gimp-3.2.exe, gimp-console-3.2.exe and, with its Python component,
    python.exe and pythonw.exe), and the folder GIMP made on its first start."""
    appdata, program_files = tmp_path / "Roaming", tmp_path / "Program Files"
    (appdata / "GIMP" / "3.2").mkdir(parents=True)
    binaries = program_files / "GIMP 3" / "bin"
    binaries.mkdir(parents=True)
    names = ["gimp-3.2.exe", "gimp-console-3.2.exe"]
    names += ["python.exe", "pythonw.exe"] if with_python else []
    for name in names:
        (binaries / name).write_bytes(b"MZ")
    return {"USERPROFILE": str(tmp_path), "APPDATA": str(appdata),
            "ProgramFiles": str(program_files)}  # fmt: skip


def test_the_windows_plan_runs_the_plugin_in_gimps_bundled_python(tmp_path):
    """Simulated: platform "win32" and a Windows machine's folders (windows_machine). The plan
    names GIMP's pythonw.exe; the install writes the server's command as an argument list (no
    shell quoting) and says which Python runs the plug-in."""
    env = windows_machine(tmp_path, with_python=True)
    [gimp] = gimp_install.find_installations(platform="win32", env=env)
    binaries = tmp_path / "Program Files" / "GIMP 3" / "bin"
    assert gimp.kind == "windows" and gimp.version == "3.2"
    assert gimp.config_dir == tmp_path / "Roaming" / "GIMP" / "3.2"
    assert gimp.python == binaries / "pythonw.exe" and not gimp.python_missing
    assert gimp.console == [str(binaries / "gimp-console-3.2.exe")]
    lines: list[str] = []
    done, problems = gimp_install.install_everywhere([gimp], log=lines.append)
    assert problems == [] and done == [gimp.config_dir / "plug-ins" / "neural_style"]
    settings = json.loads((done[0] / "neural_style.json").read_text())
    assert isinstance(settings["server_command"], list)
    assert Path(settings["server_command"][0]).is_absolute()
    assert f"  GIMP runs it in its own Python: {binaries / 'pythonw.exe'}" in lines


def test_a_windows_gimp_without_its_python_is_named_as_the_problem(tmp_path):
    """Simulated as above, GIMP installed without its Python component: the plug-in is put in
    place, and the one thing to do is said."""
    env = windows_machine(tmp_path, with_python=False)
    [gimp] = gimp_install.find_installations(platform="win32", env=env)
    assert gimp.python is None and gimp.python_missing
    done, problems = gimp_install.install_everywhere([gimp], log=lambda line: None)
    assert len(done) == 1
    assert len(problems) == 1 and "has no Python of its own" in problems[0]
    assert "run GIMP's installer again and include Python" in problems[0]


def test_a_plugin_folder_windows_will_not_rename_is_a_clear_error_and_stays(tmp_path, monkeypatch):
    """Simulated: renaming the installed plug-in's folder fails as Windows fails it while a
    running plug-in holds vendor.zip open (PermissionError). The old copy is left working."""
    gimp = gimp_install.GimpInstallation("custom", "", tmp_path / "GIMP" / "3.2")
    dest = gimp_install.install(gimp, log=lambda line: None)
    real_rename = Path.rename

    def windows_rename(self, target):
        if self == dest:
            raise PermissionError(13, "The process cannot access the file")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", windows_rename)
    with pytest.raises(gimp_install.InstallError, match="close GIMP and run"):
        gimp_install.install(gimp, log=lambda line: None)
    assert (dest / "neural_style.py").is_file() and (dest / "vendor.zip").is_file()
    assert [p.name for p in dest.parent.iterdir()] == ["neural_style"], "no staging left"


def test_the_macos_plan_uses_application_support(tmp_path):
    """Simulated: platform "darwin" and a Mac user's home under tmp_path."""
    support = tmp_path / "Library" / "Application Support" / "GIMP"
    (support / "3.0").mkdir(parents=True)
    [gimp] = gimp_install.find_installations(platform="darwin", env={"HOME": str(tmp_path)})
    assert (gimp.kind, gimp.config_dir, gimp.python) == ("macos", support / "3.0", None)
    assert not gimp.python_missing, "only a Windows GIMP's own Python is looked for"


def record_plugin_start(monkeypatch, core) -> dict:
    recorded: dict = {}

    def run(argv, **kwargs):
        recorded.update(argv=argv, **kwargs)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(core.subprocess, "run", run)
    monkeypatch.setenv("PYTHONHOME", r"C:\Program Files\GIMP 3\lib\python3.12")
    monkeypatch.setenv("PYTHONPATH", r"C:\Program Files\GIMP 3\lib\gimp\3.0\python")
    assert (
        core.start_server("127.0.0.1:7005", {"server_command": [sys.executable]}, flatpak=False)
        is None
    )
    return recorded


def test_the_plugin_starts_the_server_on_windows_without_a_console_window(monkeypatch):
    """Simulated: os.name "nt" in the plug-in's core, and subprocess.run recorded (no Windows
    program can run here). An argument list, no shell; CREATE_NO_WINDOW; GIMP's own Python
    variables left out of the server's environment; output decoded without failing."""
    core = load_plugin_core()
    report_windows(monkeypatch, core)
    recorded = record_plugin_start(monkeypatch, core)
    assert recorded["argv"] == [sys.executable, "start", "--address", "127.0.0.1:7005"]
    assert recorded["creationflags"] == 0x08000000 and not recorded.get("shell")
    assert "PYTHONHOME" not in recorded["env"] and "PYTHONPATH" not in recorded["env"]
    assert recorded["env"]["PATH"] == os.environ["PATH"]
    assert recorded["errors"] == "replace" and recorded["stdin"] == subprocess.DEVNULL
    command = core.start_command(
        {"server_command": [r"C:\Program Files\Python312\Scripts\nst-server.exe"]}, "127.0.0.1:7005"
    )
    assert (
        command
        == r'"C:\Program Files\Python312\Scripts\nst-server.exe" start --address 127.0.0.1:7005'
    )


def test_the_plugin_starts_the_server_on_posix_with_no_windows_flags(monkeypatch):
    """Real os.name; subprocess.run recorded."""
    core = load_plugin_core()
    recorded = record_plugin_start(monkeypatch, core)
    assert recorded["creationflags"] == 0 and "PYTHONHOME" not in recorded["env"]
