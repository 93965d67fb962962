"""`mdm-console validate [--phase P] [--only ID...] [--json | --junit FILE]`."""

from __future__ import annotations

import argparse
import json

from mdm_console.cli.common import EXIT_FAILED, EXIT_OK, load, run_async, run_op


def add_parser(sub, parents) -> None:
    p = sub.add_parser("validate", parents=parents, help="run the validators of a phase",
                       description="Run the plan's validators (in parallel, batches in order of risk) and record "
                       "each result. Exit 1 if a critical check does not pass (with --strict: if any check does not "
                       "pass).")
    p.add_argument("--phase", default="preflight", help="preflight (default), post, rollback, ...")
    p.add_argument("--only", nargs="+", metavar="ID", help="run just these validators")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON document: every result and the summary")
    out.add_argument("--jsonl", action="store_true",
                     help="JSON Lines: one line per result as it finishes, then one summary line")
    p.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML")
    p.add_argument("--strict", action="store_true", help="exit 1 if any check does not pass (not only a critical one)")
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
        if args.jsonl:
            print(json_line(r), flush=True)
        elif not args.json:
            print(line(r), flush=True)

    summary = run_async(lambda: run_op(args, loaded, "validate", ValidateRequest(
        phase=args.phase, only=args.only, jobs=args.jobs), on_progress=progress))
    not_passed = [r["id"] for r in summary.results if r["status"] != "passed"]
    failed = bool(summary.critical_failures or (args.strict and not_passed))
    doc = {"phase": summary.phase, "ok": not failed, "counts": summary.counts, "duration_ms": summary.duration_ms,
           "stopped": summary.stopped, "critical_failures": summary.critical_failures, "not_passed": not_passed,
           "strict": args.strict}
    if args.json:
        print(json.dumps({**doc, "results": [json.loads(json_line(r)) for r in summary.results]}, indent=2))
    elif args.jsonl:
        print(json.dumps({"summary": doc}))
    else:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.counts.items()))
        print(f"{summary.phase}: {counts} in {summary.duration_ms / 1000:.2f} s"
              + (f"; {summary.stopped}" if summary.stopped else ""))
    if args.junit:
        from mdm_console.validators.junit_out import write_junit

        write_junit(summary, loaded.plan.cutover.name, args.junit)
    if failed and not (args.json or args.jsonl):
        if summary.critical_failures:
            print("critical check(s) not passed: " + ", ".join(summary.critical_failures))
        if args.strict and not_passed:
            print("--strict: check(s) not passed: " + ", ".join(not_passed))
    return EXIT_FAILED if failed else EXIT_OK
