"""Restoring the stored buckets after a long session: what every console start and every command does first.

A session of --components components with traffic on both paths for --hours keeps one stored bucket per
component, path and 5 s (576 000 rows for 400 components and an hour). The console restores them and folds
those the window left (`Windows.restore` with the time: straight into the folded columns); the baseline is the
same rows made into Bucket objects first and folded by `compact` after, as the console did before, in the same
run. Each way runs in its own process (so its memory is its own), --runs times in turns; the rows are made
before the clock starts, as DuckDB hands them over.

Usage: python benchmarks/restore.py [--components 400] [--hours 1.0] [--runs 3] [--json]
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time

from _common import ROOT, emit, parse_args

WINDOW_S = 300


def one(way: str, components: int, hours: float) -> dict:
    from mdm_console.feeds.windows import Windows

    names = [f"svc{i:04d}" for i in range(components)]
    buckets = int(hours * 3600 / 5)
    t0 = 1_800_000_000
    rows = [(t0 + 5 * k, c, v, 40 + k % 7, 39 + k % 7, 1, None)
            for k in range(buckets) for c in names for v in ("new", "old")]
    now = t0 + 5 * buckets + 1
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    w = Windows(names, WINDOW_S)
    start = time.perf_counter()
    if way == "folded":
        w.restore(rows, now)
    else:
        w.restore(rows)
    w.compact(now)
    took = time.perf_counter() - start
    return {"seconds": took, "rows": len(rows), "kept": len(w.buckets),
            "peak_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))))
        return
    args = parse_args(components=400, hours=1.0, runs=3)
    got: dict[str, list[dict]] = {"folded": [], "buckets": []}
    for _ in range(args.runs):
        for way in got:
            out = subprocess.run([sys.executable, __file__, "--one", way, str(args.components), str(args.hours)],
                                 capture_output=True, text=True, check=True, cwd=ROOT).stdout
            got[way].append(json.loads(out))
    ours, base = got["folded"], got["buckets"]
    rows = ours[0]["rows"]
    t, tb = statistics.median(r["seconds"] for r in ours), statistics.median(r["seconds"] for r in base)
    m, mb = statistics.median(r["peak_mib"] for r in ours), statistics.median(r["peak_mib"] for r in base)
    how = (f"{rows} stored buckets ({args.components} components, both paths, {args.hours:g} h), restored and "
           f"folded for a {WINDOW_S} s window ({ours[0]['kept']} kept as buckets); median of {args.runs} runs, "
           f"each in its own process; baseline = every row made a Bucket first, then compact(), same run")
    emit([{"figure": "restore after a long session", "goal": "", "value": round(t, 3), "unit": "s",
           "baseline": round(tb, 3), "ratio": round(t / tb, 2), "how": how},
          {"figure": "restore after a long session, memory", "goal": "", "value": round(m), "unit": "MiB peak",
           "baseline": round(mb), "ratio": round(m / mb, 2) if mb else None,
           "how": "growth of the process's peak RSS over the restore (the rows themselves made before); same runs"}],
         args.json)


if __name__ == "__main__":
    main()
