"""Checklist commands: `checklist`, `complete`, `fail`, `reopen`, `note`, `signoff`."""

from __future__ import annotations

import argparse
import json
from types import SimpleNamespace

from mdm_console.cli.common import EXIT_OK, load, run_async, run_op

MARK = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]", "failed": "[!]", "blocked": "[#]"}


def add_parser(sub, parents) -> None:
    p = sub.add_parser("checklist", parents=parents, help="checklist items with status and why blocked",
                       description="The checklist by section, each item with its status, what it waits on, and "
                       "the sign-offs (flagging any that signed an earlier state).")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=show)

    p = sub.add_parser("complete", parents=parents, help="complete a checklist item",
                       description="Complete ITEM. Refused (exit 1) while a dependency is not completed or a "
                       "required validator has no passed result in this session.")
    p.add_argument("item", metavar="ITEM")
    p.add_argument("--json", action="store_true", help="one JSON document: the answer (or the error)")
    p.set_defaults(run=lambda a: change(a, "complete"))

    p = sub.add_parser("fail", parents=parents, help="mark a checklist item failed",
                       description="Mark ITEM failed; items that depend on it show as blocked.")
    p.add_argument("item", metavar="ITEM")
    p.add_argument("--reason", required=True)
    p.add_argument("--json", action="store_true", help="one JSON document: the answer (or the error)")
    p.set_defaults(run=lambda a: change(a, "fail"))

    p = sub.add_parser("reopen", parents=parents, help="reopen a completed or failed item",
                       description="Set a completed or failed ITEM back to pending (recorded with the reason).")
    p.add_argument("item", metavar="ITEM")
    p.add_argument("--reason", required=True)
    p.add_argument("--json", action="store_true", help="one JSON document: the answer (or the error)")
    p.set_defaults(run=lambda a: change(a, "reopen"))

    p = sub.add_parser("note", parents=parents, help="add a note to a checklist item",
                       description="Add a note (who and when are recorded) to ITEM.")
    p.add_argument("item", metavar="ITEM")
    p.add_argument("text", metavar="TEXT")
    p.add_argument("--json", action="store_true", help="one JSON document: the answer (or the error)")
    p.set_defaults(run=lambda a: change(a, "note"))

    p = sub.add_parser("signoff", parents=parents, help="sign off a role",
                       description="Sign ROLE with your typed name; records OS user, host, UTC time and the "
                       "sha256 of the checklist state. Refused (exit 1) with the unmet prerequisites.")
    p.add_argument("--role", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--comment", default="")
    p.add_argument("--json", action="store_true", help="one JSON document: the answer (or the error)")
    p.set_defaults(run=signoff)


def show(args: argparse.Namespace) -> int:
    from mdm_console.api.models import ChecklistRequest

    loaded = load(args)
    r = run_async(lambda: run_op(args, loaded, "checklist", ChecklistRequest()))
    if args.json:
        print(json.dumps({"state_hash": r.state_hash, "items": r.items, "signoffs": r.signoffs}, indent=2))
        return EXIT_OK
    items, signoffs, state_hash = [SimpleNamespace(**i) for i in r.items], [SimpleNamespace(**x) for x in r.signoffs], \
        r.state_hash
    section = None
    for i in items:
        if i.section != section:
            section = i.section
            print(f"\n{section}")
        why = f"  ({'; '.join(i.why_not)})" if i.why_not and i.status != "completed" else ""
        print(f"  {MARK[i.status]} {'!' if i.critical else ' '} {i.id:<24} {i.title}{why}")
        if i.status == "failed" and i.reason:
            print(f"        failed: {i.reason}")
        for n in i.notes:
            print(f"        note by {n['by']} at {n['ts'][:19]}: {n['text']}")
    print(f"\nchecklist state sha256 {state_hash}")
    for s in signoffs:
        if not s.signed:
            print(f"  {s.role}: not signed" + (f" (unmet: {'; '.join(s.unmet)})" if s.unmet else " (ready)"))
        elif s.current:
            print(f"  {s.role}: signed by {s.name} at {s.ts[:19]} (current state)")
        else:
            print(f"  {s.role}: signed by {s.name} at {s.ts[:19]} - SIGNED AN EARLIER STATE; changed since: "
                  + ", ".join(s.changed_since))
    return EXIT_OK


def change(args: argparse.Namespace, what: str) -> int:
    from mdm_console.api.models import ItemRequest

    loaded = load(args)
    text = args.text if what == "note" else getattr(args, "reason", "")
    view = run_async(lambda: run_op(args, loaded, "item", ItemRequest(action=what, item=args.item, text=text)))
    if args.json:
        print(view.model_dump_json(indent=2))
        return EXIT_OK
    relied = f" (relied on validator results {', '.join(f'{k}@seq {v}' for k, v in view.relied_on.items())})" \
        if what == "complete" and view.relied_on else ""
    print(f"{view.id}: {view.status}{relied}" if what != "note" else f"{view.id}: note added")
    return EXIT_OK


def signoff(args: argparse.Namespace) -> int:
    from mdm_console.api.models import SignoffRequest

    loaded = load(args)
    view = run_async(lambda: run_op(args, loaded, "signoff", SignoffRequest(role=args.role, name=args.name,
                                                                               comment=args.comment)))
    if args.json:
        print(view.model_dump_json(indent=2))
        return EXIT_OK
    print(f"{view.role}: signed by {view.name} (OS user {view.os_user}) at {view.ts[:19]} UTC, checklist state "
          f"sha256 {view.state_hash}" + (" - REHEARSAL: this OS user signed another role too" if view.rehearsal
                                         else ""))
    return EXIT_OK
