"""`python -m mdm_console.validators.reaper CMD ARG...`: run a validator's command so nothing it starts outlives it.

This process makes itself a child subreaper (Linux prctl PR_SET_CHILD_SUBREAPER), so every process the
command starts, even one that calls setsid or double-forks to leave the process group, is re-parented
here rather than to init. When the command exits, or this process is told to stop (SIGTERM, SIGINT,
SIGHUP: the validator timed out or was cancelled), every descendant still alive gets SIGTERM, then
SIGKILL after a short grace, and is reaped. The exit status is the command's (127: it could not be run).

Standard library only, and little of it: it starts once per validator run.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
GRACE_SECONDS = 0.3


def set_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def descendants(root: int) -> list[int]:
    """Every process whose chain of parents reaches `root` (from /proc)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
        fields = stat[stat.rfind(b")") + 2:].split()
        parent[int(entry)] = int(fields[1])
    out = []
    for pid in parent:
        p, seen = parent.get(pid), 0
        while p and p != root and seen < 4096:
            p, seen = parent.get(p), seen + 1
        if p == root and pid != root:
            out.append(pid)
    return out


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_all() -> None:
    """SIGTERM every descendant, SIGKILL what is left after the grace, reap them all."""
    me = os.getpid()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = descendants(me)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + (GRACE_SECONDS if sig == signal.SIGTERM else 2.0)
        while time.monotonic() < deadline:
            reap()
            if not descendants(me):
                break
            time.sleep(0.01)
    reap()


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m mdm_console.validators.reaper CMD [ARG...]", file=sys.stderr)
        return 2
    set_subreaper()
    stopping = []

    class Stop(Exception):
        pass

    def stop(signum, _frame) -> None:
        # Raised, not just noted: a blocking waitpid is retried after a handler that returns (PEP 475).
        stopping.append(signum)
        raise Stop

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        child = os.fork()
    except OSError as exc:
        print(f"cannot start {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 127
    if child == 0:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            os.write(2, f"cannot run {argv[0]}: {exc.strerror}\n".encode())
            os._exit(127)
    code = None
    try:
        while code is None and not stopping:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if pid == child:
                code = os.waitstatus_to_exitcode(status)
    except Stop:
        pass
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # the cleanup below is not interrupted by a second signal
    kill_all()
    if code is None:
        return 128 + (stopping[0] if stopping else signal.SIGTERM)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
