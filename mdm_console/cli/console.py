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
    parser.add_argument("--observe", action="store_true",
                        help="attach read-only to the service or console that owns the session (nothing can be "
                             "changed from this console)")


async def open_session(args: argparse.Namespace, loaded, owner: Owner):
    """Attach to the service or console that owns the session when one does (read-only with --observe); else run
    the session in this process (the engine embedded, serving the socket for others)."""
    import asyncio

    from mdm_console.api import paths
    from mdm_console.cli.common import db_path, operator_name
    from mdm_console.exits import EXIT_FAILED, CliExit

    if loaded is None:
        loaded = await asyncio.to_thread(load, args)
    db = (db_path(args) or loaded.session_db).absolute()
    observe = bool(getattr(args, "observe", False))
    if observe or paths.locate(db) is not None:
        from mdm_console.client.remote import NoService
        from mdm_console.client.session import AttachedSession

        try:
            return await AttachedSession.open(db, operator=operator_name(args), observe=observe)
        except NoService as exc:
            if exc.denied:
                raise CliExit(EXIT_FAILED, f"the session {db} is owned by another process, but {exc.reason}") from None
            if observe:
                raise CliExit(EXIT_FAILED, f"nothing to observe: no service or console owns {db} ({exc.reason}); "
                              "start one with `mdm-console serve`") from None
    import importlib

    await asyncio.to_thread(importlib.import_module, "mdm_console.client.session")  # off the event loop
    from mdm_console.client.session import EmbeddedSession

    engine, monitor = await owner.open(args, loaded)
    return EmbeddedSession(engine, monitor)


def run(args: argparse.Namespace) -> int:
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    # Headless: the plan and the session open before any screen, so a plan error is one line and exit 2
    # and a held db is exit 3, as for every other command.
    loaded = None if interactive else load(args)

    async def go() -> int:
        from mdm_console.ui.app import ConsoleApp

        parts = Owner()
        sessions = []

        async def opener():
            sessions.append(await open_session(args, loaded, parts))
            return sessions[-1]

        async def take_over():
            """The service this console followed is gone: run the session here (it must not be owned by anyone)."""
            from mdm_console.client.session import EmbeddedSession

            engine, monitor = await parts.open(args, loaded)
            sessions.append(EmbeddedSession(engine, monitor))
            return sessions[-1]

        try:
            if interactive:
                from mdm_console.plan.find import find_plan

                path, is_demo = find_plan(getattr(args, "plan", None))
                app = ConsoleApp(opener=opener, theme=args.theme, taker=take_over,
                                 opening="the built-in demo" if is_demo else str(path),
                                 figures_shown=parts.figures_shown)
            else:
                app = ConsoleApp(session=await opener(), theme=args.theme, taker=take_over,
                                 figures_shown=parts.figures_shown)
            await app.run_async()
            return app.return_code or 0
        finally:
            for s in sessions:
                await s.close()
            await parts.close()

    return run_async(go)
