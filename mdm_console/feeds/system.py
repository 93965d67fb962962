"""The console host's CPU, memory and disk I/O (psutil, sampled in a thread)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass

import psutil

from mdm_console.feeds.base import FeedStatus
from mdm_console import pools


@dataclass(frozen=True)
class SystemSample:
    ts: float
    cpu_percent: float
    memory_percent: float
    disk_read_bps: float | None
    disk_write_bps: float | None


class SystemFeed:
    def __init__(self, interval: float = 2.0, keep: int = 600):
        self.status = FeedStatus("system (psutil)", interval, started=time.time())
        self.history: deque[SystemSample] = deque(maxlen=keep)
        self._io = None
        psutil.cpu_percent(interval=None)  # the first call primes the counter

    def sample(self) -> SystemSample:
        now = time.time()
        io = psutil.disk_io_counters()
        rd = wr = None
        if io is not None and self._io is not None:
            dt = now - self._io[0]
            if dt > 0:
                rd = (io.read_bytes - self._io[1].read_bytes) / dt
                wr = (io.write_bytes - self._io[1].write_bytes) / dt
        if io is not None:
            self._io = (now, io)
        return SystemSample(now, psutil.cpu_percent(interval=None), psutil.virtual_memory().percent, rd, wr)

    @property
    def latest(self) -> SystemSample | None:
        return self.history[-1] if self.history else None

    async def run(self, stop: asyncio.Event) -> None:
        # A CPU figure covers the time since the last call: the first one, just after the priming call, would
        # cover milliseconds (a "0 %" that nothing measured). The first sample waits one full interval.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), self.status.interval)
        while not stop.is_set():
            s = await pools.FEEDS.run(self.sample)
            self.history.append(s)
            self.status.good += 1
            self.status.got_data(s.ts)
            try:
                await asyncio.wait_for(stop.wait(), self.status.interval)
            except TimeoutError:
                pass
