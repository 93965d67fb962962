"""Each validator kind against real things; the runner's timeouts, cancel, batches, redaction."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import psutil
import pytest

from mdm_console.engine.core import Engine
from mdm_console.plan.load import load_plan
from tests.conftest import run_cli

HEAD = """\
version = 1
[cutover]
name = "validators"
flag_file = "flags.json"
[[components]]
id = "storage"
flag_key = "mdm.new_backend"
"""


def write_plan(tmp_path: Path, validators: str) -> Path:
    p = tmp_path / "mdm-plan.toml"
    p.write_text(HEAD + textwrap.dedent(validators))
    return p


async def run_validators(tmp_path, validators: str, phase="preflight", only=None):
    engine = await Engine.open(load_plan(write_plan(tmp_path, validators)), record_start="test")
    await engine.rollout.ensure_flag_file()
    try:
        summary = await engine.validation.run(phase, only)
        return {r["id"]: r for r in summary.results}, summary, engine.state
    finally:
        await engine.close()


@pytest.fixture
def http_server():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/health":
                body = json.dumps({"status": "ok", "db": {"connected": True, "lag": 3}}).encode()
                self.send_response(200)
            else:
                body = b"nope"
                self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_http_kind(tmp_path, http_server):
    r, _, _ = await run_validators(tmp_path, f"""
        [[validators]]
        id = "ok"
        kind = "http"
        params = {{ url = "{http_server}/health", expect_json = {{ "status" = "ok", "db.connected" = true }} }}
        [[validators]]
        id = "wrong-value"
        kind = "http"
        params = {{ url = "{http_server}/health", expect_json = {{ "db.lag" = 0 }} }}
        [[validators]]
        id = "bad-status"
        kind = "http"
        params = {{ url = "{http_server}/down" }}
        [[validators]]
        id = "refused"
        kind = "http"
        params = {{ url = "http://127.0.0.1:9/x" }}
    """)
    assert r["ok"]["status"] == "passed" and r["ok"]["measured"]["status"] == 200
    assert r["wrong-value"]["status"] == "failed" and "db.lag = 3 (expected 0)" in r["wrong-value"]["detail"]
    assert r["bad-status"]["status"] == "failed" and "HTTP 503 (expected 200)" in r["bad-status"]["detail"]
    assert r["refused"]["status"] == "error" and "Connection refused" in r["refused"]["detail"]


async def test_sql_and_compare_kinds_on_real_files(tmp_path):
    con = sqlite3.connect(tmp_path / "v1.sqlite")
    con.execute("CREATE TABLE t (seg TEXT, bal REAL, par30 REAL)")
    con.executemany("INSERT INTO t VALUES (?,?,?)", [("A", 100.0, 0.0200), ("B", 200.0, 0.0400), ("C", 5.0, 0.1)])
    con.commit()
    con.close()
    d = duckdb.connect(str(tmp_path / "v2.duckdb"))
    d.execute("CREATE TABLE t (seg VARCHAR, bal DOUBLE, par30 DOUBLE)")
    d.execute("INSERT INTO t VALUES ('A', 100.0, 0.0201), ('B', 200.0, 0.0500), ('D', 1.0, 0.0)")
    d.close()
    r, _, _ = await run_validators(tmp_path, """
        [[validators]]
        id = "count"
        kind = "sql"
        params = { dsn = "duckdb:v2.duckdb", query = "SELECT count(*) FROM t", expect_scalar = 3 }
        [[validators]]
        id = "too-few"
        kind = "sql"
        params = { dsn = "sqlite:v1.sqlite", query = "SELECT count(*) AS n FROM t", expect_scalar_min = 10 }
        [[validators]]
        id = "rows"
        kind = "sql"
        params = { dsn = "sqlite:v1.sqlite", query = "SELECT * FROM t", expect_rows = 3 }
        [[validators]]
        id = "sql-error"
        kind = "sql"
        params = { dsn = "duckdb:v2.duckdb", query = "SELECT nope FROM t", expect_rows = 1 }
        [[validators]]
        id = "shadow"
        kind = "compare"
        params = { v1_dsn = "sqlite:v1.sqlite", v2_dsn = "duckdb:v2.duckdb", query = "SELECT seg, bal, par30 FROM t", key_columns = ["seg"], tolerance = { par30 = 0.01, bal = 0.0 } }
    """)
    assert r["count"]["status"] == "passed" and r["count"]["measured"]["scalar"] == 3
    assert r["too-few"]["status"] == "failed" and "n = 3 (needs >= 10)" in r["too-few"]["detail"]
    assert r["rows"]["status"] == "passed"
    assert r["sql-error"]["status"] == "error" and "nope" in r["sql-error"]["detail"]
    s = r["shadow"]
    assert s["status"] == "failed"
    assert "par30 25.00 % (tolerance 1 %)" in s["detail"]  # B: 0.04 -> 0.05
    assert s["measured"]["differing_keys"] == {"par30": ["B"]}
    assert "only in V1: C" in s["detail"] and "only in V2: D" in s["detail"]
    assert s["measured"]["variance"]["bal"] == 0.0


async def test_compare_reports_variance_within_tolerance(tmp_path):
    for name, par in (("a.duckdb", 0.0200), ("b.duckdb", 0.0200 * 1.0045)):
        d = duckdb.connect(str(tmp_path / name))
        d.execute(f"CREATE TABLE t AS SELECT 'SME' AS seg, {par} AS par30")
        d.close()
    r, _, _ = await run_validators(tmp_path, """
        [[validators]]
        id = "shadow"
        kind = "compare"
        params = { v1_dsn = "duckdb:a.duckdb", v2_dsn = "duckdb:b.duckdb", query = "SELECT * FROM t", key_columns = ["seg"], tolerance = { par30 = 0.01 } }
    """)
    assert r["shadow"]["status"] == "passed" and "par30 0.45 % (tolerance 1 %)" in r["shadow"]["detail"]


async def test_file_junit_and_flags_kinds(tmp_path):
    (tmp_path / "cfg.json").write_text('{"a": 1}')
    os.chmod(tmp_path / "cfg.json", 0o644)
    (tmp_path / "bad.toml").write_text("a = = 1")
    (tmp_path / "open.txt").write_text("x")
    os.chmod(tmp_path / "open.txt", 0o666)
    (tmp_path / "ok.xml").write_text('<testsuites><testsuite name="s"><testcase name="a"/><testcase name="b"/>'
                                     '</testsuite></testsuites>')
    (tmp_path / "fail.xml").write_text('<testsuite name="s" tests="2" failures="0"><testcase name="a"/>'
                                       '<testcase name="b"><failure message="boom"/></testcase></testsuite>')
    (tmp_path / "junk.xml").write_text("this is not xml <")
    import hashlib

    digest = hashlib.sha256(b'{"a": 1}').hexdigest()
    r, _, _ = await run_validators(tmp_path, f"""
        [[validators]]
        id = "json"
        kind = "file"
        params = {{ path = "cfg.json", parse = "json", max_mode = "0644", sha256 = "{digest}" }}
        [[validators]]
        id = "toml"
        kind = "file"
        params = {{ path = "bad.toml", parse = "toml" }}
        [[validators]]
        id = "mode"
        kind = "file"
        params = {{ path = "open.txt", max_mode = "0644" }}
        [[validators]]
        id = "missing"
        kind = "file"
        params = {{ path = "nope.txt" }}
        [[validators]]
        id = "junit-ok"
        kind = "junit"
        params = {{ path = "ok.xml", min_tests = 2 }}
        [[validators]]
        id = "junit-fail"
        kind = "junit"
        params = {{ path = "fail.xml" }}
        [[validators]]
        id = "junit-junk"
        kind = "junit"
        params = {{ path = "junk.xml" }}
        [[validators]]
        id = "flags"
        kind = "flags"
    """)
    assert r["json"]["status"] == "passed" and r["json"]["measured"]["sha256"] == digest
    assert r["toml"]["status"] == "failed" and "does not parse as toml" in r["toml"]["detail"]
    assert r["mode"]["status"] == "failed" and "0666 is looser than 0644" in r["mode"]["detail"]
    assert r["missing"]["status"] == "failed"
    assert r["junit-ok"]["status"] == "passed" and r["junit-ok"]["measured"]["tests"] == 2
    assert r["junit-fail"]["status"] == "failed" and "1 failures" in r["junit-fail"]["detail"]
    assert r["junit-junk"]["status"] == "error" and "not JUnit XML" in r["junit-junk"]["detail"]
    assert r["flags"]["status"] == "passed"


async def test_flags_kind_catches_a_hand_edit(tmp_path):
    plan = write_plan(tmp_path, """
        [[validators]]
        id = "flags"
        kind = "flags"
    """)
    engine = await Engine.open(load_plan(plan), record_start="test")
    await engine.rollout.ensure_flag_file()
    doc = json.loads(engine.loaded.flag_file.read_text())
    doc["flags"]["mdm.new_backend"]["targeting"] = {"fractional": [["on", 50], ["off", 50]]}
    engine.loaded.flag_file.write_text(json.dumps(doc))
    summary = await engine.validation.run()
    await engine.close()
    assert summary.results[0]["status"] == "failed"
    assert "gives 50 %, recorded testing 0 %" in summary.results[0]["detail"]


async def test_command_and_python_kinds(tmp_path):
    (tmp_path / "mychecks.py").write_text(textwrap.dedent("""
        def good(n):
            print("working on", n)
            return {"passed": n > 2, "detail": f"n = {n}", "measured": {"n": n}}
        def pair():
            return (False, "disk is haunted")
        def boom():
            raise RuntimeError("kaput")
    """))
    r, _, _ = await run_validators(tmp_path, """
        [[validators]]
        id = "echo"
        kind = "command"
        params = { argv = ["sh", "-c", "echo version 1.2.3"], expect_stdout_regex = "version \\\\d+\\\\.\\\\d+" }
        [[validators]]
        id = "exit"
        kind = "command"
        params = { argv = ["sh", "-c", "exit 3"] }
        [[validators]]
        id = "notfound"
        kind = "command"
        params = { argv = ["no-such-tool-xyz", "--version"] }
        [[validators]]
        id = "shell"
        kind = "command"
        params = { shell = "test $((2 + 2)) -eq 4" }
        [[validators]]
        id = "py-good"
        kind = "python"
        params = { callable = "mychecks:good", kwargs = { n = 5 } }
        [[validators]]
        id = "py-pair"
        kind = "python"
        params = { callable = "mychecks:pair" }
        [[validators]]
        id = "py-raise"
        kind = "python"
        params = { callable = "mychecks:boom" }
        [[validators]]
        id = "py-import"
        kind = "python"
        params = { callable = "nosuchmodule.sub:fn" }
    """)
    assert r["echo"]["status"] == "passed" and r["echo"]["measured"]["match"] == "version 1.2"
    assert r["exit"]["status"] == "failed" and "exit code 3 (expected 0)" in r["exit"]["detail"]
    assert r["notfound"]["status"] == "error" and r["notfound"]["detail"] == "command not found: no-such-tool-xyz"
    assert r["shell"]["status"] == "passed"
    assert r["py-good"]["status"] == "passed" and r["py-good"]["measured"] == {"n": 5}
    assert "working on 5" in r["py-good"]["output_tail"]
    assert r["py-pair"]["status"] == "failed" and r["py-pair"]["detail"] == "disk is haunted"
    assert r["py-raise"]["status"] == "error" and "RuntimeError: kaput" in r["py-raise"]["detail"]
    assert r["py-import"]["status"] == "error" and "cannot import nosuchmodule.sub:fn" in r["py-import"]["detail"]


async def test_max_ms_baseline_fails_a_slow_pass_and_says_by_how_much(tmp_path):
    r, _, _ = await run_validators(tmp_path, """
        [[validators]]
        id = "slow"
        kind = "command"
        max_ms = 50
        params = { argv = ["sleep", "0.3"] }
    """)
    assert r["slow"]["status"] == "failed"
    assert "over the 50 ms baseline by" in r["slow"]["detail"] and r["slow"]["duration_ms"] >= 300


STUBBORN = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = os.fork()
if child == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    open(sys.argv[1] + ".child", "w").write(str(os.getpid()))
    time.sleep(600)
    os._exit(0)
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(600)
"""


