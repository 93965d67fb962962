"""`mdm-console points [--take LABEL]`: list rollback points, or take one on demand."""

from __future__ import annotations

import argparse
import json

from mdm_console.cli.common import EXIT_OK, load, run_async, run_op


def add_parser(sub, parents) -> None:
    p = sub.add_parser("points", parents=parents, help="list rollback points (or take one with --take)",
                       description="Rollback points: the flag file, the plan's snapshot files (each with its "
                       "sha256) and every component's stage. One is taken before every change automatically.")
    p.add_argument("--take", metavar="LABEL", help="take a point now, with this label")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mdm_console.api.models import PointsRequest

    loaded = load(args)
    r = run_async(lambda: run_op(args, loaded, "points", PointsRequest(take=args.take)))
    if r.taken:
        print(f"took point {r.taken}")
    points = list(reversed(r.points))  # newest first
    if args.json:
        print(json.dumps(points, indent=2))
        return EXIT_OK
    if not points:
        print("no rollback points yet")
    for p in points:
        stages = ", ".join(f"{c}={s['stage']}" for c, s in p["stages"].items())
        files = ", ".join(f"{f['label']} {f['sha256'][:10] if f['sha256'] else '(missing)'}" for f in p["files"])
        print(f"{p['id']}  {p['ts'][:19]}  {p['by']:<12} {'auto  ' if p['auto'] else 'manual'}  {p['label']}")
        print(f"    stages: {stages}")
        print(f"    files: {files}")
    return EXIT_OK
