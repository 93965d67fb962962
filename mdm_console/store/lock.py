"""The session db's own lock: who may write the session, held for as long as its writer runs.

DuckDB locks the db file too, but only while a connection is open, and the store closes and reopens its
connection now and then (DuckDB keeps memory for every statement a database has run and frees it only when the
database closes: benchmarks/duckdb_heap.py). In that moment DuckDB's lock is gone. This one (`flock` on
`<db>.lock`, beside the db) is held from the store's open to its close: exclusively by the writer, shared by a
reader while it reads. A process that cannot take it is told who holds it: the lock file names the writer's PID.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import threading
from pathlib import Path

import psutil

from mdm_console.store.errors import NotOurs, StoreLocked, UnsafePath

_OURS = re.compile(rb"\A(\d{1,10}\n)?\Z")  # what a lock file of ours holds: nothing, or the writer's PID


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + ".lock")


_HELD: dict[Path, SessionLock] = {}  # this process's holds, by lock file: a process shares its own (as DuckDB does)
_HELD_LOCK = threading.Lock()


class SessionLock:
    """Take it with `acquire`; `release` once the connection is closed."""

    def __init__(self, path: Path, fd: int, exclusive: bool):
        self.path, self.exclusive = path, exclusive
        self._fd: int | None = fd
        self.holds = 1  # stores of this process holding it

    @classmethod
    def acquire(cls, db: Path, exclusive: bool) -> SessionLock | None:
        """The writer's (exclusive) or a reader's (shared) hold; StoreLocked naming the holder if another process
        has it. Only a writer creates the lock file; a reader finding none, or one it may not open, reads without
        it (None): no writer of ours has been there, and DuckDB's own lock keeps it from a db being written.
        Within one process the hold is shared, as DuckDB shares one database between a process's connections."""
        path = lock_path(db)
        with _HELD_LOCK:
            mine = _HELD.get(path)
            if mine is not None and (mine.exclusive or not exclusive):
                mine.holds += 1
                return mine
            lock = cls._take(path, db, exclusive)
            if lock is not None and mine is None:
                _HELD[path] = lock
            return lock

    @classmethod
    def _take(cls, path: Path, db: Path, exclusive: bool) -> SessionLock | None:
        try:
            if exclusive:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            else:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            if exclusive:
                raise UnsafePath(f"cannot open the session's lock file {path}: {exc.strerror or exc}") from None
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise NotOurs(path, "it is not a regular file")
            if st.st_size > 16 or not _OURS.match(os.pread(fd, 17, 0)):
                raise NotOurs(path, "it holds something other than a PID")
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _held(db, fd) from None
            if exclusive:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, exclusive)

    def release(self) -> None:
        with _HELD_LOCK:
            self.holds -= 1
            if self.holds > 0:
                return
            if _HELD.get(self.path) is self:
                del _HELD[self.path]
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            if self.exclusive:
                os.ftruncate(fd, 0)  # no PID left behind to be mistaken for a holder
        os.close(fd)  # closing the descriptor releases the flock


def _held(db: Path, fd: int) -> StoreLocked:
    """Who holds the lock: readers (a shared hold can be joined) or the writer named in the file."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        pass
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return StoreLocked(db, None, "another mdm-console process reading it")
    text = os.pread(fd, 17, 0).strip()
    pid = int(text) if text.isdigit() else None
    holder = "another mdm-console process"
    if pid:
        try:
            holder = " ".join(psutil.Process(pid).cmdline()) or holder
        except (psutil.Error, OSError):
            pass
    return StoreLocked(db, pid, holder[:120])