@pytest.mark.fault
async def test_a_validator_that_ignores_sigterm_and_forks_is_killed_with_its_child(tmp_path):
    (tmp_path / "stubborn.py").write_text(STUBBORN)
    r, _, _ = await run_validators(tmp_path, f"""
        [[validators]]
        id = "hang"
        kind = "command"
        timeout_seconds = 1
        params = {{ argv = ["{sys.executable}", "stubborn.py", "{tmp_path / 'pid'}"] }}
    """)
    assert r["hang"]["status"] == "timeout" and "every process it started were killed" in r["hang"]["detail"]
    pids = [int((tmp_path / "pid").read_text()), int((tmp_path / "pid.child").read_text())]
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.fault
async def test_cancel_all_kills_running_validators_and_records_cancelled(tmp_path):
    validators = "".join(f"""
        [[validators]]
        id = "sleep{n}"
        kind = "command"
        timeout_seconds = 60
        params = {{ argv = ["sleep", "30"] }}
    """ for n in range(5))
    t0 = time.time() - 1  # create_time has a resolution of a clock tick
    engine = await Engine.open(load_plan(write_plan(tmp_path, validators)), record_start="test")
    async with engine.subscribe() as q:
        run = asyncio.create_task(engine.validation.run())
        started = 0
        while started < 5:
            ev = await asyncio.wait_for(q.get(), 10)
            started += ev.kind == "validator.started"
    def ours() -> list[psutil.Process]:
        # This test's sleeps: the test process is a child subreaper, so orphans of earlier tests may be
        # its children too; those started before this test are not counted.
        out = []
        for c in psutil.Process().children(recursive=True):
            try:
                if c.name() == "sleep" and c.create_time() >= t0 and c.status() != psutil.STATUS_ZOMBIE:
                    out.append(c)
            except psutil.NoSuchProcess:
                pass
        return out

    deadline = asyncio.get_running_loop().time() + 10
    while len(ours()) < 5 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)  # polling a condition with a deadline
    assert len(ours()) == 5
    assert engine.validation.cancel_all() == 5
    summary = await asyncio.wait_for(run, 5)
    await engine.close()
    assert {r["status"] for r in summary.results} == {"cancelled"}
    assert not ours()


