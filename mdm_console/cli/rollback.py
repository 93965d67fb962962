"""`mdm-console rollback --kind full|component|flags|config ... [--dry-run] --yes`."""

from __future__ import annotations

import argparse

from mdm_console.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliExit, load, run_async, run_op


def add_parser(sub, parents) -> None:
    p = sub.add_parser("rollback", parents=parents, help="roll back: full, one component, flags only or config only",
                       description="Roll back to an earlier state. full: every component to 0 %% and the config "
                       "files restored from the point (default: the session's first point); component: one "
                       "component to an earlier stage (default 0 %%); flags: the flag file only, to a point's "
                       "stages or 0 %%; config: the snapshot files only (default: the newest point). A rollback "
                       "point is taken first; the plan's `rollback` validators verify afterwards.")
    p.add_argument("--kind", required=True, choices=("full", "component", "flags", "config"))
    p.add_argument("--component", metavar="C")
    p.add_argument("--to-stage", metavar="S")
    p.add_argument("--point", metavar="ID", help="a rollback point id (see `mdm-console points`)")
    p.add_argument("--reason", default="", help="why (recorded)")
    p.add_argument("--dry-run", action="store_true", help="list every change (stages, file diffs); change nothing")
    p.add_argument("--yes", action="store_true", help="really do it (required unless --dry-run)")
    p.add_argument("--expect-stage", metavar="STAGE",
                   help="compare-and-set (with --component): act only if the component is still at STAGE")
    p.add_argument("--json", action="store_true", help="one JSON document: the answer (or the error)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.dry_run and not args.yes:
        raise CliExit(EXIT_USAGE, "rollback changes the flag file and config files: add --yes (or --dry-run)")
    if args.expect_stage and not args.component:
        raise CliExit(EXIT_USAGE, "--expect-stage needs --component C (the component whose stage you saw)")
    if args.kind == "component" and not args.component:
        raise CliExit(EXIT_USAGE, "rollback --kind component needs --component C")
    from mdm_console.api.models import RollbackRequest

    loaded = load(args)
    r = run_async(lambda: run_op(args, loaded, "rollback", RollbackRequest(
        kind=args.kind, component=args.component, to_stage=args.to_stage, point=args.point, reason=args.reason,
        dry_run=args.dry_run, expect_stages={args.component: args.expect_stage} if args.expect_stage else None)))
    if args.json:
        print(r.model_dump_json(indent=2))
        return EXIT_FAILED if r.verified is False else EXIT_OK
    if r.nothing_to_do:
        print(r.nothing_to_do)  # no point taken, nothing written, nothing recorded
        return EXIT_OK
    print("\n".join(r.lines))
    if r.dry_run:
        if r.flag_diff:
            print(r.flag_diff, end="")
        for diff in r.file_diffs:
            print(diff, end="")
        print("dry run: nothing changed")
        return EXIT_OK
    flags = f"; flag file written after {r.flags_s * 1000:.0f} ms" if r.flags_s is not None else ""
    print(f"done in {r.elapsed_s:.2f} s (target {r.target_s:g} s: {'met' if r.within_target else 'MISSED'}){flags}")
    v = r.verification
    if v is None:
        print("verification: the plan has no `rollback` validators")
    else:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(v["counts"].items()))
        print(f"verification: {counts}")
        for x in v["not_passed"]:
            print(f"  {x['status'].upper()} {x['id']}: {x['detail']}")
    return EXIT_OK if r.verified else EXIT_FAILED
