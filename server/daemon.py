"""`nst-server start`, `status` and `stop`: the server as a background daemon, with its pid
file and log file in the user's state folder.

State folder: $NST_STATE_DIR, else the OS's per-user state folder for "neural-style", as
platformdirs names it: $XDG_STATE_HOME/neural-style (~/.local/state/neural-style) on Linux,
%LOCALAPPDATA%\\neural-style on Windows, ~/Library/Application Support/neural-style on macOS.
It holds server.json (pid, address, log path; written by the server once it is ready, removed
when it exits), server.log (the server's log, rotated at 1 MiB with three older files kept:
server.log.1 ...), server.out (what the process printed itself: errors before its log was
open, a crash's traceback) and server.lock (held while a `start` runs, so that two cannot
race).

Processes are handled the same way on every OS: started detached (a new session on POSIX, a
detached process in its own group on Windows; never a fork), found and stopped with psutil
(SIGTERM then SIGKILL on POSIX; TerminateProcess on Windows, which has no signals to send).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import filelock
import grpc
import platformdirs
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nst_proto import DEFAULT_ADDRESS

APP_NAME = "neural-style"
PID_FILE = "server.json"
LOG_FILE = "server.log"
OUT_FILE = "server.out"
LOCK_FILE = "server.lock"
# The Windows process creation flags (winbase.h), spelled out because the subprocess module
# defines them only on Windows.
DETACHED_PROCESS = 0x00000008
CREATE_NEW_PROCESS_GROUP = 0x00000200


def default_address() -> str:
    """$NST_SERVER_ADDRESS, else the contract's default."""
    return os.environ.get("NST_SERVER_ADDRESS", DEFAULT_ADDRESS)


def client_address() -> str:
    """Where a client command connects when it is given no address: the running daemon's
    (from its pid file, as `status` reads it), else $NST_SERVER_ADDRESS or the default."""
    record = read_pid_file()
    if record is not None and record.get("address") and alive(record["pid"]):
        return str(record["address"])
    return default_address()


def server_command() -> list[str]:
    """The absolute command that runs this installation's `nst-server` (for the GIMP
    plug-in's settings and the login service): the script pip installed beside this Python
    (a virtual environment, macOS, Linux) or in its scripts folder (Windows: Scripts\\),
    else this Python running the package."""
    folders = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))]
    for folder in folders:
        for name in ("nst-server", "nst-server.exe"):
            if (folder / name).is_file():
                return [str(folder / name)]
    return [sys.executable, "-m", "nst_server"]


def state_dir() -> Path:
    """$NST_STATE_DIR, else this OS's per-user state folder (see the module's docstring)."""
    if os.environ.get("NST_STATE_DIR"):
        return Path(os.environ["NST_STATE_DIR"]).expanduser()
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def pid_path() -> Path:
    return state_dir() / PID_FILE


def log_path() -> Path:
    return state_dir() / LOG_FILE


def out_path() -> Path:
    return state_dir() / OUT_FILE


def lock_path() -> Path:
    return state_dir() / LOCK_FILE


def write_pid_file(path: Path, address: str, log: str | None, **extra) -> None:
    """`extra`: what else `status` shows (a cluster server's cluster and replicas)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"pid": os.getpid(), "address": address, "log": log, "started": time.time()}
    record.update(extra)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record) + "\n")
    tmp.replace(path)


def remove_pid_file(path: Path) -> None:
    """Remove the pid file if it is this process's."""
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def read_pid_file(path: Path | None = None) -> dict | None:
    path = path or pid_path()
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


def alive(pid: int) -> bool:
    """True while `pid` is a live (not zombie) nst-server process that this user can see."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        command = " ".join(process.cmdline())
    except psutil.Error:  # gone, a zombie, or another user's process: not our server
        return False
    return "nst_server" in command or "nst-server" in command


def detached() -> dict:
    """Popen's arguments that start a process which outlives its starter (the terminal, GIMP):
    its own session on POSIX; on Windows a process with no console (so no window flashes up)
    in its own process group (so a Ctrl+C in the starter's console does not reach it)."""
    if os.name == "nt":
        return {"creationflags": DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def health_status(address: str, timeout: float = 2.0) -> str | None:
    """The health service's status name ("SERVING", ...) at `address`, None if no answer."""
    channel = grpc.insecure_channel(address)
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=timeout
        )
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    except grpc.RpcError:
        return None
    finally:
        channel.close()


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])


def start(address: str, serve_args: list[str], timeout: float = 120.0, secure: bool = False) -> int:
    """Start `nst-server serve` detached; return once it answers (0) or failed (1).

    One `start` at a time per state folder: a second one waits for the first (for as long as
    a start may take) and then finds its server running."""
    lock = filelock.FileLock(lock_path(), timeout=timeout + 10)
    lock_path().parent.mkdir(parents=True, exist_ok=True)
    try:
        with lock:
            return _start(address, serve_args, timeout, secure)
    except filelock.Timeout:
        print(
            f"nst-server: error: another `nst-server start` has held {lock_path()} for over "
            f"{timeout + 10:g} s; wait for it, or run `nst-server status`",
            file=sys.stderr,
        )
        return 1


