"""Subprocesses for validators: own process group, bounded output, no orphans.

On timeout or cancel the whole group gets SIGTERM, then SIGKILL after a short grace, so
a child that ignores SIGTERM or forks grandchildren is still gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from collections import deque
from dataclasses import dataclass

TAIL_BYTES = 16 * 1024
GRACE_SECONDS = 2.0  # the reaper answers SIGTERM in well under this; the wait ends as soon as it does
# On Linux every command runs under validators/reaper.py, a child subreaper that kills whatever the command
# left behind, even processes that left its group with setsid. Elsewhere the process group is all we have.
REAPER = sys.platform == "linux"


def _must_run(program: str, cwd: str | None, env: dict[str, str]) -> None:
    """Raise as exec would (FileNotFoundError, PermissionError) before the reaper is started for it."""
    if "/" in program:
        path = program if os.path.isabs(program) or cwd is None else os.path.join(cwd, program)
        if not os.path.exists(path):
            raise FileNotFoundError(2, "No such file or directory", program)
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            raise PermissionError(13, "Permission denied", program)
        return
    if shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        raise FileNotFoundError(2, "No such file or directory", program)


@dataclass
class ProcResult:
    exit_code: int | None  # None: killed (timeout or cancel)
    output: str  # stdout+stderr tail, at most TAIL_BYTES
    truncated_bytes: int
    timed_out: bool = False


class _Tail:
    def __init__(self, limit: int):
        self.limit = limit
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.dropped = 0

    def add(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        while self.size > self.limit and self.chunks:
            extra = self.size - self.limit
            first = self.chunks[0]
            if len(first) <= extra:
                self.chunks.popleft()
                self.size -= len(first)
                self.dropped += len(first)
            else:
                self.chunks[0] = first[extra:]
                self.size -= extra
                self.dropped += extra

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", errors="replace")


async def run(argv: list[str] | None = None, *, shell: str | None = None, cwd: str | None = None,
              env: dict[str, str] | None = None, timeout: float, stdin: bytes | None = None) -> ProcResult:
    """Run a command without a shell (argv) or with one (shell, explicit). Raises FileNotFoundError."""
    full_env = {**os.environ, **(env or {})}
    kwargs = dict(stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                  stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=cwd, env=full_env,
                  start_new_session=True)
    command = ["/bin/sh", "-c", shell] if shell is not None else list(argv or [])
    if REAPER:
        _must_run(command[0], cwd, full_env)
        command = [sys.executable, "-m", "mdm_console.validators.reaper", *command]
    proc = await asyncio.create_subprocess_exec(*command, **kwargs)
    tail = _Tail(TAIL_BYTES)

    async def pump() -> None:
        if stdin is not None:
            proc.stdin.write(stdin)
            await proc.stdin.drain()
            proc.stdin.close()
        while chunk := await proc.stdout.read(65536):
            tail.add(chunk)

    reader = asyncio.create_task(pump())
    try:
        try:
            await asyncio.wait_for(asyncio.shield(reader), timeout)
            code = await proc.wait()
            return ProcResult(code, tail.text(), tail.dropped)
        except TimeoutError:
            await kill_group(proc)
            return ProcResult(None, tail.text(), tail.dropped, timed_out=True)
    finally:
        if proc.returncode is None:  # cancelled: take the whole group down with us
            await asyncio.shield(kill_group(proc))
        reader.cancel()


async def kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, SIGKILL it after the grace period, reap the leader.

    Under the reaper, its SIGTERM handler kills every descendant (in this group or not) before it exits."""
    pgid = proc.pid  # start_new_session=True: the leader's pid is the group id
    _signal_group(pgid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), GRACE_SECONDS)
    except TimeoutError:
        pass
    # Children that ignored SIGTERM (or the leader's orphans) are still in the group.
    _signal_group(pgid, signal.SIGKILL)
    if proc.returncode is None:
        # asyncio's wait() also waits for the pipes to close; a process outside the group could hold them.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
