"""`mdm-console` with no subcommand: open the console (Textual is imported only here)."""

from __future__ import annotations

import argparse

from mdm_console.cli.common import EXIT_OK, load, open_engine, run_async


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--theme", metavar="T", help="mdm-dark (default), mdm-light, mdm-high-contrast")


def run(args: argparse.Namespace) -> int:
    loaded = load(args)

    async def go() -> None:
        engine = await open_engine(args, loaded, record_start="console")
        try:
            from mdm_console.ui.app import ConsoleApp

            await ConsoleApp(engine, theme=args.theme).run_async()
        finally:
            await engine.close()

    run_async(go)
    return EXIT_OK
