"""Session store figures (prints them; not a test).

- batched appends with the hash chain, events/s (goal >= 50 000/s); baseline: the same rows
  inserted without hashing, in the same run, so the ratio shows what the chain costs;
- single durable append (one event, one COMMIT), p50/p99 (goal p99 <= 5 ms);
- start-up of the engine on 1 000 000 events: chain verification + replay from the newest
  checkpoint (goal <= 2 s), and, for comparison, a replay without a checkpoint.

Usage: python benchmarks/store.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mdm_console.engine.core import Engine  # noqa: E402
from mdm_console.plan.demo_setup import prepare_demo  # noqa: E402
from mdm_console.plan.load import load_plan  # noqa: E402
from mdm_console.store.chain import Actor  # noqa: E402
from mdm_console.store.session import EventSpec, SessionStore  # noqa: E402

ACTOR = Actor("bench", "bench", "localhost")


def batched_rate(db: Path, total: int, batch: int) -> float:
    store = SessionStore.open(db, ACTOR)
    specs = [EventSpec("metric.note", "storage", {"i": i, "text": "x" * 40}) for i in range(batch)]
    t0 = time.perf_counter()
    futures = [store.submit(specs) for _ in range(total // batch)]
    for f in futures:
        f.result()
    rate = total / (time.perf_counter() - t0)
    store.close()
    return rate


def baseline_rate(db: Path, total: int, batch: int) -> float:
    """The same insert path without the hash chain (same run, same disk)."""
    import duckdb

    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE t (seq BIGINT PRIMARY KEY, kind VARCHAR, body VARCHAR)")
    body = json.dumps({"i": 0, "text": "x" * 40})
    t0 = time.perf_counter()
    for start in range(0, total, batch):
        seqs = list(range(start, start + batch))
        con.execute("BEGIN")
        con.execute("INSERT INTO t SELECT unnest($1), unnest($2), unnest($3)",
                    [seqs, ["metric.note"] * batch, [body] * batch])
        con.execute("COMMIT")
    rate = total / (time.perf_counter() - t0)
    con.close()
    return rate


def single_latency(db: Path, n: int) -> tuple[float, float]:
    store = SessionStore.open(db, ACTOR)
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        store.append_sync("note", None, {"i": i})
        lat.append((time.perf_counter() - t0) * 1000)
    store.close()
    lat.sort()
    return statistics.median(lat), lat[int(len(lat) * 0.99) - 1]


def startup(plan_path: Path, db: Path, events: int, with_checkpoint: bool) -> tuple[float, int, int]:
    loaded = load_plan(plan_path)
    store = SessionStore.open(db, ACTOR)
    specs = [EventSpec("checklist.note", None, {"item": "health.cpu", "text": "x" * 30}) for _ in range(10_000)]
    for f in [store.submit(specs) for _ in range(events // 10_000)]:
        f.result()
    if with_checkpoint:
        # What the engine leaves behind after normal operation (it checkpoints every 20 000 events).
        async def cp():
            e = await Engine.open(loaded, db=db)
            e._last_checkpoint = -1
            await e.close()

        store.close()
        asyncio.run(cp())
    else:
        store.close()

    async def open_once():
        t0 = time.perf_counter()
        e = await Engine.open(loaded, db=db, read_only=True)
        elapsed = time.perf_counter() - t0
        r = (elapsed, e.report.replayed, e.state.head_seq)
        await e.close()
        return r

    return asyncio.run(open_once())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes (replay of 200 000 events)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    total = 100_000 if args.quick else 500_000
    replay_n = 200_000 if args.quick else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plan_path = prepare_demo(tmp / "demo")
        rate = batched_rate(tmp / "a.duckdb", total, 1000)
        base = baseline_rate(tmp / "b.duckdb", total, 1000)
        p50, p99 = single_latency(tmp / "c.duckdb", 300 if args.quick else 1000)
        cp_s, cp_replayed, cp_events = startup(plan_path, tmp / "d.duckdb", replay_n, True)
        full_s, full_replayed, _ = startup(plan_path, tmp / "e.duckdb", replay_n, False)
    rows = [
        {"figure": "batched appends with hash chain", "goal": ">= 50000 events/s", "value": round(rate),
         "unit": "events/s", "baseline": round(base), "ratio": round(rate / base, 2),
         "how": f"{total} events in batches of 1000, baseline = same inserts without hashing"},
        {"figure": "single durable append p50", "goal": "", "value": round(p50, 3), "unit": "ms",
         "how": "one event per COMMIT, sequential"},
        {"figure": "single durable append p99", "goal": "<= 5 ms", "value": round(p99, 3), "unit": "ms",
         "how": "one event per COMMIT, sequential"},
        {"figure": f"engine start-up on {cp_events} events (checkpoint)", "goal": "<= 2 s",
         "value": round(cp_s, 3), "unit": "s",
         "how": f"full chain verification in DuckDB + replay of {cp_replayed} events after the checkpoint"},
        {"figure": f"engine start-up on {cp_events} events (no checkpoint)", "goal": "",
         "value": round(full_s, 3), "unit": "s", "how": f"verification + replay of all {full_replayed} events"},
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        extra = f"  (baseline {r['baseline']}, ratio {r['ratio']})" if "baseline" in r else ""
        print(f"{r['figure']:<52} {r['value']:>12} {r['unit']:<9} goal {r['goal'] or '-':<18}{extra}")
        print(f"    {r['how']}")


if __name__ == "__main__":
    main()
