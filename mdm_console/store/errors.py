"""Store errors, each with a message an operator can act on."""

from __future__ import annotations

import os
import re
from pathlib import Path

import psutil


class StoreError(Exception):
    """Anything wrong with the session database."""


class StoreLocked(StoreError):
    """Another process holds the write lock (CLI exit code 3)."""

    def __init__(self, path: Path, pid: int | None, holder: str):
        self.path = path
        self.pid = pid
        self.holder = holder
        who = f"PID {pid} ({holder})" if pid else holder
        super().__init__(f"session db {path} is held by {who}; stop that process or use another --db")


class NoAccess(StoreError):
    """The session db is there but this OS user may not read it: its owner's, reached only through its owner's
    socket while that runs (CLI exit code 1)."""

    def __init__(self, path: Path, why: str):
        import pwd

        try:
            st = path.stat()
            owner = pwd.getpwuid(st.st_uid).pw_name
        except (OSError, KeyError):
            owner = "its owner"
        me = pwd.getpwuid(os.geteuid()).pw_name if _known(os.geteuid()) else f"uid {os.geteuid()}"
        super().__init__(f"the session db {path} belongs to OS user {owner} and OS user {me} may not open it "
                         f"({why}); nothing serves it now. Ask {owner} to start `mdm-console serve` (then this "
                         "command goes through its socket, as far as the plan's [access] allows)")


def _known(uid: int) -> bool:
    import pwd

    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


class NotOurs(StoreError):
    def __init__(self, path: Path, why: str):
        super().__init__(f"{path} is not an mdm-console session db: {why}; refusing to touch it")


class UnsafePath(StoreError):
    """The db's file or one of its directories could be changed by someone else (CLI exit code 2)."""

    def __init__(self, why: str):
        super().__init__(f"refusing to use the session db: {why}")


class ChainBroken(StoreError):
    def __init__(self, seq: int, reason: str):
        self.seq = seq
        self.reason = reason
        super().__init__(f"hash chain broken at seq {seq}: {reason}; the log will not be appended to")


_PID = re.compile(r"Conflicting lock is held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)")


def locked_from(path: Path, message: str) -> StoreLocked | None:
    """Turn DuckDB's lock error (which names the holder's PID) into a readable one."""
    m = _PID.search(message)
    if not m:
        if "Could not set lock" in message:
            return StoreLocked(path, None, "another process")
        return None
    pid = int(m.group("pid"))
    try:
        proc = psutil.Process(pid)
        cmd = " ".join(proc.cmdline()) or proc.name()
        holder = _short(cmd)
    except (psutil.Error, OSError):
        holder = m.group("exe")
    return StoreLocked(path, pid, holder)


def _short(cmd: str, limit: int = 120) -> str:
    return cmd if len(cmd) <= limit else cmd[: limit - 1] + "…"
