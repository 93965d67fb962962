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


# A console serves its socket once its first figures are painted (importing aiohttp holds the interpreter about half
# a second, even in a thread: benchmarks/startup.py, scale.py), and this long after its session opened at the latest.
SERVE_AFTER_S = 5.0


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
    serving: asyncio.Task | None = None  # the console's socket coming up behind its first figures
    figures: asyncio.Event | None = None  # set by the console once its first figures are painted

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
        if self.mode == "serve":
            await self._serve()  # a service that cannot serve its socket is no service: it ends
        else:
            # The console shows its figures first: the socket (importing aiohttp is about half a second that holds
            # the interpreter even in a thread, benchmarks/startup.py) comes up right behind them, once the first
            # frame with them is painted (`figures_shown`); a failure is a note on the banner.
            self.serving = asyncio.get_running_loop().create_task(self._serve(after=SERVE_AFTER_S))
        tune_gc()
        return self.engine, self.monitor

    def figures_shown(self) -> None:
        """The console painted its first figures: its socket may come up now."""
        self._figures().set()

    def _figures(self) -> asyncio.Event:
        if self.figures is None:
            self.figures = asyncio.Event()
        return self.figures

    async def _serve(self, after: float = 0.0) -> None:
        """The socket beside the session db, so CLI commands and other consoles reach this session. A console
        that cannot serve it still runs (the reason is a start-up note); `serve` cannot, and ends."""
        import importlib

        if after:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._figures().wait(), after)
        # Imported in a thread: aiohttp's import is half a second that would hold the console's event loop.
        await asyncio.to_thread(importlib.import_module, "mdm_console.api.server")
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
            if self.serving is not None and not self.serving.done():
                self.serving.cancel()
                with contextlib.suppress(BaseException):
                    await self.serving
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


