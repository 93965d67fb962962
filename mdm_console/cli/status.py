"""`mdm-console status [--json]`: stages, gates, phase, checklist, sign-offs."""

from __future__ import annotations

import argparse
import json

from mdm_console.cli.common import EXIT_OK, load, run_op, run_async
from mdm_console.engine.state import BLOCKED_ALERT


def add_parser(sub, parents) -> None:
    p = sub.add_parser("status", parents=parents, help="stages, phase, checklist progress and sign-offs",
                       description="Print the session's current state (read-only).")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def _held(held: dict) -> str:
    who = "automatically" if held.get("automatic", True) else f"by {held.get('by') or 'a person'}"
    return f"ROLLED BACK {who}: held until retried with a reason"


def render(s: dict) -> str:
    lines = [
        f"{s['plan']['name']}{'  [DEMO]' if s['plan']['demo'] else ''}",
        f"phase: {s['phase']}    events: {s['head']['seq']}    session db: {s['session_db']}",
        "",
        f"{'component':<16}{'stage':<24}{'percent':>8}  {'since (UTC)':<26}auto",
    ]
    for c in s["components"]:
        since = c["stage_since"] or "-"
        lines.append(f"{c['id']:<16}{c['stage']:<24}{c['percent']:>7g}%  {since[:19]:<26}"
                     f"{'on' if c['auto_advance'] else 'off'}"
                     + (f"   {_held(c['held'])}" if c["held"] else ""))
        pending = next((a for a in s["alerts"] if a["alert"] == BLOCKED_ALERT + c["id"]), None)
        if pending:
            lines.append(f"  {pending['message']}")
        if c.get("proposal"):
            p = c["proposal"]
            lines.append(f"  ROLLBACK PROPOSED (seq {p['seq']}, {p['ts'][11:19]} UTC"
                         + (f", proposed {p['repeat'] + 1} times" if p.get("repeat") else "")
                         + f"): {p['reason']}")
            lines.append(f"    answer: mdm-console proposal accept|decline {c['id']} --reason TEXT")
    ck = s["checklist"]
    done = ck["by_status"].get("completed", 0)
    failed = ck["by_status"].get("failed", 0)
    lines += ["", "gates (to leave the current stage):"]
    for cid, gates in s["gates"].items():
        held = sum(g["ok"] for g in gates)
        failing = "; ".join(f"{g['name']}: {g['reason']}" for g in gates if not g["ok"])
        lines.append(f"  {cid}: {held} of {len(gates)} hold" + (f" - {failing}" if failing else ""))
    blocked = ck["by_status"].get("blocked", 0)
    lines += ["", f"checklist: {done}/{ck['items']} completed, {failed} failed, {blocked} blocked, "
                  f"critical {ck['critical_completed']}/{ck['critical']}"]
    for so in s["signoffs"]:
        if not so["signed"]:
            mark = "not signed"
        elif so["current"]:
            mark = f"signed by {so['name']} at {so['ts'][:19]}"
        else:
            mark = f"signed by {so['name']} at {so['ts'][:19]}, an EARLIER state"
        lines.append(f"  sign-off {so['role']}: {mark}")
    for a in s["alerts"]:
        seen = a.get("acknowledged")
        lines.append(f"ALERT {a['level']} [{a['alert']}]: {a['message']}"
                     + (f" (acknowledged by {seen['by']}: {seen['note']})" if seen else ""))
    for i in s["open_intents"]:
        lines.append(f"OPEN INTENT {i}: run `mdm-console reconcile`")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from mdm_console.api.models import StatusRequest

    loaded = load(args)
    s = run_async(lambda: run_op(args, loaded, "status", StatusRequest())).status
    print(json.dumps(s, indent=2) if args.json else render(s))
    return EXIT_OK
