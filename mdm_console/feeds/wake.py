"""Wake when files change: watchfiles (inotify on Linux) on their directory, with a slow poll behind it.

The metric feed's tail and the flag file's drift watch used to poll twice a second whatever happened. With
file events they sleep until one of their files changes, and still look every `fallback` seconds, so a
filesystem without events (some network mounts), a directory that does not exist yet, or a watcher that
failed costs freshness, never correctness. `MDM_FILE_EVENTS=poll` turns events off (benchmarks/soak.py
measures both in one run).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

DEBOUNCE_MS = 50  # changes this close together are one wake
# How often the watcher's thread looks at its events and its stop flag (watchfiles' `step`, 50 ms by default):
# each look wakes the thread and takes the interpreter's lock, 20 times a second for each watched directory of a
# console that is otherwise asleep (benchmarks/soak.py, the quiet console's idle CPU). A change is seen within
# a quarter of a second; the feed is read at most twice a second and the screens drawn once.
STEP_MS = 250


def events_enabled() -> bool:
    return os.environ.get("MDM_FILE_EVENTS", "events") != "poll"


class FileWake:
    """`await wake.wait(stop, timeout)` returns when one of `paths` (all in one directory) changed, `stop` is set,
    or `timeout` passed. Start it with `start(stop)`; it ends with `stop`."""

    def __init__(self, paths: list[Path]):
        self.dir = Path(paths[0]).parent
        self.names = frozenset(Path(p).name for p in paths)
        self.changed = asyncio.Event()
        self.watching = False  # file events arrive (False: polling only, see `error`)
        self.error: str | None = None
        self.wakes = 0  # changes seen so far (tests wait on it instead of sleeping)
        self._task: asyncio.Task | None = None

    def start(self, stop: asyncio.Event) -> None:
        if events_enabled() and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(stop), name=f"watch {self.dir}")

    def _ours(self, _change, path: str) -> bool:
        return os.path.basename(path) in self.names

    async def _watch(self, stop: asyncio.Event) -> None:
        from watchfiles import awatch

        while not stop.is_set():
            if not self.dir.is_dir():  # not created yet: the poll covers it, look again later
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 5)
                continue
            try:
                self.watching = True
                async for _ in awatch(self.dir, watch_filter=self._ours, debounce=DEBOUNCE_MS, step=STEP_MS,
                                      stop_event=stop, recursive=False, ignore_permission_denied=True):
                    self.wakes += 1
                    self.changed.set()
            except Exception as exc:  # noqa: BLE001 - events are an optimisation: fall back to the poll
                self.error = f"{type(exc).__name__}: {exc}"
                self.watching = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 30)
            else:
                self.watching = False

    async def wait(self, stop: asyncio.Event, timeout: float) -> bool:
        """Until a change, `stop` or `timeout`; True when `stop` is set."""
        if stop.is_set():
            return True
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.changed.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        self.changed.clear()
        return stop.is_set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
