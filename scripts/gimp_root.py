"""Run a real GIMP 3 from one of the project's Debian roots (see build_gimp_root.sh):
"trixie" has GIMP 3.0.4 with Python 3.13, "sid" GIMP 3.2.x with Python 3.14.

Used by the GIMP tests (tests/gimp/) and by the screenshot scripts:
  root = GimpRoot.ensure("sid")     # build once, then reuse; raises RootUnavailable with why
  work = root.workdir("name")       # a fresh folder inside the root: .host and .inside paths
  home = root.new_home("user")      # a fresh home folder in which GIMP has run once
  res = root.batch(home, script)    # headless gimp-console running a python-fu-eval script
  with root.xvfb() as x:            # a GUI session under Xvfb + openbox for the real dialog

The roots live outside the clone ($NST_GIMP_ROOTS, else ~/.cache/neural-style-gimp/roots), so
every clone on a machine shares them.
"""

from __future__ import annotations

import contextlib
import functools
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
ROOTS = Path(
    os.environ.get("NST_GIMP_ROOTS")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "neural-style-gimp"
    / "roots"
)
SUITES = ("trixie", "sid")  # GIMP 3.0 and GIMP 3.2
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
    def __init__(self, suite: str = "trixie", path: Path | None = None):
        self.suite = suite
        self.path = Path(path) if path is not None else ROOTS / suite
        self.workdirs: list[Path] = []

    # -- building ---------------------------------------------------------------------
    @classmethod
    def ensure(cls, suite: str = "trixie", *, gui: bool = False, log=print) -> GimpRoot:
        """Build the root if needed (once), else reuse it. Raises RootUnavailable."""
        root = cls(suite)
        if root.ready(gui=gui):
            return root
        if sys.platform != "linux":
            raise RootUnavailable(f"the GIMP 3 root needs Linux (this is {sys.platform})")
        if os.geteuid() != 0:
            raise RootUnavailable("building the GIMP 3 root needs root (debootstrap, chroot)")
        if not shutil.which("debootstrap") and not shutil.which("apt-get"):
            raise RootUnavailable("neither debootstrap nor apt-get is available to build it")
        cmd = ["bash", str(BUILD_SCRIPT), "--suite", suite, str(root.path)]
        cmd += ["--gui"] if gui else []
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

    @functools.cached_property
    def version(self) -> str:
        """GIMP's full version in this root, e.g. "3.2.6"."""
        out = self.run("gimp-console", "--version").output
        words = [w for w in out.split() if w[:1].isdigit() and w.count(".") == 2]
        if not words:
            raise RootUnavailable(f"gimp-console --version in {self.path} said: {out.strip()}")
        return words[-1]

    @property
    def minor(self) -> str:
        """ "3.0" or "3.2": the name of this GIMP's config folder."""
        return ".".join(self.version.split(".")[:2])

    @functools.cached_property
    def python_version(self) -> str:
        return self.run("python3", "-c", "import sys; print(sys.version.split()[0])").output.strip()

    def gimprc(self) -> str:
        """Settings that keep the welcome window and the colour-profile question away."""
        return (
            f'(config-version "{self.version}")\n(show-welcome-dialog no)\n'
            "(color-profile-policy keep)\n"
        )

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

    def new_home(self, name: str) -> Workdir:
        """A fresh home folder inside the root in which GIMP has run once, as a user's is
        after the first start: GIMP made its config folder (.config/GIMP/3.x) itself."""
        home = self.workdir(name)
        first = self.run(
            "timeout", "180", "gimp-console", "-i", "--quit", env={"HOME": home.inside}, timeout=210
        )
        config = home.host / ".config" / "GIMP" / self.minor
        if not config.is_dir():
            raise RootUnavailable(f"GIMP's first start made no {config}: {first.output[-2000:]}")
        (config / "gimprc").write_text(self.gimprc())
        return home

    def batch(
        self,
        home_inside: str,
        script_inside: str,
        *,
        timeout: float = 180,
        env: dict[str, str] | None = None,
    ) -> BatchResult:
        """Run a python-fu-eval script in headless gimp-console as the user whose home is
        `home_inside`, and quit."""
        cmd_env = {"HOME": home_inside, **(env or {})}
        return self.run(
            "timeout",
            str(int(timeout)),
            "gimp-console",
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
        self.mounted_proc: Path | None = None

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
        # GIMP 3.2's GTK loads icons through glycin, which sandboxes its loaders with bwrap
        # when it can make a user namespace: without /proc it believes it can, bwrap fails
        # and GIMP aborts; with /proc it learns it cannot and loads them unsandboxed.
        proc = self.root.path / "proc"
        if not os.path.ismount(proc):
            subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)
            self.mounted_proc = proc
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
        if self.mounted_proc is not None:
            subprocess.run(["umount", "--lazy", str(self.mounted_proc)], check=False)
            self.mounted_proc = None
