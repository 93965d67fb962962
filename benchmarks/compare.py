"""The shadow `compare` validator on large results: pandas (one merge, column arithmetic) against the per-row
Python loop it replaced (benchmarks/compare_loop.py), on the same rows in the same run.

Rows: --rows keys per side (an integer id and a segment), three numeric columns (DuckDB DOUBLE and DECIMAL
read back through the validators' own query function, as a real compare gets them), 1 % of the keys with a
value beyond tolerance, 0.1 % of the keys only on one side. Each implementation runs --runs times; the median.

Usage: python benchmarks/compare.py [--rows N] [--runs N] [--json]
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from _common import emit, parse_args

from benchmarks.compare_loop import compare_loop
from mdm_console.validators.db import query
from mdm_console.validators.kinds.compare import compare


def make(path: Path, rows: int, shift: bool) -> None:
    import duckdb

    con = duckdb.connect(str(path))
    # v2: 1 % of the keys 5 % off in bal, 0.1 % of the keys missing and as many new ones
    where = "WHERE range % 1000 <> 7" if shift else ""
    bal = "CASE WHEN range % 100 = 3 THEN 1.05 ELSE 1.0 END * (range % 977 + 1)" if shift else "(range % 977 + 1)"
    con.execute(f"""CREATE TABLE loans AS SELECT range AS id, 'seg' || (range % 4) AS seg, {bal}::DOUBLE AS bal,
                    ((range % 89) / 1000.0)::DECIMAL(10, 4) AS par30, (range % 13)::DOUBLE AS dpd
                    FROM range({rows}) {where}""")
    if shift:
        con.execute(f"INSERT INTO loans SELECT {rows} + range, 'seg0', 1.0, 0.0, 0.0 FROM range({rows // 1000})")
    con.close()


def main() -> None:
    args = parse_args(rows=1_000_000, runs=3)
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "v1.duckdb", Path(tmp) / "v2.duckdb"
        make(a, args.rows, False)
        make(b, args.rows, True)
        sql = "SELECT id, seg, bal, par30, dpd FROM loans"
        (c1, r1), (c2, r2) = asyncio.run(_both(a, b, sql, tmp))
    keys, tol = ["id", "seg"], {"bal": 0.01, "par30": 0.0, "dpd": 0.0}
    times: dict[str, list[float]] = {"pandas": [], "loop": []}
    results = {}
    for _ in range(args.runs):
        for name, fn in (("loop", compare_loop), ("pandas", compare)):
            t0 = time.perf_counter()
            results[name] = fn(c1, r1, c2, r2, keys, tol)
            times[name].append(time.perf_counter() - t0)
    same = results["pandas"] == results["loop"]
    new, old = statistics.median(times["pandas"]), statistics.median(times["loop"])
    emit([{"figure": f"shadow compare of {args.rows:,} keys per side", "goal": "faster than the per-row loop",
           "value": round(new, 2), "unit": "s", "baseline": round(old, 2), "ratio": round(new / old, 2),
           "how": f"median of {args.runs} runs, rows read back through the validators' query function; baseline = "
                  f"the per-row loop it replaced, same rows, same run; both report the same outcome: {same} "
                  f"({results['pandas'].status}: {results['pandas'].detail[:80]}…)"}], args.json)


async def _both(a: Path, b: Path, sql: str, tmp: str):
    return await asyncio.gather(query(f"duckdb:{a}", sql, Path(tmp), 600), query(f"duckdb:{b}", sql, Path(tmp), 600))


if __name__ == "__main__":
    main()