def _start(address: str, serve_args: list[str], timeout: float, secure: bool) -> int:
    pid_file, log_file, out_file = pid_path(), log_path(), out_path()
    record = read_pid_file(pid_file)
    if record is not None:
        if alive(record["pid"]):
            if record.get("address") == address:
                print(f"nst-server is already running (pid {record['pid']}) on {address}")
                return 0
            print(
                f"nst-server: error: a server is already running (pid {record['pid']}) on "
                f"{record.get('address')}; stop it first with `nst-server stop`",
                file=sys.stderr,
            )
            return 1
        pid_file.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "nst_server",
        "serve",
        "--address",
        address,
        "--pid-file",
        str(pid_file),
        "--log-file",
        str(log_file),
        *serve_args,
    ]
    with open(out_file, "wb") as out:  # the child keeps its own handle
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            close_fds=True,  # on Windows too: the child inherits its standard handles only
            **detached(),
        )
    started = time.monotonic()
    while True:
        code = proc.poll()
        if code is not None:
            print(
                f"nst-server: error: the server exited with status {code} before it was ready:\n"
                f"{_new_log(out_file)}\n(its log: {log_file})",
                file=sys.stderr,
            )
            return 1
        record = read_pid_file(pid_file)
        if record is not None and record.get("pid") == proc.pid:
            if secure or health_status(address) == "SERVING":
                print(
                    f"nst-server started (pid {proc.pid}) on {address} in "
                    f"{time.monotonic() - started:.1f} s; log: {log_file}"
                )
                return 0
        if time.monotonic() - started > timeout:
            proc.terminate()
            print(
                f"nst-server: error: the server did not answer within {timeout:g} s; stopped it. "
                f"What it printed ({out_file}):\n{_new_log(out_file)}",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.2)


def _new_log(path: Path, offset: int = 0) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-12:])


def status() -> int:
    """0 running and answering, 1 running but not answering, 3 not running."""
    pid_file = pid_path()
    record = read_pid_file(pid_file)
    if record is None:
        print(f"nst-server is not running (no pid file in {pid_file.parent})")
        return 3
    pid, address = record["pid"], record.get("address", "?")
    if not alive(pid):
        pid_file.unlink(missing_ok=True)
        print(f"nst-server is not running (pid {pid} is gone; removed its stale pid file)")
        return 3
    health = health_status(address)
    if health != "SERVING":
        print(f"nst-server (pid {pid}) is running but does not answer on {address} ({health})")
        return 1
    line = f"nst-server is running (pid {pid}) on {address}"
    if record.get("cluster"):
        line += f" (Ray cluster {record['cluster']}, {record.get('replicas')} replica(s))"
    try:
        from nst_proto.client import StyleClient

        with StyleClient(address, connect_timeout=2) as client:
            info = client.info()
        line += (
            f": device {info.device}{' (' + info.gpu_name + ')' if info.gpu_name else ''}, "
            f"{'busy' if info.busy else 'idle'}, {info.queued} waiting, "
            f"up {info.uptime_seconds:.0f} s"
        )
    except Exception:  # noqa: BLE001 - the health answer is enough for status
        pass
    print(f"{line}; log: {record.get('log') or log_path()}")
    return 0


def _end(pid: int, *, force: bool) -> None:
    """psutil's terminate (force: kill) to a process that may have ended meanwhile."""
    try:
        process = psutil.Process(pid)
        if force:
            process.kill()
        else:
            process.terminate()
    except psutil.NoSuchProcess:
        pass


def stop(timeout: float = 30.0) -> int:
    """Stop the daemon: psutil's terminate, which is SIGTERM on POSIX (the server cancels its
    jobs and removes its files) and TerminateProcess on Windows (at once: Windows has no signal
    a detached process can catch); then kill, if it has not stopped within `timeout`."""
    pid_file = pid_path()
    record = read_pid_file(pid_file)
    if record is None or not alive(record["pid"]):
        pid_file.unlink(missing_ok=True)
        print("nst-server is not running")
        return 0
    pid = record["pid"]
    _end(pid, force=False)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:  # a zombie counts as stopped
        time.sleep(0.1)
    if alive(pid):
        _end(pid, force=True)
        pid_file.unlink(missing_ok=True)
        print(f"nst-server (pid {pid}) did not stop within {timeout:g} s; killed it")
        return 1
    pid_file.unlink(missing_ok=True)
    print(f"nst-server (pid {pid}) stopped")
    return 0
