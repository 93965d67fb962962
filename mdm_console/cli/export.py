"""`mdm-console export --format md|html|jsonl|csv|parquet --output PATH [--since SEQ] [--force]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from mdm_console.cli.common import EXIT_FAILED, EXIT_OK, CliExit, db_path, load, open_engine, operator_name, run_async


def add_parser(sub, parents) -> None:
    p = sub.add_parser("export", parents=parents, help="export the session log (data or report)",
                       description="Write the session's events and metric aggregates (jsonl, csv, parquet: "
                       "csv/parquet put the aggregates in <name>.metrics.<ext>) or a report of measured facts "
                       "(md, html). Never leaves a partial file; refuses to replace a file without --force.")
    p.add_argument("--format", required=True, choices=("md", "html", "jsonl", "csv", "parquet"))
    p.add_argument("--output", required=True, metavar="PATH")
    p.add_argument("--since", type=int, default=0, metavar="SEQ", help="only events after this seq")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    loaded = load(args)
    db = (db_path(args) or loaded.session_db).absolute()

    async def go():
        from mdm_console.api import paths
        from mdm_console.export.files import ExportError
        from mdm_console.export.run import export_session

        if paths.locate(db) is not None:
            r = await _through_service(args, db)
            if r is not None:
                return r
        engine = await open_engine(args, loaded, read_only=True)
        try:
            return await export_session(engine, args.format, args.output, since=args.since, force=args.force)
        except ExportError as exc:
            raise CliExit(EXIT_FAILED, f"export: {exc}") from None
        finally:
            await engine.close()

    r = run_async(go)
    extra = "".join(f" and {p}" for p in r.extra)
    print(f"wrote {r.path}{extra} ({r.events} events)")
    if not r.chain_ok:
        print("WARNING: the hash chain of this session is broken; the export says where")
    return EXIT_OK


async def _through_service(args: argparse.Namespace, db: Path):
    """The export, made by the service that owns the session; None: nobody serves it."""
    from mdm_console.api.ops import OpFailed
    from mdm_console.client.remote import NoService, ServiceClient, export_to
    from mdm_console.export.files import ExportError

    try:
        client = await ServiceClient.connect(db, operator=operator_name(args))
    except NoService as exc:
        if exc.denied:
            raise CliExit(EXIT_FAILED, f"export: {exc.reason}") from None
        return None
    async with client:
        try:
            return await export_to(client, args.format, Path(args.output), since=args.since, force=args.force)
        except OpFailed as exc:
            raise CliExit(exc.code, exc.message) from None
        except ExportError as exc:
            raise CliExit(EXIT_FAILED, f"export: {exc}") from None
