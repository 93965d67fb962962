"""The process that owns a session: the engine, the live monitor (feeds, alerts, auto-rollback), the demo
workload, the metrics endpoint and the socket API. `mdm-console serve` runs it headless; the console runs it
embedded when no service owns the session. Nothing here imports Textual."""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
from dataclasses import dataclass
from typing import Any

from mdm_console.cli.common import load, open_engine


def tune_gc() -> None:
    """Garbage collection for a process that stays open for hours: see collector.py."""
    from mdm_console.collector import tune

    tune()


@dataclass
class Owner:
    """What the opener started, stopped when the console ends (whatever got started)."""

    engine: object = None
    monitor: object = None
    workload: object = None
    exporter: object = None
    workload_start: concurrent.futures.Future | None = None

    mode: str = "console"
    log: Any = None  # structured log lines (serve); None: quiet
    server: object = None

    async def open(self, args: argparse.Namespace, loaded) -> tuple[object, object]:
        if loaded is None:
            loaded = await asyncio.to_thread(load, args)
        # Imported in a thread: DuckDB and the engine are most of the console's import time.
        await asyncio.to_thread(__import__, "mdm_console.engine.live")
        from mdm_console.engine.live import LiveMonitor

        self.engine = await open_engine(args, loaded, record_start=self.mode, say=None)
        if loaded.is_demo:
            from mdm_console.workload import child

            # Kept as a thread's future: quitting while this runs cancels our await, not the start, and
            # close() must still find the process to stop it.
            pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="workload-start")
            self.workload_start = pool.submit(child.start, loaded)
            pool.shutdown(wait=False)  # the thread ends with the start; nothing waits on the loop
            self.workload = await asyncio.wrap_future(self.workload_start)
        self.monitor = LiveMonitor(self.engine)
        await self.monitor.start()
        if args.metrics_port:
            from mdm_console.engine.exporter import Exporter

            self.exporter = Exporter(self.engine, self.monitor, args.metrics_port)
            self.monitor.exporter = self.exporter
        await self._serve()
        tune_gc()
        return self.engine, self.monitor

    async def _serve(self) -> None:
        """The socket beside the session db, so CLI commands and other consoles reach this session. A console
        that cannot serve it still runs (the reason is a start-up note); `serve` cannot, and ends."""
        from mdm_console.api.server import ApiServer

        server = ApiServer(self.engine, self.monitor, mode=self.mode, log=self.log)
        try:
            await server.start()
        except OSError as exc:
            if self.mode == "serve":
                raise
            self.engine.report.notes.append(f"the session's socket is not served ({exc}): CLI commands cannot "
                                            "reach this session while the console runs")
            return
        self.server = server

    async def close(self) -> None:
        """Every part is stopped, whatever the one before it raised (a full disk, a lost db): the engine
        is always closed, so its lock is released and what can be saved is saved."""
        try:
            if self.server is not None:
                with contextlib.suppress(Exception):
                    await self.server.stop()
            if self.monitor is not None:
                with contextlib.suppress(Exception):
                    await self.monitor.stop()
            if self.exporter is not None:
                with contextlib.suppress(Exception):
                    self.exporter.close()
            if self.workload is None and self.workload_start is not None:
                with contextlib.suppress(Exception):  # a start that failed left nothing to stop
                    self.workload = await asyncio.to_thread(self.workload_start.result)
            if self.workload is not None:
                from mdm_console.workload import child

                with contextlib.suppress(Exception):
                    child.stop(self.workload)
        finally:
            if self.engine is not None:
                await self.engine.close()


