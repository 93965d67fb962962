"""`mdm-console verify-log`: walk the hash chain; exit 1 naming the first bad seq."""

from __future__ import annotations

import argparse

from mdm_console.cli.common import EXIT_FAILED, EXIT_OK, err, load, open_engine, run_async


def add_parser(sub, parents) -> None:
    p = sub.add_parser("verify-log", parents=parents, help="re-check the session log's hash chain",
                       description="Re-compute every event's hash; print the head hash, or the first bad seq.")
    p.add_argument("--from-export", metavar="FILE", help="verify an export (jsonl, parquet or csv) on its own")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.from_export:
        from mdm_console.export.data import verify_export

        try:
            result = verify_export(args.from_export)
        except (OSError, ValueError) as exc:
            err(f"cannot read {args.from_export}: {exc}")
            return EXIT_FAILED
        return _report(result)
    loaded = load(args)

    async def go():
        engine = await open_engine(args, loaded, read_only=True)
        try:
            return await engine.verify()
        finally:
            await engine.close()

    return _report(run_async(go))


def _report(result) -> int:
    if result.ok:
        print(result.line())
        return EXIT_OK
    err(result.line())
    return EXIT_FAILED
