"""Validator runner figures (prints them; not a test).

- 100 validators of `sleep 1` at once: wall time (goal <= 1.3 s); baseline: one `sleep 1`
  validator in the same run;
- event-loop lag p99 while 50 validators run (goal <= 20 ms): a 5 ms ticker measures how late
  it wakes; the 50 mix processes, SQL, files and psutil;
- the demo plan's preflight wall time (16 readiness checks).

Usage: python benchmarks/validators.py [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from _common import emit, percentile, write_plan

from mdm_console.engine.core import Engine
from mdm_console.plan.demo_setup import prepare_demo
from mdm_console.plan.load import load_plan


def sleepers(n: int) -> str:
    return "".join(f"""
[[validators]]
id = "sleep{i}"
kind = "command"
timeout_seconds = 10
params = {{ argv = ["sleep", "1"] }}
""" for i in range(n))


def mixed(n: int, db: Path) -> str:
    kinds = [
        'kind = "command"\nparams = { argv = ["sleep", "0.5"] }',
        f'kind = "sql"\nparams = {{ dsn = "duckdb:{db}", query = "SELECT sum(range) FROM range(2000000)", expect_rows = 1 }}',
        'kind = "file"\nparams = { path = "mdm-plan.toml", parse = "toml" }',
        'kind = "system"\nparams = { min_cpus = 1, max_memory_percent = 99 }',
    ]
    return "".join(f"\n[[validators]]\nid = \"v{i}\"\ntimeout_seconds = 20\n{kinds[i % len(kinds)]}\n" for i in range(n))


async def run_plan(plan: Path, phase: str = "preflight", measure_lag: bool = False, demo: bool = False):
    engine = await Engine.open(load_plan(plan, is_demo=demo), record_start="bench")
    await engine.rollout.ensure_flag_file()
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append((time.perf_counter() - t - 0.005) * 1000)

    tick = asyncio.create_task(ticker()) if measure_lag else None
    try:
        t0 = time.perf_counter()
        summary = await engine.validation.run(phase)
        wall = time.perf_counter() - t0
    finally:
        stop.set()
        if tick:
            await tick
        await engine.close()
    return wall, summary, lags


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        import duckdb

        duckdb.connect(str(tmp / "bench.duckdb")).close()
        base_wall, _, _ = asyncio.run(run_plan(write_plan(tmp / "one", sleepers(1))))
        wall, summary100, _ = asyncio.run(run_plan(write_plan(tmp / "hundred", sleepers(100))))
        _, summary50, lags = asyncio.run(run_plan(write_plan(tmp / "mixed", mixed(50, tmp / "bench.duckdb")),
                                                  measure_lag=True))
        os.environ.setdefault("MDM_STATE_DIR", str(tmp / "state"))
        demo_wall, demo, _ = asyncio.run(run_plan(prepare_demo(tmp / "demo"), demo=True))
    rows = [
        {"figure": "100 validators of `sleep 1`, wall", "goal": "<= 1.3 s", "value": round(wall, 3), "unit": "s",
         "baseline": round(base_wall, 3), "ratio": round(wall / base_wall, 2),
         "how": f"{summary100.counts()}; baseline = 1 validator of `sleep 1` in the same run"},
        {"figure": "event-loop lag p99 while 50 validators run", "goal": "<= 20 ms",
         "value": round(percentile(lags, 99), 2), "unit": "ms",
         "how": f"5 ms ticker, {len(lags)} samples, max {max(lags):.1f} ms; 50 = processes, DuckDB queries, "
                f"files, psutil ({summary50.counts()})"},
        {"figure": "demo plan preflight (16 readiness checks), wall", "goal": "", "value": round(demo_wall, 3),
         "unit": "s", "how": f"{demo.counts()}"},
    ]
    emit(rows, args.json)


if __name__ == "__main__":
    main()
