"""`mdm-console reconcile [--finish | --revert] --yes`: close intents a crash left open."""

from __future__ import annotations

import argparse

from mdm_console.cli.common import EXIT_FAILED, EXIT_OK, load, run_async, run_op


def add_parser(sub, parents) -> None:
    p = sub.add_parser("reconcile", parents=parents, help="finish or revert a change a crash left half-done",
                       description="List intents without their done event and what the files on disk hold "
                       "(compared by sha256). With --yes: finish (make the change and record it) or revert "
                       "(restore the files from the point taken before it). Without a choice, --yes takes the "
                       "suggested one: finish when the disk already has the change or the change lowers "
                       "traffic (a rollback, a step back: the safe direction), else revert.")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--finish", action="store_true")
    g.add_argument("--revert", action="store_true")
    p.add_argument("--yes", action="store_true", help="carry it out")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mdm_console.api.models import ReconcileRequest

    loaded = load(args)
    choice = "finish" if args.finish else "revert" if args.revert else None
    r = run_async(lambda: run_op(args, loaded, "reconcile", ReconcileRequest(choice=choice, yes=args.yes)))
    if not r.intents:
        print("no open intents: nothing to reconcile")
        return EXIT_OK
    for i in r.intents:
        print(f"intent {i['intent']} ({i['action']}, seq {i['seq']}): on disk the change is {i['on_disk']}; "
              f"suggested: {i['suggested']}")
        for d in i["details"]:
            print(f"    {d}")
        if i["done"]:
            print(f"    {i['done']}ed")
    if not args.yes:
        print("run again with --yes (and --finish or --revert) to resolve")
        return EXIT_FAILED
    return EXIT_OK
