"""`mdm-console` with no subcommand: open the console (Textual is imported only here)."""

from __future__ import annotations

import argparse
import sys

from mdm_console.cli.common import EXIT_USAGE, CliExit, load, open_engine, run_async


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--theme", metavar="T", help="mdm-dark (default), mdm-light, mdm-high-contrast")
    parser.add_argument("--metrics-port", type=int, metavar="N",
                        help="serve the console's own metrics (Prometheus text) on 127.0.0.1:N")


def run(args: argparse.Namespace) -> int:
    try:
        loaded = load(args)
    except CliExit as exc:
        if exc.code == EXIT_USAGE and sys.stdin.isatty() and sys.stdout.isatty():
            from mdm_console.ui.plan_error import PlanErrorApp

            PlanErrorApp(exc.message).run()
        raise

    async def go() -> int:
        from mdm_console.engine.live import LiveMonitor

        engine = await open_engine(args, loaded, record_start="console")
        workload = exporter = None
        monitor = LiveMonitor(engine)
        try:
            if loaded.is_demo:
                from mdm_console.workload import child

                workload = child.start(loaded)
            await monitor.start()
            if args.metrics_port:
                from mdm_console.engine.exporter import Exporter

                exporter = Exporter(engine, monitor, args.metrics_port)
                monitor.exporter = exporter
            from mdm_console.ui.app import ConsoleApp

            app = ConsoleApp(engine, monitor=monitor, theme=args.theme)
            await app.run_async()
            return app.return_code or 0
        finally:
            await monitor.stop()
            if exporter:
                exporter.close()
            if workload is not None:
                from mdm_console.workload import child

                child.stop(workload)
            await engine.close()

    return run_async(go)