async def test_batches_run_in_order_of_risk_and_a_critical_failure_stops_later_ones(tmp_path):
    r, summary, state = await run_validators(tmp_path, """
        [[validators]]
        id = "late"
        kind = "command"
        batch = "integration"
        risk = "high"
        params = { argv = ["true"] }
        [[validators]]
        id = "early-bad"
        kind = "command"
        batch = "system"
        risk = "low"
        critical = true
        params = { argv = ["false"] }
        [[validators]]
        id = "early-ok"
        kind = "command"
        batch = "system"
        risk = "low"
        params = { argv = ["true"] }
        [[validators]]
        id = "post-only"
        kind = "command"
        phases = ["post"]
        params = { argv = ["true"] }
    """)
    assert list(r) == ["early-bad", "early-ok", "late"]  # post-only is not in the preflight phase
    assert r["late"]["status"] == "skipped"
    assert "batch 'system' stopped the run: critical check early-bad failed" in r["late"]["detail"]
    assert not summary.ok and state.phase_runs.get("preflight")


@pytest.mark.fault
async def test_secrets_are_redacted_from_details_output_and_params(tmp_path):
    r, _, _ = await run_validators(tmp_path, """
        [[validators]]
        id = "leaky"
        kind = "command"
        params = { argv = ["sh", "-c", "echo connecting with password=hunter2; echo token: $API_TOKEN; echo postgres://bob:s3cr3t@db/x; exit 1"], env = { API_TOKEN = "tok-123456" } }
    """)
    out = r["leaky"]["output_tail"]
    assert "hunter2" not in out and "tok-123456" not in out and "s3cr3t" not in out
    assert "password=***" in out and "bob:***@" in out


