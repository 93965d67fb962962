"""`mdm-console` with no subcommand: open the console (Textual is imported only here).

In a terminal the console paints first and opens the session behind its first frame: the plan, the
session db, the flag file check, the live monitor and the demo workload start in the app's `opener`
(their imports and blocking work run off the event loop). Without a terminal the plan is loaded before
anything else, so a plan error is the usual one line and exit 2.
"""

from __future__ import annotations

import argparse
import sys

from mdm_console.cli.common import load, run_async
from mdm_console.cli.owner import Owner


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--theme", metavar="T", help="mdm-dark (default), mdm-light, mdm-high-contrast")
    parser.add_argument("--metrics-port", type=int, metavar="N",
                        help="serve the console's own metrics (Prometheus text) on 127.0.0.1:N")


def run(args: argparse.Namespace) -> int:
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    # Headless: the plan and the session open before any screen, so a plan error is one line and exit 2
    # and a held db is exit 3, as for every other command.
    loaded = None if interactive else load(args)

    async def go() -> int:
        from mdm_console.ui.app import ConsoleApp

        parts = Owner()
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
