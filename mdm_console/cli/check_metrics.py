"""`mdm-console check-metrics [FILE|URL] [--lines N] [--json]`: what the console would make of a metrics sample."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mdm_console.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliExit, load


def add_parser(sub, parents) -> None:
    p = sub.add_parser("check-metrics", parents=parents, help="say what the console makes of a metrics sample",
                       description="Read a sample of an application's metrics (a JSONL file, or a Prometheus "
                       "/metrics URL) and say, line by line, what the console would make of it: which component "
                       "and path (new, old, or variant unknown), or why it is refused. Without FILE|URL, the "
                       "plan's own metrics source (PromQL: each of the plan's queries is asked, per component and "
                       "path, and what came back is said). Exit 0 when every line is usable with a variant, 1 otherwise.")
    p.add_argument("source", nargs="?", metavar="FILE|URL", help="a JSONL file or an http(s) Prometheus URL")
    p.add_argument("--lines", type=int, default=100, metavar="N", help="JSONL lines to read from the start (100)")
    p.add_argument("--prefix", default=None, help="Prometheus metric prefix (default: the plan's, else mdm)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def _plan_for(args: argparse.Namespace):
    """The plan whose components names are checked: --plan, ./mdm-plan.toml, or (no source given) the demo."""
    from mdm_console.plan.find import find_plan

    if args.source and find_plan(getattr(args, "plan", None))[1]:
        return None  # a file checked on its own: any component name is taken
    return load(args)


def run(args: argparse.Namespace) -> int:
    from mdm_console.feeds.check import check_jsonl, check_prometheus

    if args.lines <= 0:
        raise CliExit(EXIT_USAGE, "--lines must be positive")
    loaded = _plan_for(args)
    plan = loaded.plan if loaded else None
    components = frozenset(c.id for c in plan.components) if plan else None
    prefix = args.prefix or (plan.metrics.prefix if plan else "mdm")
    source = args.source
    if source is None:
        m = plan.metrics
        if m.source == "jsonl":
            source = str(loaded.resolve(m.path))
        elif m.source == "prometheus":
            source = m.url
        elif m.source == "promql":
            from mdm_console.feeds.check import check_promql
            from mdm_console.feeds.promql import PromQLFeed

            report = check_promql(PromQLFeed(m.url, m.queries, lambda s: None, m.interval_seconds))
            return _print(report, args)
        else:
            raise CliExit(EXIT_USAGE, f"the plan's metrics source is '{m.source}': give a FILE or URL to check")
    if source.startswith(("http://", "https://")):
        from mdm_console.feeds.http import FetchError, get
        from mdm_console.redact import mask_url

        try:
            text = get(source, 10.0)
        except FetchError as exc:
            raise CliExit(EXIT_FAILED, f"{mask_url(source)}: {exc}") from None
        report = check_prometheus(mask_url(source), text, prefix, components)
    else:
        try:
            with open(Path(source).expanduser(), "rb") as fh:
                lines = [line.rstrip(b"\r\n") for _, line in zip(range(args.lines), fh, strict=False)]
        except OSError as exc:
            raise CliExit(EXIT_USAGE, f"cannot read {source}: {exc.strerror or exc}") from None
        report = check_jsonl(source, lines, components)
    return _print(report, args)


def _print(report, args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        mark = {"ok": "ok  ", "no-variant": "WARN", "bad": "BAD ", "note": "note"}
        for v in report.verdicts:
            print(f"{mark[v.status]} {v.where}: {v.text}")
        print()
        print("\n".join(report.summary()))
    return EXIT_OK if report.ok else EXIT_FAILED