def test_cli_json_and_junit_outputs_parse_back(tmp_path):
    import xml.etree.ElementTree as ET

    plan = write_plan(tmp_path, """
        [[validators]]
        id = "good"
        kind = "command"
        critical = true
        params = { argv = ["true"] }
        [[validators]]
        id = "bad"
        kind = "command"
        params = { argv = ["false"] }
    """)
    r = run_cli("validate", "--plan", str(plan), "--json")
    assert r.returncode == 0, r.stderr  # only a non-critical check failed
    doc = json.loads(r.stdout)  # one document
    rows = doc["results"]
    assert {x["id"]: x["status"] for x in rows} == {"good": "passed", "bad": "failed"}
    assert all(isinstance(x["duration_ms"], float) for x in rows)
    assert doc["ok"] is True and doc["counts"] == {"passed": 1, "failed": 1} and doc["not_passed"] == ["bad"]
    r = run_cli("validate", "--plan", str(plan), "--jsonl", "--strict")  # any failure fails; lines as they finish
    assert r.returncode == 1, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert {x["id"] for x in lines[:-1]} == {"good", "bad"} and lines[-1]["summary"]["ok"] is False
    r = run_cli("validate", "--plan", str(plan), "--strict")
    assert r.returncode == 1 and "--strict: check(s) not passed: bad" in r.stdout
    r = run_cli("validate", "--plan", str(plan), "--junit", str(tmp_path / "out.xml"))
    suite = ET.parse(tmp_path / "out.xml").getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    assert [c.get("name") for c in suite.iter("testcase")] == ["good", "bad"]
    r = run_cli("validate", "--plan", str(plan), "--only", "nope")
    assert r.returncode == 2 and "unknown validator(s): nope" in r.stderr


