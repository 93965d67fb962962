"""`mdm-console advance COMPONENT [--override REASON] [--dry-run]`."""

from __future__ import annotations

import argparse

from mdm_console.cli.common import EXIT_FAILED, EXIT_OK, CliExit, load, run_async, run_op


def add_parser(sub, parents) -> None:
    p = sub.add_parser("advance", parents=parents, help="advance a component to its next stage",
                       description="Advance COMPONENT one stage if every gate holds. A failing gate blocks "
                       "(exit 1, naming each gate and its value) unless --override gives a reason, which is recorded.")
    p.add_argument("component", metavar="COMPONENT")
    p.add_argument("--override", metavar="REASON", help="advance despite failing gates, for this reason")
    p.add_argument("--reason", default="", help="why (recorded with the stage change)")
    p.add_argument("--dry-run", action="store_true", help="show the gates and the flag file change; change nothing")
    p.add_argument("--adopt-flag-file", metavar="REASON",
                   help="the flag file exists but this session did not write it: take it over (its sha256 is "
                   "recorded and its content kept in a rollback point) before advancing")
    p.add_argument("--expect-stage", metavar="STAGE",
                   help="compare-and-set: act only if COMPONENT is still at STAGE (refused, naming who moved it "
                   "and when, otherwise)")
    p.add_argument("--json", action="store_true", help="one JSON document: the answer (or the error)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mdm_console.api.models import AdvanceRequest

    loaded = load(args)
    r = run_async(lambda: run_op(args, loaded, "advance", AdvanceRequest(
        component=args.component, override=args.override, reason=args.reason, dry_run=args.dry_run,
        adopt_flag_file=args.adopt_flag_file, expect_stage=args.expect_stage)))
    if args.json:
        print(r.model_dump_json(indent=2))
        return EXIT_FAILED if r.blocked else EXIT_OK
    if r.adopted:
        print(f"adopted {loaded.flag_file} (sha256 {r.adopted[:12]}…)")
    print(f"{r.component}: {r.from_stage} -> {r.to_stage} ({r.to_percent:g} %)")
    for g in r.gates:
        print(f"  {g['line']}")
    if r.blocked:
        raise CliExit(EXIT_FAILED, f"advance blocked by {len(r.failing)} gate(s): "
                      + "; ".join(f"{g['name']} {g['reason']}" for g in r.failing)
                      + " (use --override REASON to advance anyway)")
    if r.dry_run:
        print("dry run: nothing changed" + (f"; would override: {r.override}" if r.override else ""))
        print(r.flag_diff, end="")
    else:
        print(f"done at seq {r.seq}" + (f", gates overridden: {r.override}" if r.override else ""))
    return EXIT_OK
