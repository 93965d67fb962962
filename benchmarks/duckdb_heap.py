"""Where the console's C heap goes over hours: DuckDB's own allocations per statement (glibc only).

RSS growth in the soak is mostly not Python objects (tracemalloc: ~0.6 MiB in 15 min) but the C heap
that glibc's allocator reports (mallinfo2 "in use"). This script measures, on a real DuckDB file with
the session schema, the heap in use after rounds of statements the console runs:
  - the metric store pass the live monitor runs every 5 s (store/metrics.py:save), one hour's worth
    (720 passes of 6 buckets and a feed position);
  - a read query (the session log's page) repeated --statements times per round: DuckDB's heap grows
    with every statement a database instance has run and levels off; closing the instance frees it,
    which the last row shows.

Usage: python benchmarks/duckdb_heap.py [--rounds N] [--statements N] [--json]
"""

from __future__ import annotations

import ctypes
import datetime
import tempfile
from pathlib import Path

import duckdb
from _common import emit, parse_args

from mdm_console.store import metrics
from mdm_console.store.session import SCHEMA


class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


def heap_in_use() -> float:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2().uordblks / 2**20


def main() -> None:
    args = parse_args(rounds=6, statements=3600)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "s.duckdb")
        con = duckdb.connect(path)
        con.execute(SCHEMA)
        con.execute("INSERT INTO events SELECT i, '{\"ts\": \"2026-01-01T00:00:00\", \"kind\": \"x\"}', 'a', 'b'"
                    " FROM range(2000) t(i)")
        t0 = datetime.datetime(2026, 1, 1)
        before = heap_in_use()
        for i in range(720):
            start = t0 + datetime.timedelta(seconds=5 * i)
            metrics.save([(start, c, v, 100, 99, 1, 1.0, 2.0, 3.0, "sketch (±1 %)")
                          for c in ("a", "b", "c") for v in ("new", "old")], [("jsonl", 1, 2, i)])(con)
        rows.append({"figure": "C heap growth, an hour of metric store passes", "goal": "", "unit": "MiB",
                     "value": round(heap_in_use() - before, 2),
                     "how": "glibc heap in use (mallinfo2) before and after 720 store/metrics.save passes of 6 "
                            "buckets and a feed position on a DuckDB file"})
        query = "SELECT seq, kind, ts FROM event_log ORDER BY seq DESC LIMIT 50"
        for r in range(args.rounds):
            before = heap_in_use()
            for _ in range(args.statements):
                con.execute(query).fetchall()
            rows.append({"figure": f"C heap growth, read statements {r * args.statements + 1}-"
                                   f"{(r + 1) * args.statements}", "goal": "", "unit": "MiB",
                         "value": round(heap_in_use() - before, 2),
                         "how": f"glibc heap in use before and after {args.statements} runs of the session log's "
                                f"page query on one connection"})
        before = heap_in_use()
        con.close()
        rows.append({"figure": "C heap freed by closing the database", "goal": "", "unit": "MiB",
                     "value": round(before - heap_in_use(), 2), "how": "glibc heap in use before and after close()"})
        # What the session store does (store/session.py REOPEN_S): the same rounds, the connection closed and opened
        # again after each.
        start = heap_in_use()
        for r in range(args.rounds):
            con = duckdb.connect(path)
            for _ in range(args.statements):
                con.execute(query).fetchall()
            con.close()
        rows.append({"figure": "C heap growth, the same rounds reopening after each", "goal": "", "unit": "MiB",
                     "value": round(heap_in_use() - start, 2),
                     "how": f"glibc heap in use before the first and after the last of {args.rounds} rounds of "
                            f"{args.statements} runs of the same query, the connection closed and opened again "
                            f"after each round (what the session store does every five minutes)"})
    emit(rows, args.json)


if __name__ == "__main__":
    main()
