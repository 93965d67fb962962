"""The JSONL feed: tail a file (woken by file events, at most twice a second), surviving partial lines,
truncation and rotation.

The read offset and the file's identity (device, inode) are kept so a restart resumes
where the last run stopped, with nothing read twice.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mdm_console.feeds.base import FeedStatus
from mdm_console.feeds.parse import Tally, tally_lines
from mdm_console.feeds.wake import FileWake
from mdm_console import pools

READ_CHUNK = 1 << 20
FALLBACK_S = 5.0  # with file events, a quiet file is still looked at this often
MAX_LINE = 1 << 16


@dataclass
class Position:
    dev: int = 0
    ino: int = 0
    offset: int = 0


class JsonlFeed:
    def __init__(self, path: Path, components: set[str], sink: Callable[[Tally], None], interval: float,
                 position: Position | None = None):
        self.path = Path(path)
        self.components = frozenset(components)
        self.sink = sink
        self.status = FeedStatus(f"jsonl {self.path.name}", interval, started=time.time())
        self.position = position or Position()
        self._fh = None
        self._partial = b""
        self.reads = 0  # passes over the file so far (tests wait on it instead of sleeping)

    # ---- reading (blocking: called in a thread) -----------------------------------------------
    def rotated(self) -> Path:
        """Where a writer that rotates moves the file (`ops.jsonl` -> `ops.jsonl.1`)."""
        return self.path.with_name(self.path.name + ".1")

    def _open_current(self, resume: bool = True) -> bool:
        if resume and self._fh is None and self.position.ino and self._resume_rotated():
            return True
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - kept open across reads to follow a rotated file
        except FileNotFoundError:
            self.status.error = f"{self.path} does not exist yet"
            return False
        st = os.fstat(fh.fileno())
        if (st.st_dev, st.st_ino) != (self.position.dev, self.position.ino):
            self.position = Position(st.st_dev, st.st_ino, 0)  # a new file: from its start
            self._partial = b""
        elif st.st_size < self.position.offset:
            self.position.offset = 0  # the same file, truncated
            self._partial = b""
        fh.seek(self.position.offset)
        self._fh = fh
        self.status.error = None
        return True

    def _resume_rotated(self) -> bool:
        """A restart whose stored position is in a file that was rotated meanwhile: finish that file first (read on
        from the stored offset), then the new one from its start. Nothing lost, nothing read twice."""
        try:
            cur = os.stat(self.path)
            if (cur.st_dev, cur.st_ino) == (self.position.dev, self.position.ino):
                return False
            fh = open(self.rotated(), "rb")  # noqa: SIM115 - drained, then the current file takes over
        except OSError:
            return False
        st = os.fstat(fh.fileno())
        if (st.st_dev, st.st_ino) != (self.position.dev, self.position.ino) or st.st_size < self.position.offset:
            fh.close()
            return False
        fh.seek(self.position.offset)
        self._fh = fh
        self.status.error = None
        return True

    def read_available(self) -> list[Tally]:
        """Read what is new; follow truncation and rotation. Blocking: call it in a thread.

        Returns the good lines summed per bucket, component and path (in the order their buckets first came);
        the caller hands them to the windows on the event loop.
        """
        tallies: dict[tuple[int, str, str], Tally] = {}
        self.reads += 1
        if self._fh is None and not self._open_current():
            return []
        while True:
            self._drain(tallies)
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                return list(tallies.values())  # rotated away and not recreated yet: keep the old handle
            cur = os.fstat(self._fh.fileno())
            if (st.st_dev, st.st_ino) != (cur.st_dev, cur.st_ino):
                self._fh.close()  # the old file is drained to its end: switch to the new one
                self._fh = None
                if not self._open_current(resume=False):
                    return list(tallies.values())
                continue
            if cur.st_size < self.position.offset:
                self._fh.seek(0)
                self.position.offset = 0
                self._partial = b""
                continue
            return list(tallies.values())

    def _drain(self, tallies: dict[tuple[int, str, str], Tally]) -> None:
        good = 0
        now = time.time()
        while chunk := self._fh.read(READ_CHUNK):
            self.position.offset += len(chunk)
            data = self._partial + chunk
            lines = data.split(b"\n")
            self._partial = lines.pop()
            if len(self._partial) > MAX_LINE:
                self.status.count_bad(self._partial[:200], f"line longer than {MAX_LINE} bytes")
                self._partial = b""
            good += tally_lines([line for line in lines if line and not line.isspace()], self.components, now,
                                tallies, self.status.count_bad)
        if good:
            self.status.good += good
            self.status.got_data(now)

    def resume_offset(self) -> Position:
        """Where a restart should continue: the start of the unfinished partial line."""
        return Position(self.position.dev, self.position.ino, self.position.offset - len(self._partial))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    # ---- following (async) ----------------------------------------------------------------------
    async def read_now(self, lock: asyncio.Lock) -> None:
        """Read what was appended since the last read, off the event loop, and hand it to the sink."""
        async with lock:
            tallies = await pools.FEEDS.run(self.read_available)
        for tally in tallies:
            self.sink(tally)

    async def run(self, stop: asyncio.Event, lock: asyncio.Lock | None = None, every: float = 0.5) -> None:
        """Read what was appended until `stop`: when the file (or its rotated name) changes, at most once every
        `every` seconds (figures are bucketed by 5 s and shown once a second, so half a second costs nothing
        and a busy feed is read in batches); a quiet file is not read at all but every FALLBACK_S, and
        without file events (feeds/wake.py) every `every` seconds as before."""
        lock = lock or asyncio.Lock()
        wake = FileWake([self.path, self.rotated()])
        wake.start(stop)
        self.wake = wake
        loop = asyncio.get_running_loop()
        try:
            while True:
                started = loop.time()
                await self.read_now(lock)
                if not wake.watching:
                    if await wake.wait(stop, every):
                        return
                    continue
                rest = every - (loop.time() - started)
                if rest > 0 and await _stopped(stop, rest):
                    return
                if await wake.wait(stop, FALLBACK_S):
                    return
        finally:
            await wake.close()
            await pools.FEEDS.run(self.close)


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
        return True
    except TimeoutError:
        return False
