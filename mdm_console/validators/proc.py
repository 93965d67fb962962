"""Subprocesses for validators: own process group, bounded output, no orphans.

On timeout or cancel the whole group gets SIGTERM, then SIGKILL after a short grace, so a child that
ignores SIGTERM or forks grandchildren is still gone. A process that leaves the group (setsid, a double
fork) is found all the same: this process is a child subreaper, so such orphans are re-parented to it,
and each run marks its processes with an environment variable; when the command exits, times out or is
cancelled, whatever of the run is still alive is killed and reaped (`sweep`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
import uuid

from mdm_console import pools
from collections import deque
from dataclasses import dataclass

TAIL_BYTES = 16 * 1024
GRACE_SECONDS = 0.5
MARKER = "MDM_VALIDATOR_RUN"
PR_SET_CHILD_SUBREAPER = 36
_subreaper: bool | None = None
_LEADERS: set[int] = set()  # leaders of the runs under way: children of ours that no sweep needs to read


def become_subreaper() -> bool:
    """Make this process a child subreaper (Linux): a process a validator starts that leaves its group
    and its parent (setsid, double fork) is re-parented here rather than to init, so it can still be found
    and killed. Done once; elsewhere the process group is all there is."""
    global _subreaper
    if _subreaper is None:
        _subreaper = False
        if sys.platform == "linux":
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                _subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
            except (OSError, AttributeError):
                pass
    return _subreaper


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group), from /proc."""
    parent: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses; split after the last ')'.
            fields = stat[stat.rfind(b")") + 2:].split()
            parent[int(entry)] = (int(fields[1]), int(fields[2]))
    return parent


def _marked(pid: int, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return marker in fh.read().split(b"\0")
    except OSError:
        return False


def _children(pid: int) -> list[int] | None:
    """Direct children of `pid` from /proc/PID/task/*/children (None where the kernel does not offer it)."""
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                out += [int(c) for c in fh.read().split()]
        except FileNotFoundError:
            return None if tid == tids[0] and not out else out
        except OSError:
            continue
    return out


def _group(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    return int(stat[stat.rfind(b")") + 2:].split()[2])


def left_behind(leader: int, run_id: str) -> list[int]:
    """The processes of one validator run not yet gone: the leader's descendants, and every process
    re-parented to us (the subreaper) that is in the run's process group (a zombie, say) or carries the
    run's marker in its environment (one that left the group), with their descendants."""
    me, marker = os.getpid(), f"{MARKER}={run_id}".encode()
    mine = _children(me)
    if mine is None:
        return _left_behind_by_scan(leader, me, marker)
    roots = [leader] + [c for c in mine if c != leader and c not in _LEADERS
                        and (_group(c) == leader or _marked(c, marker))]
    out, todo, seen = [], list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        if pid != leader:
            out.append(pid)
        todo += _children(pid) or []
    return out


def _left_behind_by_scan(leader: int, me: int, marker: bytes) -> list[int]:
    parent = _processes()
    out = []
    for pid, (ppid, group) in parent.items():
        p, hops = ppid, 0
        while p and p not in (leader, me) and hops < 4096:
            p, hops = parent.get(p, (0, 0))[0], hops + 1
        if pid != leader and (p == leader or (p == me and (group == leader or _marked(pid, marker)))):
            out.append(pid)
    return out


def sweep(leader: int, run_id: str) -> int:
    """SIGTERM what a run left behind, SIGKILL what is still there after the grace, reap our own children
    among them. Blocking: call it in a thread. Returns how many were killed."""
    killed: set[int] = set()
    for sig, wait in ((signal.SIGTERM, GRACE_SECONDS), (signal.SIGKILL, 2.0)):
        pids = left_behind(leader, run_id)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
                killed.add(pid)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            _reap(killed)
            if not left_behind(leader, run_id):
                break
            time.sleep(0.01)
    _reap(killed)
    return len(killed)


def _reap(pids: set[int]) -> None:
    """Collect the exit status of those of `pids` that were re-parented to us (else they stay zombies)."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


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
    """Run a command without a shell (argv) or with one (shell, explicit). Raises FileNotFoundError.

    When the command exits, times out or is cancelled, every process it started is killed, even one that
    left its process group (see `become_subreaper` and `sweep`)."""
    become_subreaper()
    run_id = uuid.uuid4().hex
    full_env = {**os.environ, **(env or {}), MARKER: run_id}
    kwargs = dict(stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                  stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=cwd, env=full_env,
                  start_new_session=True)
    if shell is not None:
        proc = await asyncio.create_subprocess_shell(shell, **kwargs)
    else:
        proc = await asyncio.create_subprocess_exec(*argv, **kwargs)
    tail = _Tail(TAIL_BYTES)
    _LEADERS.add(proc.pid)

    async def pump() -> None:
        if stdin is not None:
            proc.stdin.write(stdin)
            await proc.stdin.drain()
            proc.stdin.close()
        while chunk := await proc.stdout.read(65536):
            tail.add(chunk)

    async def exited() -> None:
        # Only for a command whose output stays open after it exits (a process it left behind holds the
        # pipe): asyncio's wait() waits for the pipes too. The usual end is the output's, so this polls slowly.
        while proc.returncode is None:
            await asyncio.sleep(0.1)

    reader = asyncio.create_task(pump())
    ended = asyncio.create_task(exited())
    try:
        done, _ = await asyncio.wait({reader, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            await kill_group(proc)
            await pools.CLEANUP.run(sweep, proc.pid, run_id)
            return ProcResult(None, tail.text(), tail.dropped, timed_out=True)
        if reader in done:
            await proc.wait()  # the output ended: every pipe is closed, so wait() returns at the exit
        # Whatever the command left running goes with it; then the rest of its output is read.
        await pools.CLEANUP.run(sweep, proc.pid, run_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reader), 5)
        return ProcResult(proc.returncode, tail.text(), tail.dropped)
    finally:
        if proc.returncode is None:  # cancelled: take everything it started down with us
            await asyncio.shield(kill_group(proc))
        if not reader.done() or not ended.done():
            await asyncio.shield(pools.CLEANUP.run(sweep, proc.pid, run_id))
        reader.cancel()
        ended.cancel()
        _LEADERS.discard(proc.pid)


async def kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, SIGKILL it after the grace period, reap the leader."""
    pgid = proc.pid  # start_new_session=True: the leader's pid is the group id
    _signal_group(pgid, signal.SIGTERM)
    deadline = asyncio.get_running_loop().time() + GRACE_SECONDS
    while proc.returncode is None and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    # Children that ignored SIGTERM (or the leader's orphans) are still in the group.
    _signal_group(pgid, signal.SIGKILL)
    deadline = asyncio.get_running_loop().time() + 5
    while proc.returncode is None and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
