"""`mdm-console demo-workload --flags F --metrics M [--rate N] [--fault C:RATE] [--latency C:MS] [--prometheus-port P]
[--per-op]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from mdm_console.cli.common import EXIT_USAGE, CliExit


def add_parser(sub, parents) -> None:
    p = sub.add_parser("demo-workload", parents=parents, help="run the demo's simulated application",
                       description="Simulate users of the migrated application: each request evaluates the "
                       "component's flag through OpenFeature + the flagd provider (file mode) and takes the new or "
                       "old path; writes JSONL metrics (and optionally Prometheus text). The console starts it "
                       "on the demo.")
    p.add_argument("--flags", required=True, type=Path, help="the flagd flag file the console writes")
    p.add_argument("--metrics", required=True, type=Path, help="the JSONL file to append to")
    p.add_argument("--rate", type=float, default=200.0, help="operations per second (default 200)")
    p.add_argument("--fault", action="append", default=[], metavar="C:RATE",
                   help="error rate on component C's new path, e.g. storage:0.5")
    p.add_argument("--latency", action="append", default=[], metavar="C:MS",
                   help="extra latency on component C's new path, e.g. storage:300")
    p.add_argument("--prometheus-port", type=int, metavar="P", help="also serve Prometheus text on 127.0.0.1:P")
    p.add_argument("--seed", type=int, help="random seed (repeatable runs)")
    p.add_argument("--per-op", action="store_true",
                   help="one JSONL line per operation at any rate (by default, above 1 000 ops/s it writes one "
                        "aggregate line per component, path and second)")
    p.add_argument("--rotate-mb", type=float, default=4.0, metavar="MB",
                   help="rotate the metrics file to <name>.1 at this size (default 4; 0: never)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mdm_console.workload.demo import Config, parse_pairs, run as run_workload

    if args.rate <= 0:
        raise CliExit(EXIT_USAGE, "--rate must be positive")
    faults = parse_pairs(args.fault, "fault")
    if any(not 0 <= v <= 1 for v in faults.values()):
        raise CliExit(EXIT_USAGE, "--fault rates are between 0 and 1")
    return run_workload(Config(args.flags, args.metrics, args.rate, faults, parse_pairs(args.latency, "latency"),
                               args.prometheus_port, seed=args.seed,
                               rotate_bytes=int(max(args.rotate_mb, 0) * (1 << 20)), per_op=args.per_op))
