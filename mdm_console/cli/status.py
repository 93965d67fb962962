"""`mdm-console status [--json]`: stages, gates, phase, checklist, sign-offs."""

from __future__ import annotations

import argparse
import json
from collections import Counter

from mdm_console.cli.common import EXIT_OK, load, open_engine, run_async


def add_parser(sub, parents) -> None:
    p = sub.add_parser("status", parents=parents, help="stages, phase, checklist progress and sign-offs",
                       description="Print the session's current state (read-only).")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def snapshot(engine) -> dict:
    plan, state = engine.plan, engine.state
    statuses = Counter(i.status for i in state.checklist.values())
    critical = [i.id for i in plan.checklist if i.critical]
    return {
        "plan": {"name": plan.cutover.name, "path": str(engine.loaded.path), "sha256": engine.loaded.sha256,
                 "demo": engine.loaded.is_demo},
        "session_db": str(engine.store.path),
        "phase": engine.phase,
        "head": {"seq": state.head_seq, "hash": state.head_hash},
        "components": [
            {"id": c.id, "title": c.title, "flag_key": c.flag_key, "stage": state.components[c.id].stage,
             "percent": state.components[c.id].percent, "stage_since": state.components[c.id].stage_since,
             "auto_advance": state.components[c.id].auto_advance}
            for c in plan.components
        ],
        "checklist": {
            "items": len(state.checklist),
            "by_status": dict(statuses),
            "critical_completed": sum(state.checklist[i].status == "completed" for i in critical),
            "critical": len(critical),
        },
        "signoffs": [
            {"role": r.role, "signed": r.role in state.signoffs,
             **({"name": state.signoffs[r.role].name, "ts": state.signoffs[r.role].ts}
                if r.role in state.signoffs else {})}
            for r in plan.signoffs
        ],
        "notes": engine.report.notes,
    }


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
                     f"{'on' if c['auto_advance'] else 'off'}")
    ck = s["checklist"]
    done = ck["by_status"].get("completed", 0)
    failed = ck["by_status"].get("failed", 0)
    lines += ["", f"checklist: {done}/{ck['items']} completed, {failed} failed, "
                  f"critical {ck['critical_completed']}/{ck['critical']}"]
    for so in s["signoffs"]:
        mark = f"signed by {so['name']} at {so['ts'][:19]}" if so["signed"] else "not signed"
        lines.append(f"  sign-off {so['role']}: {mark}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    loaded = load(args)

    async def go() -> dict:
        engine = await open_engine(args, loaded, read_only=True)
        try:
            return snapshot(engine)
        finally:
            await engine.close()

    s = run_async(go)
    print(json.dumps(s, indent=2) if args.json else render(s))
    return EXIT_OK
