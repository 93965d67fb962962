"""Python validators of the demo plan. Each does real work and returns what it measured.

They run in a child interpreter (the `python` validator kind) with the demo directory as
the working directory, so relative paths are the plan's.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path


def storage_roundtrip(path: str, rows: int = 10_000) -> dict:
    """Write rows to a DuckDB file, read them back, compare checksums (then remove the table)."""
    import duckdb

    db = Path(path)
    db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db))
    try:
        t0 = time.perf_counter()
        con.execute("CREATE OR REPLACE TABLE roundtrip AS SELECT range AS id, md5(range::VARCHAR) AS v FROM range(?)",
                    [rows])
        written = con.execute("SELECT count(*), md5(string_agg(v, '' ORDER BY id)) FROM roundtrip").fetchone()
        con.close()
        t1 = time.perf_counter()
        con = duckdb.connect(str(db), read_only=True)
        read = con.execute("SELECT count(*), md5(string_agg(v, '' ORDER BY id)) FROM roundtrip").fetchone()
        t2 = time.perf_counter()
    finally:
        con.close()
    ok = written == read and read[0] == rows
    return {"passed": ok,
            "detail": f"wrote and read back {read[0]} rows, checksum {'matches' if written == read else 'DIFFERS'} "
                      f"(write {1000 * (t1 - t0):.1f} ms, read {1000 * (t2 - t1):.1f} ms)",
            "measured": {"rows": read[0], "write_ms": round(1000 * (t1 - t0), 2),
                         "read_ms": round(1000 * (t2 - t1), 2)}}


def dataset_integrity(manifest: str) -> dict:
    """Every file of the manifest still has its recorded sha256 (and row count)."""
    m = json.loads(Path(manifest).read_text())
    base = Path(manifest).parent
    bad, good = [], []
    for name, want in m["files"].items():
        f = base / name
        if not f.exists():
            bad.append(f"{name} is missing")
            continue
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        if digest != want["sha256"]:
            bad.append(f"{name} sha256 {digest[:12]}… != recorded {want['sha256'][:12]}…")
            continue
        if "rows" in want:
            rows = sum(1 for _ in f.open()) - 1
            if rows != want["rows"]:
                bad.append(f"{name} has {rows} rows, recorded {want['rows']}")
                continue
        good.append(name)
    detail = "; ".join(bad) if bad else f"{len(good)} file(s) match their recorded sha256: {', '.join(good)}"
    return {"passed": not bad, "detail": detail, "measured": {"files_ok": len(good), "files_bad": len(bad)}}


class DemoDataTests(unittest.TestCase):
    """A small real test suite over the demo's V1 and V2 stores and config."""

    def v1(self):
        import sqlite3

        return sqlite3.connect("file:data/v1.sqlite?mode=ro", uri=True)

    def v2(self):
        import duckdb

        return duckdb.connect("data/v2.duckdb", read_only=True)

    def test_same_loan_ids_in_v1_and_v2(self):
        ids1 = {r[0] for r in self.v1().execute("SELECT id FROM loans")}
        ids2 = {r[0] for r in self.v2().execute("SELECT id FROM loans").fetchall()}
        self.assertEqual(ids1, ids2)

    def test_no_negative_balances(self):
        self.assertEqual(self.v2().execute("SELECT count(*) FROM loans WHERE balance < 0").fetchone()[0], 0)

    def test_par30_is_a_ratio(self):
        lo, hi = self.v2().execute("SELECT min(par30), max(par30) FROM loans").fetchone()
        self.assertGreaterEqual(lo, 0)
        self.assertLessEqual(hi, 1)

    def test_every_segment_present(self):
        segs = {r[0] for r in self.v2().execute("SELECT DISTINCT segment FROM loans").fetchall()}
        self.assertEqual(segs, {"Retail", "SME", "Corporate", "Agri"})

    def test_balances_agree_between_stores(self):
        b1 = self.v1().execute("SELECT round(sum(balance), 2) FROM loans").fetchone()[0]
        b2 = self.v2().execute("SELECT round(sum(balance), 2) FROM loans").fetchone()[0]
        self.assertAlmostEqual(b1, b2, places=2)

    def test_config_parses(self):
        import tomllib

        cfg = tomllib.loads(Path("config/app.toml").read_text())
        self.assertIn("storage", cfg)


def run_selftests(junit: str) -> dict:
    """Run DemoDataTests and write their results as JUnit XML (read by the `junit` validator)."""
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(DemoDataTests)
    cases = []
    for test in suite:
        result = unittest.TestResult()
        t0 = time.perf_counter()
        test.run(result)
        cases.append((test.id().rsplit(".", 1)[-1], time.perf_counter() - t0, result))
    root = ET.Element("testsuite", name="demo-data", tests=str(len(cases)))
    failures = errors = 0
    for name, secs, result in cases:
        case = ET.SubElement(root, "testcase", classname="DemoDataTests", name=name, time=f"{secs:.4f}")
        for _, tb in result.failures:
            failures += 1
            ET.SubElement(case, "failure", message=tb.strip().splitlines()[-1]).text = tb
        for _, tb in result.errors:
            errors += 1
            ET.SubElement(case, "error", message=tb.strip().splitlines()[-1]).text = tb
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    out = Path(junit)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)
    except OSError:
        traceback.print_exc()
        raise
    return {"passed": failures + errors == 0,
            "detail": f"ran {len(cases)} tests: {failures} failures, {errors} errors; wrote {junit}",
            "measured": {"tests": len(cases), "failures": failures, "errors": errors}}
