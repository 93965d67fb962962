"""`mdm-console validate [--phase P] [--only ID...] [--json | --junit FILE]`."""

from __future__ import annotations

import argparse
import json

from mdm_console.cli.common import EXIT_FAILED, EXIT_OK, load, run_async, run_op


def add_parser(sub, parents) -> None:
    p = sub.add_parser("validate", parents=parents, help="run the validators of a phase",
                       description="Run the plan's validators (in parallel, batches in order of risk) and record "
                       "each result. Exit 1 if a critical check does not pass.")
    p.add_argument("--phase", default="preflight", help="preflight (default), post, rollback, ...")
    p.add_argument("--only", nargs="+", metavar="ID", help="run just these validators")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per result")
    out.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML")
    p.add_argument("--jobs", type=int, default=None, help="how many validators run at once")
    p.set_defaults(run=run)


SYMBOL = {"passed": "ok  ", "failed": "FAIL", "error": "ERR ", "timeout": "TIME", "cancelled": "CANC",
          "skipped": "SKIP"}


def line(r: dict) -> str:
    dur = "" if r["duration_ms"] is None else f"{r['duration_ms']:>8.1f} ms"
    crit = "!" if r["critical"] else " "
    return f"{SYMBOL[r['status']]} {crit} {r['id']:<28}{dur:>12}  {r['detail']}"


def json_line(r: dict) -> str:
    return json.dumps({k: r[k] for k in ("id", "kind", "status", "duration_ms", "detail", "measured", "critical",
                                         "batch", "phase")})


def run(args: argparse.Namespace) -> int:
    from mdm_console.api.models import ValidateRequest

    loaded = load(args)

    def progress(r: dict) -> None:  # each result as it finishes (the order they finish in)
        print(json_line(r) if args.json else line(r), flush=True)

    summary = run_async(lambda: run_op(args, loaded, "validate", ValidateRequest(
        phase=args.phase, only=args.only, jobs=args.jobs), on_progress=progress))
    if not args.json:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.counts.items()))
        print(f"{summary.phase}: {counts} in {summary.duration_ms / 1000:.2f} s"
              + (f"; {summary.stopped}" if summary.stopped else ""))
    if args.junit:
        from mdm_console.validators.junit_out import write_junit

        write_junit(summary, loaded.plan.cutover.name, args.junit)
    if not summary.ok:
        if not args.json:
            print("critical check(s) not passed: " + ", ".join(summary.critical_failures))
        return EXIT_FAILED
    return EXIT_OK
