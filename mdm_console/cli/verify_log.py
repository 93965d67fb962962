"""`mdm-console verify-log`: walk the hash chain; exit 1 naming the first bad seq."""

from __future__ import annotations

import argparse

from mdm_console.cli.common import EXIT_FAILED, EXIT_OK, err, load, run_async, run_op


def add_parser(sub, parents) -> None:
    p = sub.add_parser("verify-log", parents=parents, help="re-check the session log's hash chain",
                       description="Re-compute every event's hash; print the head hash, or the first bad seq. "
                       "The chain proves nothing was changed or removed in between; that nothing was cut off at "
                       "the end needs a head hash written down elsewhere (--expect-head).")
    p.add_argument("--from-export", metavar="FILE", help="verify an export (jsonl, parquet or csv) on its own")
    p.add_argument("--allow-partial", action="store_true",
                   help="an export that starts after seq 1 (export --since) passes; without this it exits 1")
    p.add_argument("--expect-head", metavar="HASH",
                   help="the head hash written down earlier: exit 1 unless the chain holds an event with it")
    p.add_argument("--json", action="store_true", help="one JSON document: the verdict and every figure")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.from_export:
        from mdm_console.export.verify import verify_export

        return _report(verify_export(args.from_export, args.expect_head), args)
    from mdm_console.api.models import VerifyRequest

    loaded = load(args)
    from mdm_console.api import paths
    from mdm_console.cli.common import CliExit, db_path

    db = (db_path(args) or loaded.session_db).absolute()
    if not db.exists() and paths.locate(db) is None:
        raise CliExit(EXIT_FAILED, f"no session db at {db}: nothing to verify (a chain of 0 events proves nothing)")
    return _report(run_async(lambda: run_op(args, loaded, "verify", VerifyRequest(expect_head=args.expect_head))),
                   args)


def _report(result, args: argparse.Namespace) -> int:
    line = result.line if isinstance(result.line, str) else result.line()
    if args.json:
        import json

        code = _code(result, args)
        print(json.dumps({"ok": code == EXIT_OK, "line": line, "chain_ok": result.ok, "events": result.events,
                          "head_seq": result.head_seq, "head_hash": result.head_hash, "bad_seq": result.bad_seq,
                          "reason": result.reason, "checkpoint_problems": list(result.checkpoint_problems),
                          "partial_from": result.partial_from, "contains_head": result.contains_head,
                          "exit_code": code}, indent=2, ensure_ascii=False))
        return code
    if not result.ok:
        err(line)
        return EXIT_FAILED
    print(line)
    for problem in result.checkpoint_problems:
        err(f"checkpoint BAD: {problem}")
    if result.checkpoint_problems:
        return EXIT_FAILED
    if result.partial_from is not None and not args.allow_partial:
        err(f"partial export: it starts at seq {result.partial_from}, not at the start of the log "
            "(--allow-partial accepts that)")
        return EXIT_FAILED
    if args.expect_head:
        if not result.contains_head:
            err(f"the expected head hash {args.expect_head} is not in this chain: events were removed or replaced")
            return EXIT_FAILED
    return EXIT_OK


def _code(result, args: argparse.Namespace) -> int:
    """The exit code `_report` ends with, for the JSON document."""
    if not result.ok or result.checkpoint_problems:
        return EXIT_FAILED
    if result.partial_from is not None and not args.allow_partial:
        return EXIT_FAILED
    if args.expect_head and not result.contains_head:
        return EXIT_FAILED
    return EXIT_OK
