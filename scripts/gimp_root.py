"""Run a real GIMP 3.0.4 from the project's Debian trixie root (see build_gimp_root.sh).

Used by the GIMP tests (tests/gimp/) and by screenshot_dialog.py:
  root = GimpRoot.ensure()          # build once, then reuse; raises RootUnavailable with why
  work = root.workdir("name")       # a fresh folder inside the root: .host and .inside paths
  res = root.batch(cfg, script)     # headless gimp-console-3.0 running a python-fu-eval script
  with root.xvfb(gui=True) as x:    # a GUI session under Xvfb + openbox for the real dialog
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO / "scripts" / "build_gimp_root.sh"
DEFAULT_ROOT = Path(os.environ.get("NST_GIMP_ROOT", REPO / ".cache" / "gimp3-root"))
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


class RootUnavailable(Exception):
    """This machine cannot build or use the GIMP root; the message says why."""


@dataclass
class Workdir:
    host: Path
    inside: str

    def path(self, name: str) -> tuple[Path, str]:
        return self.host / name, f"{self.inside}/{name}"


@dataclass
class BatchResult:
    returncode: int
    output: str
    seconds: float


class GimpRoot:
    def __init__(self, path: Path = DEFAULT_ROOT):
        self.path = Path(path)
        self.workdirs: list[Path] = []

    # -- building ---------------------------------------------------------------------
    @classmethod
    def ensure(cls, path: Path = DEFAULT_ROOT, *, gui: bool = False, log=print) -> GimpRoot:
        """Build the root if needed (once), else reuse it. Raises RootUnavailable."""
        root = cls(path)
        if root.ready(gui=gui):
            return root
        if sys.platform != "linux":
            raise RootUnavailable(f"the GIMP 3 root needs Linux (this is {sys.platform})")
        if os.geteuid() != 0:
            raise RootUnavailable("building the GIMP 3 root needs root (debootstrap, chroot)")
        if not shutil.which("debootstrap") and not shutil.which("apt-get"):
            raise RootUnavailable("neither debootstrap nor apt-get is available to build it")
        cmd = ["bash", str(BUILD_SCRIPT), str(root.path)] + (["--gui"] if gui else [])
        log(f"building the GIMP 3 root: {' '.join(cmd)}")
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        for line in proc.stdout.splitlines():
            if line.startswith("[build_gimp_root]"):
                log(line)
        if proc.returncode != 0 or not root.ready(gui=gui):
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
            raise RootUnavailable(
                f"building the GIMP 3 root failed (exit {proc.returncode}); last lines:\n{tail}"
            )
        log(f"GIMP 3 root ready in {time.monotonic() - started:.0f} s")
        return root

    def ready(self, *, gui: bool = False) -> bool:
        markers = self.path / ".nst-markers"
        return (markers / "gimp").is_file() and (not gui or (markers / "gui").is_file())

    # -- running ----------------------------------------------------------------------
    def workdir(self, name: str) -> Workdir:
        inside = f"/tmp/nst-tests/{name}-{uuid.uuid4().hex[:8]}"
        host = self.path / inside.lstrip("/")
        host.mkdir(parents=True)
        host.chmod(0o777)
        self.workdirs.append(host)
        return Workdir(host, inside)

    def cleanup(self) -> None:
        """Remove the work folders this object made."""
        for host in self.workdirs:
            shutil.rmtree(host, ignore_errors=True)
        self.workdirs.clear()

    def command(self, *args: str, env: dict[str, str] | None = None) -> list[str]:
        """argv running `args` in the root under a clean environment."""
        base = {"PATH": CLEAN_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
        base.update(env or {})
        return [
            "chroot",
            str(self.path),
            "env",
            "-i",
            *(f"{k}={v}" for k, v in base.items()),
            *args,
        ]

    def run(self, *args: str, env=None, timeout: float = 120) -> BatchResult:
        started = time.monotonic()
        proc = subprocess.run(
            self.command(*args, env=env), capture_output=True, text=True, timeout=timeout
        )
        return BatchResult(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)

    def batch(
        self,
        config_inside: str,
        script_inside: str,
        *,
        timeout: float = 180,
        env: dict[str, str] | None = None,
    ) -> BatchResult:
        """Run a python-fu-eval script in headless gimp-console-3.0 and quit."""
        cmd_env = {"GIMP3_DIRECTORY": config_inside, **(env or {})}
        return self.run(
            "timeout",
            str(int(timeout)),
            "gimp-console-3.0",
            "-i",
            "--batch-interpreter=python-fu-eval",
            "-b",
            f'exec(open("{script_inside}").read())',
            "--quit",
            env=cmd_env,
            timeout=timeout + 30,
        )

    @contextlib.contextmanager
    def xvfb(self, display: int = 99, size: str = "1280x800x24"):
        """Xvfb + openbox inside the root; yields a GuiSession; kills what it started."""
        session = GuiSession(self, f":{display}")
        try:
            session.start(size)
            yield session
        finally:
            session.stop()


class GuiSession:
    def __init__(self, root: GimpRoot, display: str):
        self.root = root
        self.display = display
        self.procs: list[subprocess.Popen] = []

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"DISPLAY": self.display, **(extra or {})}

    def spawn(self, *args: str, env=None, log: Path | None = None) -> subprocess.Popen:
        out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(
            self.root.command(*args, env=self.env(env)),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def x(self, *args: str, timeout: float = 30) -> BatchResult:
        return self.root.run(*args, env=self.env(), timeout=timeout)

    def start(self, size: str) -> None:
        lock = self.root.path / "tmp" / f".X{self.display[1:]}-lock"
        lock.unlink(missing_ok=True)
        self.spawn("Xvfb", self.display, "-screen", "0", size, "-nolisten", "tcp")
        for _ in range(100):
            if self.x("xdpyinfo").returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("Xvfb did not start")
        self.spawn("openbox")
        time.sleep(0.5)
        self.x("xdotool", "mousemove", "1279", "799")

    def wait_window(self, name_regex: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            res = self.x("xdotool", "search", "--onlyvisible", "--name", name_regex)
            ids = res.output.split()
            if res.returncode == 0 and ids and ids[0].isdigit():
                return ids[0]
            time.sleep(0.5)
        raise TimeoutError(f"no window named {name_regex!r} after {timeout} s")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
        self.procs.clear()
