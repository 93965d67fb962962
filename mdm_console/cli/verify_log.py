"""`mdm-console verify-log`: walk the hash chain; exit 1 naming the first bad seq."""

from __future__ import annotations

import argparse

from mdm_console.cli.common import EXIT_FAILED, EXIT_OK, err, load, open_engine, run_async


def add_parser(sub, parents) -> None:
    p = sub.add_parser("verify-log", parents=parents, help="re-check the session log's hash chain",
                       description="Re-compute every event's hash; print the head hash, or the first bad seq.")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    loaded = load(args)

    async def go():
        engine = await open_engine(args, loaded, read_only=True)
        try:
            return await engine.verify()
        finally:
            await engine.close()

    result = run_async(go)
    if result.ok:
        print(result.line())
        return EXIT_OK
    err(result.line())
    return EXIT_FAILED
