"""The demo's own resources, created on first run in the demo directory.

A loan portfolio in a V1 store (SQLite) and a V2 store (DuckDB), a customers CSV with a
manifest of checksums, and a schema version table. V2's par30 for one segment is 0.45 %
off V1's, within the demo's 1 % tolerance, so the shadow comparison has a real variance to
report. Generated from a fixed seed, so every demo starts from the same data.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import sqlite3
from pathlib import Path

import duckdb

SEGMENTS = ("Retail", "SME", "Corporate", "Agri")
ROWS = 4000
SCHEMA_VERSION = 7
OFF_SEGMENT, OFF_FACTOR = "SME", 1.0045


def loans(seed: int = 20261124) -> list[tuple[int, str, float, float]]:
    rng = random.Random(seed)
    return [(i, SEGMENTS[i % len(SEGMENTS)], round(rng.uniform(500, 250_000), 2), round(rng.uniform(0, 0.2), 6))
            for i in range(1, ROWS + 1)]


def build(target: Path) -> None:
    data = target / "data"
    data.mkdir(parents=True, exist_ok=True, mode=0o755)
    rows = loans()
    v1 = data / "v1.sqlite"
    if not v1.exists():
        con = sqlite3.connect(v1)
        con.execute("CREATE TABLE loans (id INTEGER PRIMARY KEY, segment TEXT, balance REAL, par30 REAL)")
        con.executemany("INSERT INTO loans VALUES (?, ?, ?, ?)", rows)
        con.commit()
        con.close()
    v2 = data / "v2.duckdb"
    if not v2.exists():
        con = duckdb.connect(str(v2))
        con.execute("CREATE TABLE loans (id INTEGER PRIMARY KEY, segment VARCHAR, balance DOUBLE, par30 DOUBLE)")
        migrated = [(i, s, b, round(p * OFF_FACTOR, 6) if s == OFF_SEGMENT else p) for i, s, b, p in rows]
        cols = list(zip(*migrated))
        con.execute("INSERT INTO loans SELECT unnest($1), unnest($2), unnest($3), unnest($4)", [list(c) for c in cols])
        con.execute("CREATE TABLE schema_migrations (version INTEGER, applied VARCHAR)")
        con.execute("INSERT INTO schema_migrations SELECT range, 'demo' FROM range(1, ?)", [SCHEMA_VERSION + 1])
        con.close()
    customers = data / "customers.csv"
    manifest = data / "manifest.json"
    if not customers.exists() or not manifest.exists():
        with open(customers, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "segment", "balance"])
            w.writerows((i, s, b) for i, s, b, _ in rows)
        entries = {}
        for f in (customers, v1):
            entries[f.name] = {"sha256": hashlib.sha256(f.read_bytes()).hexdigest(), "bytes": f.stat().st_size}
        entries[customers.name]["rows"] = ROWS
        manifest.write_text(json.dumps({"files": entries}, indent=2) + "\n")
    (target / "reports").mkdir(exist_ok=True, mode=0o755)
