"""Bounded pools of daemon threads, one per kind of blocking work.

Feeds (file reads, scrapes, psutil), validators (HTTP, SQL, files) and the watch (drift, plan file, db
identity) each have their own threads, so a stuck scrape or a hanging validator can delay only its own
kind: the drift watch and the store never wait behind them (the default executor is shared by
everything). The threads are daemon threads: quitting never waits for one that is stuck in a read, and
what it was doing is abandoned with the process.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class DaemonPool:
    def __init__(self, name: str, workers: int):
        self.name = name
        self.workers = workers
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, fn: Callable[..., T], *args: Any) -> Future:
        fut: Future = Future()
        self._jobs.put((fut, fn, args))
        with self._lock:
            if self._idle == 0 and len(self._threads) < self.workers:
                t = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads) + 1}", daemon=True)
                self._threads.append(t)
                t.start()
        return fut

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            fut, fn, args = self._jobs.get()
            with self._lock:
                self._idle -= 1
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                fut.set_exception(exc)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`await pool.run(fn, *args)`: like asyncio.to_thread, on this pool's threads."""
        return await asyncio.wrap_future(self.submit(fn, *args))


FEEDS = DaemonPool("feeds", 4)  # file reads, scrapes, PromQL queries, psutil
VALIDATORS = DaemonPool("validators", 8)  # the checks' own I/O (HTTP, SQL, files), which may hang
CLEANUP = DaemonPool("cleanup", 2)  # short bounded work after a check: masking results, sweeping processes
WATCH = DaemonPool("watch", 2)  # the drift watch, the plan file, the db's identity
