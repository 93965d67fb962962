"""`mdm-console acknowledge ALERT|COMPONENT --reason TEXT`: a person records that they have seen an alert."""

from __future__ import annotations

import argparse
import json

from mdm_console.cli.common import EXIT_FAILED, EXIT_OK, CliExit, load, operations, run_async


def add_parser(sub, parents) -> None:
    p = sub.add_parser("acknowledge", parents=parents, help="acknowledge an alert (or every alert of a component)",
                       description="Record, under your name and with a reason, that you have seen an alert. An "
                       "automatic rollback's alert (auto_rollback:<component>) is cleared by it (the component stays "
                       "held until a person retries it); any other alert stays active until its condition ends, "
                       "marked as acknowledged. Give an alert id (see `status`) or a component: every active alert "
                       "of that component.")
    p.add_argument("target", metavar="ALERT|COMPONENT")
    p.add_argument("--reason", required=True, help="why, in words (recorded)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mdm_console.api.models import AcknowledgeRequest, StatusRequest

    if not args.reason.strip():
        raise CliExit(EXIT_FAILED, "--reason must say why")
    loaded = load(args)

    async def go():
        async with operations(args, loaded, writes=True) as call:
            status = await call("status", StatusRequest())
            alerts = {a["alert"]: a for a in status.status["alerts"]}
            if args.target in alerts:
                chosen = [args.target]
            else:
                chosen = [aid for aid, a in alerts.items() if a.get("component") == args.target
                          or aid.endswith(f":{args.target}")]
            if not chosen:
                raise CliExit(EXIT_FAILED, f"no active alert is '{args.target}' or belongs to it (active: "
                              + (", ".join(sorted(alerts)) or "none") + ")")
            return [await call("acknowledge", AcknowledgeRequest(alert=a, note=args.reason)) for a in chosen]

    done = run_async(go)
    if args.json:
        print(json.dumps([d.model_dump() for d in done], indent=2))
    else:
        for d in done:
            print(f"acknowledged {d.alert} (seq {d.seq})")
    return EXIT_OK
