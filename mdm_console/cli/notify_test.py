"""`mdm-console notify-test [--to NAME] [--json]`: send a test message to the plan's [[notify]] targets."""

from __future__ import annotations

import argparse
import json
import time

from mdm_console.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliExit, load


def add_parser(sub, parents) -> None:
    p = sub.add_parser("notify-test", parents=parents, help="send a test message to the plan's notify targets",
                       description="Send one test message to each [[notify]] target of the plan (or the one named "
                       "with --to) through Apprise, and print what each answered. Nothing is recorded in the "
                       "session log. Exit 1 when a target did not accept it.")
    p.add_argument("--to", metavar="NAME", help="only this target")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import os
    import socket
    from datetime import UTC, datetime

    from mdm_console.notify.deliver import Target
    from mdm_console.notify.messages import Message

    loaded = load(args)
    specs = [t for t in loaded.plan.notify if args.to in (None, t.name)]
    if not specs:
        known = ", ".join(t.name for t in loaded.plan.notify) or "none"
        raise CliExit(EXIT_USAGE, f"no notify target '{args.to}' (the plan has: {known})" if args.to
                      else "the plan has no [[notify]] targets")
    results = []
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    for spec in specs:
        url = spec.url if spec.url is not None else os.environ.get(spec.url_env or "")
        if not url:
            results.append({"target": spec.name, "ok": False, "latency_ms": 0.0,
                            "answer": f"the environment variable {spec.url_env} is not set"})
            continue
        target = Target(spec.name, url, timeout=spec.timeout_seconds, retries=0, base_dir=loaded.path.parent)
        message = Message("test", "test", f"mdm-console test message: {loaded.plan.cutover.name}",
                          f"cutover: {loaded.plan.cutover.name}\ntarget: {spec.name}\nfrom: {socket.gethostname()}\n"
                          f"when: {now}\nThis is a test; nothing happened to the rollout.", "info", 0)
        t0 = time.perf_counter()
        ok, error = target.send(message)
        results.append({"target": spec.name, "ok": ok, "latency_ms": round((time.perf_counter() - t0) * 1000, 1),
                        "answer": "accepted" if ok else error})
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(f"{r['target']}: {'ok' if r['ok'] else 'FAILED'} in {r['latency_ms']:.0f} ms - {r['answer']}")
    return EXIT_OK if all(r["ok"] for r in results) else EXIT_FAILED
