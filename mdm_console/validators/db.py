"""Read-only queries on `duckdb:PATH` or `sqlite:PATH` DSNs, interruptible on timeout."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import duckdb

from mdm_console.store.session import connect
from mdm_console import pools


class QueryError(Exception):
    pass


class _Query:
    def __init__(self, dsn: str, base_dir: Path):
        scheme, _, rest = dsn.partition(":")
        path = Path(rest).expanduser()
        self.path = path if path.is_absolute() else base_dir / path
        self.scheme = scheme
        self.con: Any = None
        self.lock = threading.Lock()
        self.interrupted = False
        self.ms: float | None = None

    def run(self, sql: str) -> tuple[list[str], list[tuple]]:
        if not self.path.exists():
            raise QueryError(f"{self.scheme} database {self.path} does not exist")
        try:
            with self.lock:
                if self.interrupted:
                    raise QueryError("interrupted")
                if self.scheme == "duckdb":
                    self.con = connect(str(self.path), read_only=True)
                else:
                    self.con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            t0 = time.perf_counter()
            cur = self.con.execute(sql)
            cols = [d[0] for d in cur.description or []]
            rows = cur.fetchall()
            self.ms = (time.perf_counter() - t0) * 1000  # the query's own time: executed and fetched
            return cols, rows
        except (duckdb.Error, sqlite3.Error) as exc:
            raise QueryError(f"{self.scheme}: {str(exc).splitlines()[0]}") from None
        finally:
            with self.lock:
                if self.con is not None:
                    self.con.close()
                    self.con = None

    def interrupt(self) -> None:
        with self.lock:
            self.interrupted = True
            if self.con is not None:
                self.con.interrupt()


async def query(dsn: str, sql: str, base_dir: Path, timeout: float, timing: dict | None = None
                ) -> tuple[list[str], list[tuple]]:
    """Columns and rows; with `timing`, `timing["query"].ms` is then the query's own time (without connecting)."""
    q = _Query(dsn, base_dir)
    if timing is not None:
        timing["query"] = q
    task = asyncio.ensure_future(pools.VALIDATORS.run(q.run, sql))
    try:
        return await asyncio.wait_for(asyncio.shield(task), timeout)
    except (TimeoutError, asyncio.CancelledError):
        q.interrupt()  # stop the query in its thread so it does not run on after us
        raise
