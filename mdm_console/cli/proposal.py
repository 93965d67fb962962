"""`mdm-console proposal accept|decline COMPONENT [--reason TEXT]`: answer the rollback the policy proposed."""

from __future__ import annotations

import argparse
import json

from mdm_console.cli.common import EXIT_OK, load, run_async, run_op


def add_parser(sub, parents) -> None:
    p = sub.add_parser("proposal", parents=parents, help="accept or decline the rollback the policy proposed",
                       description="In prompt mode the auto-rollback policy proposes a component rollback and waits "
                       "for a person; the proposal stays pending (in `status`) until it is answered, or withdrawn "
                       "when its criterion stops holding or the stage moves. `accept` runs the component rollback "
                       "(linked to the proposal); `decline` needs a reason.")
    p.add_argument("answer", choices=("accept", "decline"))
    p.add_argument("component")
    p.add_argument("--reason", default="", help="why (required to decline)")
    p.add_argument("--expect-seq", type=int, default=None, metavar="SEQ",
                   help="the proposal you saw (its seq): refused if another one is pending now")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mdm_console.api.models import ProposalRequest

    loaded = load(args)
    r = run_async(lambda: run_op(args, loaded, "proposal", ProposalRequest(
        component=args.component, answer=args.answer, reason=args.reason, expect_seq=args.expect_seq)))
    if args.json:
        print(json.dumps(r.model_dump(), indent=2))
        return EXIT_OK
    print(f"proposed rollback of {r.component} (seq {r.answers}) {r.answer}ed")
    if r.rollback is not None:
        for line in r.rollback.lines:
            print(f"  {line}")
    return EXIT_OK