def test_cli_exit_1_when_a_critical_check_fails(tmp_path):
    plan = write_plan(tmp_path, """
        [[validators]]
        id = "crit"
        kind = "command"
        critical = true
        params = { argv = ["false"] }
    """)
    r = run_cli("validate", "--plan", str(plan))
    assert r.returncode == 1 and "critical check(s) not passed: crit" in r.stdout


@pytest.mark.fault
async def test_a_flood_of_output_is_kept_bounded(tmp_path):
    r, _, _ = await run_validators(tmp_path, """
        [[validators]]
        id = "flood"
        kind = "command"
        params = { argv = ["sh", "-c", "head -c 20000000 /dev/zero | tr '\\\\0' 'x'; echo; echo the end"] }
    """)
    f = r["flood"]
    assert f["status"] == "passed"
    assert len(f["output_tail"]) <= 4096 and f["output_tail"].rstrip().endswith("the end")
    assert f["measured"]["output_bytes_dropped"] > 19_000_000


async def test_an_sql_baseline_judges_the_query_not_the_connection_or_the_queue(tmp_path):
    """max_ms on an sql check judges the query's own time (executed and fetched): the check as a whole may take
    longer (connecting, waiting behind its batch) without failing, and a slow query still fails."""
    import duckdb

    db = tmp_path / "d.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE t AS SELECT range AS x FROM range(10)")
    con.close()
    r, summary, state = await run_validators(tmp_path, f"""
        [[validators]]
        id = "quick"
        kind = "sql"
        max_ms = 1000
        params = {{ dsn = "duckdb:{db}", query = "SELECT count(*) FROM t", expect_scalar = 10 }}
        [[validators]]
        id = "slow"
        kind = "sql"
        max_ms = 1
        params = {{ dsn = "duckdb:{db}", query = "SELECT count(*) FROM range(300000000) a", expect_rows = 1 }}
        """)
    quick, slow = state.validators["quick"], state.validators["slow"]
    assert quick.status == "passed"
    assert 0 < r["quick"]["measured"]["query_ms"] < r["quick"]["duration_ms"]  # the query alone, not the check
    assert slow.status == "failed" and "the query took" in slow.detail and "over the 1 ms baseline" in slow.detail


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_value = st.one_of(st.none(), st.integers(-3, 3), st.floats(-10, 10, allow_nan=False), st.sampled_from(["x", "1.5"]))
_rows = st.lists(st.tuples(st.integers(0, 12), st.sampled_from(["a", "b"]), _value, _value), max_size=30)


@settings(max_examples=60, deadline=None)
@given(_rows, _rows, st.floats(0, 0.5))
def test_the_pandas_compare_says_what_the_per_row_loop_said(rows1, rows2, tol):
    """The shadow compare joins and computes with pandas; on any input it reports what the old per-row loop
    (benchmarks/compare_loop.py) reported: the same status, detail and measured figures."""
    from benchmarks.compare_loop import compare_loop
    from mdm_console.validators.kinds.compare import compare

    cols = ["id", "seg", "bal", "par30"]
    args = (cols, rows1, cols, rows2, ["id", "seg"], {"bal": tol, "par30": 0.0})
    assert compare(*args) == compare_loop(*args)
