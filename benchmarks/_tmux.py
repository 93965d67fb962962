"""A program in its own tmux session, read and typed at as an operator does (benchmarks/scale.py, terminal_keys.py)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil

SIZE = ("160", "48")
CONSOLE = f"{sys.executable} -m mdm_console"


@contextlib.contextmanager
def keep_server() -> Iterator[None]:
    """A session that outlives the measured ones: the tmux server must not exit between two of them."""
    keeper = f"bench-keep-{uuid.uuid4().hex[:8]}"
    subprocess.run(["tmux", "new-session", "-d", "-s", keeper, "sleep 3600"], check=True)
    try:
        yield
    finally:
        subprocess.run(["tmux", "kill-session", "-t", keeper], capture_output=True)


class Pane:
    """One program (the console unless told) in its own tmux session, 160x48."""

    def __init__(self, cwd: Path, env: dict, command: str = CONSOLE):
        self.name = f"bench-{uuid.uuid4().hex[:8]}"
        self.t0 = time.perf_counter()
        # -e: a tmux server that is already running gives new sessions its own environment, not ours
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", SIZE[0], "-y", SIZE[1], "-c", str(cwd),
                        "-e", f"MDM_STATE_DIR={env['MDM_STATE_DIR']}", command], env=env, check=True)
        pid = subprocess.run(["tmux", "display-message", "-p", "-t", self.name, "#{pane_pid}"], capture_output=True,
                             text=True, check=True).stdout.strip()
        self.proc = psutil.Process(int(pid))

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True).stdout

    def keys(self, *keys: str, check: bool = True) -> float:
        """Type `keys`; returns the clock just before they were sent."""
        t0 = time.perf_counter()
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=check, capture_output=not check)
        return t0

    def until(self, test, since: float, timeout: float = 120, every: float = 0.005) -> float:
        """Seconds from `since` until `test(screen)` holds (the screen polled every `every` s)."""
        while time.perf_counter() - since < timeout:
            if test(self.screen()):
                return time.perf_counter() - since
            time.sleep(every)
        raise RuntimeError(f"not on screen within {timeout} s:\n{self.screen()}")

    def cpu_times(self) -> float:
        t = self.proc.cpu_times()
        return t.user + t.system

    def cpu_percent(self, seconds: float) -> float:
        before = self.cpu_times()
        time.sleep(seconds)
        return (self.cpu_times() - before) / seconds * 100

    def close(self) -> None:
        """Quit as an operator does (the console's quit dialog asks for QUIT while the safety net runs) and wait for
        the process to end: a console killed mid-run leaves its socket behind."""
        self.keys("q", check=False)
        try:
            time.sleep(0.5)
            if self.proc.is_running() and self.proc.status() != psutil.STATUS_ZOMBIE:
                self.keys("Q", "U", "I", "T", "Enter", check=False)
            self.proc.wait(20)
        except psutil.Error:
            pass
        finally:
            subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)
