"""`mdm-console` with no subcommand: open the console (Textual is imported only here).

In a terminal the console paints first and opens the session behind its first frame: the plan, the
session db, the flag file check, the live monitor and the demo workload start in the app's `opener`
(their imports and blocking work run off the event loop). Without a terminal the plan is loaded before
anything else, so a plan error is the usual one line and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import sys
from dataclasses import dataclass

from mdm_console.cli.common import load, open_engine, run_async


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--theme", metavar="T", help="mdm-dark (default), mdm-light, mdm-high-contrast")
    parser.add_argument("--metrics-port", type=int, metavar="N",
                        help="serve the console's own metrics (Prometheus text) on 127.0.0.1:N")


def tune_gc() -> None:
    """Garbage collection for a process that stays open for hours: see ui/collector.py."""
    from mdm_console.ui.collector import tune

    tune()


@dataclass
class Parts:
    """What the opener started, stopped when the console ends (whatever got started)."""

    engine: object = None
    monitor: object = None
    workload: object = None
    exporter: object = None
    workload_start: concurrent.futures.Future | None = None

    async def open(self, args: argparse.Namespace, loaded) -> tuple[object, object]:
        if loaded is None:
            loaded = await asyncio.to_thread(load, args)
        # Imported in a thread: DuckDB and the engine are most of the console's import time.
        await asyncio.to_thread(__import__, "mdm_console.engine.live")
        from mdm_console.engine.live import LiveMonitor

        self.engine = await open_engine(args, loaded, record_start="console", say=None)
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
        tune_gc()
        return self.engine, self.monitor

    async def close(self) -> None:
        """Every part is stopped, whatever the one before it raised (a full disk, a lost db): the engine
        is always closed, so its lock is released and what can be saved is saved."""
        try:
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


def run(args: argparse.Namespace) -> int:
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    # Headless: the plan and the session open before any screen, so a plan error is one line and exit 2
    # and a held db is exit 3, as for every other command.
    loaded = None if interactive else load(args)

    async def go() -> int:
        from mdm_console.ui.app import ConsoleApp

        parts = Parts()
        try:
            if interactive:
                from mdm_console.plan.find import find_plan

                path, is_demo = find_plan(getattr(args, "plan", None))
                app = ConsoleApp(opener=lambda: parts.open(args, loaded), theme=args.theme,
                                 opening="the built-in demo" if is_demo else str(path))
            else:
                engine, monitor = await parts.open(args, loaded)
                app = ConsoleApp(engine, monitor=monitor, theme=args.theme)
            await app.run_async()
            return app.return_code or 0
        finally:
            await parts.close()

    return run_async(go)
