"""Run every benchmark script and print one table: figure, goal, measured value, how, and for timings
the baseline measured in the same run (and the ratio), since these machines are noisy.

Usage: python benchmarks/run.py [--quick] [--only NAME ...] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = {  # name -> (quick flags, full flags)
    "store": (["--quick"], []),
    "rollback": (["--quick"], []),
    "validators": ([], []),
    "ingest": (["--quick"], []),
    "export": (["--events", "200000"], []),
    "keys": (["--presses", "40"], []),
    "terminal_keys": (["--presses", "30"], []),
    "startup": (["--runs", "3"], ["--runs", "5"]),
    "lock": (["--runs", "3"], []),
    "plan_load": (["--runs", "3"], []),
    "restore": (["--components", "40", "--runs", "1"], []),
    "duckdb_heap": (["--rounds", "2", "--statements", "1000"], []),
    "redact": ([], []),
    "faults": ([], []),
    "autorollback": (["--warm", "30", "--for-seconds", "5"], []),
    "judgment": (["--canary-hours", "0.5", "--aa-canaries", "40", "--aa-minutes", "20", "--fault-runs", "2"], []),
    "notify": (["--events", "50", "--presses", "80"], []),
    "service": (["--calls", "50", "--presses", "40", "--runs", "3"], []),
    "compare": (["--rows", "200000", "--runs", "1"], []),
    "soak": (["--idle-seconds", "20", "--warmup-seconds", "60", "--soak-seconds", "180"], []),
    "scale": (["--sizes", "4,40", "--idle-seconds", "5", "--notes", "6", "--launches", "1"], []),
}


def run(name: str, quick: bool) -> tuple[list[dict], str | None, float]:
    flags = SCRIPTS[name][0 if quick else 1]
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, str(HERE / f"{name}.py"), "--json", *flags], capture_output=True, text=True)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        return [], (r.stderr.strip().splitlines() or ["failed"])[-1], took
    start = r.stdout.find("[")
    return json.loads(r.stdout[start:r.stdout.rindex("]") + 1]), None, took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes where a script has them")
    ap.add_argument("--only", nargs="+", choices=sorted(SCRIPTS))
    ap.add_argument("--markdown", action="store_true", help="print the table for docs/benchmarks.md")
    args = ap.parse_args()
    rows, failures = [], []
    for name in args.only or SCRIPTS:
        print(f"running {name}…", file=sys.stderr, flush=True)
        got, error, took = run(name, args.quick)
        if error:
            failures.append(f"{name}: {error}")
        for row in got:
            rows.append({"script": name, **row})
        print(f"  {name}: {len(got)} figure(s) in {took:.0f} s", file=sys.stderr, flush=True)
    if args.markdown:
        print("| figure | goal | measured | baseline (ratio) | how |\n|---|---|---|---|---|")
        for r in rows:
            base = f"{r['baseline']} ({r['ratio']})" if r.get("baseline") is not None else "-"
            print(f"| {r['figure']} | {r['goal'] or '-'} | {r['value']} {r['unit']} | {base} | "
                  f"`{r['script']}.py`: {r['how']} |")
    else:
        for r in rows:
            base = f"  baseline {r['baseline']} {r['unit']} (ratio {r['ratio']})" if r.get("baseline") is not None else ""
            print(f"{r['figure']:<58} {r['value']:>12} {r['unit']:<9} goal {r['goal'] or '-':<16}{base}")
    for f in failures:
        print(f"FAILED {f}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
