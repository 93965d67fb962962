"""Export figures (prints them; not a test): 1 000 000 events to Parquet (goal <= 3 s) and to the
HTML report (goal <= 5 s); baseline: DuckDB copying the bare table to Parquet in the same run.

Usage: python benchmarks/export.py [--events N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from _common import emit, write_plan

from mdm_console.engine.core import Engine
from mdm_console.export.run import export_session
from mdm_console.plan.load import load_plan
from mdm_console.store.chain import Actor
from mdm_console.store.session import EventSpec, SessionStore

KINDS = ["checklist.note", "validator.result", "alert.raised", "alert.cleared", "validator.started"]


def fill(db: Path, n: int) -> None:
    store = SessionStore.open(db, Actor("bench", "bench", "localhost"))
    batch = []
    for i in range(10_000):
        kind = KINDS[i % len(KINDS)]
        payload = {"item": "pre.backup", "text": "x" * 30} if kind == "checklist.note" else \
            {"id": f"v{i % 16}", "kind": "file", "status": "passed", "duration_ms": 1.5, "detail": "ok", "run": "r",
             "phase": "post", "batch": "low risk", "critical": False, "measured": {}, "output_tail": ""} \
            if kind.startswith("validator") else {"alert": f"error_rate:c{i % 4}", "level": "warning",
                                                  "message": "m", "value": 0.03}
        batch.append(EventSpec(kind, None, payload))
    for f in [store.submit(batch) for _ in range(n // 10_000)]:
        f.result()
    store.close()


async def run(tmp: Path, n: int) -> dict:
    plan = write_plan(tmp, "")
    db = tmp / "session.duckdb"
    fill(db, n)
    e = await Engine.open(load_plan(plan), db=db, read_only=True)
    try:
        t0 = time.perf_counter()
        await export_session(e, "parquet", tmp / "events.parquet")
        parquet = time.perf_counter() - t0
        t0 = time.perf_counter()
        await export_session(e, "html", tmp / "report.html")
        html = time.perf_counter() - t0

        def bare(con):
            t = time.perf_counter()
            con.execute(f"COPY events TO '{tmp / 'bare.parquet'}' (FORMAT parquet)")
            return time.perf_counter() - t

        base = await e.store.acall(bare)
    finally:
        await e.close()
    return {"parquet": parquet, "html": html, "base": base,
            "parquet_mb": (tmp / "events.parquet").stat().st_size / 1e6,
            "html_kb": (tmp / "report.html").stat().st_size / 1e3}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        r = asyncio.run(run(Path(tmp), args.events))
    rows = [
        {"figure": f"{args.events} events to Parquet", "goal": "<= 3 s", "value": round(r["parquet"], 3),
         "unit": "s", "baseline": round(r["base"], 3), "ratio": round(r["parquet"] / r["base"], 2),
         "how": f"export incl. the metrics file (chain status from the start-up verification); {r['parquet_mb']:.1f} MB; baseline = "
                "COPY of the bare table"},
        {"figure": f"{args.events} events to the HTML report", "goal": "<= 5 s", "value": round(r["html"], 3),
         "unit": "s", "how": f"facts gathered by kind from the store, chain verified; {r['html_kb']:.0f} kB"},
    ]
    emit(rows, args.json)


if __name__ == "__main__":
    main()
