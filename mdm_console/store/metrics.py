"""Queries on the metric aggregates (run them through the store thread: `store.acall`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import duckdb

Query = Callable[[duckdb.DuckDBPyConnection], Any]
CHUNK = 500  # rows per statement


def save(rows: list[tuple], positions: list[tuple]) -> Query:
    """rows: (start datetime UTC naive, component, variant, ops, success, error, p50, p95, p99, method)."""

    def run(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("BEGIN TRANSACTION")
        try:
            for i in range(0, len(rows), CHUNK):
                part = rows[i:i + CHUNK]
                # Replace by key: delete the bucket's earlier row (if any), then insert (see the schema).
                con.execute("DELETE FROM metrics USING (VALUES " + ", ".join(["(?, ?, ?)"] * len(part))
                            + ") AS k(s, c, v) WHERE start = k.s AND component = k.c AND variant = k.v",
                            [x for r in part for x in r[:3]])
                con.execute("INSERT INTO metrics VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(part)),
                            [x for r in part for x in r])
            for feed, dev, ino, offset in positions:
                # UPDATE leaves the key's index alone (INSERT OR REPLACE every 5 s grew the process ~1 MiB/h)
                now = datetime.now(UTC).replace(tzinfo=None)
                if not con.execute('UPDATE feed_positions SET dev = ?, ino = ?, "offset" = ?, updated = ?'
                                   " WHERE feed = ? RETURNING feed", [dev, ino, offset, now, feed]).fetchall():
                    con.execute("INSERT INTO feed_positions VALUES (?, ?, ?, ?, ?)", [feed, dev, ino, offset, now])
            con.execute("COMMIT")
        except BaseException:
            try:  # a failed COMMIT has ended the transaction already: the original error is the one to tell
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            raise

    return run


def load_all(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Every stored bucket, oldest first: (start in epoch seconds, what the windows key buckets by, component,
    variant, ops, success, error, p99_ms)."""
    return con.execute("SELECT CAST(epoch(start) AS BIGINT), component, variant, ops, success, error, p99_ms "
                       "FROM metrics ORDER BY start").fetchall()


def positions(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int, int]]:
    rows = con.execute('SELECT feed, dev, ino, "offset" FROM feed_positions').fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def series(component: str, since: datetime) -> Query:
    """Per-bucket error rate and p99 of one component (all variants together), for plots."""

    def run(con: duckdb.DuckDBPyConnection) -> list[tuple]:
        return con.execute(
            "SELECT start, sum(ops), sum(error), max(p99_ms) FROM metrics WHERE component = ? AND start >= ?"
            " GROUP BY start ORDER BY start",
            [component, since.astimezone(UTC).replace(tzinfo=None)]).fetchall()

    return run
