"""The real `mdm-console` process: help, init, status, verify-log, the lock."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import duckdb
import pytest

from mdm_console.cli.main import build_parser
from tests.conftest import holding, run_cli


def subcommands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)


@pytest.mark.parametrize("name", subcommands())
def test_every_subcommand_has_help(name):
    r = run_cli(name, "--help")
    assert r.returncode == 0 and "--plan" in r.stdout and "usage: mdm-console " + name in r.stdout


def test_init_writes_a_plan_that_validates_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "cut"
    r = run_cli("init", str(target))
    assert r.returncode == 0, r.stderr
    plan = target / "mdm-plan.toml"
    assert plan.stat().st_mode & 0o777 == 0o644
    r = run_cli("status", "--json", "--plan", str(plan))
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert [c["id"] for c in s["components"]] == ["storage", "api"] and s["phase"] == "preparation"
    before = plan.read_bytes()
    r = run_cli("init", str(target))
    assert r.returncode == 1 and "refusing to overwrite" in r.stderr
    assert plan.read_bytes() == before


def test_status_on_the_demo_and_options_before_or_after_the_name(tmp_path):
    r1 = run_cli("status", "--json", "--operator", "ann")
    r2 = run_cli("--operator", "ann", "status", "--json")
    assert r1.returncode == r2.returncode == 0
    s = json.loads(r1.stdout)
    assert s["plan"]["demo"] is True
    assert [c["id"] for c in s["components"]] == ["config", "storage", "features", "registration"]
    assert all(c["stage"] == "testing" and c["percent"] == 0 for c in s["components"])
    assert s["checklist"]["items"] == 57 and len(s["signoffs"]) == 5
    assert json.loads(r2.stdout)["components"] == s["components"]


def test_plan_found_in_working_directory(plan_file):
    r = run_cli("status", "--json", cwd=plan_file.parent)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["plan"]["name"] == "Test cutover"


def _record(plan_file, n: int) -> None:
    code = textwrap.dedent(f"""
        import asyncio
        from mdm_console.engine.core import Engine
        from mdm_console.plan.load import load_plan
        async def go():
            e = await Engine.open(load_plan({str(plan_file)!r}), record_start="test")
            for i in range({n}):
                await e.record("checklist.note", None, {{"item": "a", "text": str(i)}})
            await e.close()
        asyncio.run(go())
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_verify_log_prints_head_and_names_the_first_bad_seq(plan_file):
    _record(plan_file, 5)
    r = run_cli("verify-log", "--plan", str(plan_file))
    assert r.returncode == 0 and r.stdout.startswith("chain ok: 6 events, head seq 6 hash ")
    con = duckdb.connect(str(plan_file.parent / "state" / "session.duckdb"))
    con.execute("UPDATE events SET body = replace(body, '\"text\":\"2\"', '\"text\":\"9\"') WHERE seq = 4")
    con.close()
    r = run_cli("verify-log", "--plan", str(plan_file))
    assert r.returncode == 1
    assert "chain BROKEN at seq 4: hash does not match the event" in r.stderr


def test_an_edited_newest_event_whose_time_is_gone_is_named_not_a_crash(plan_file):
    _record(plan_file, 2)
    con = duckdb.connect(str(plan_file.parent / "state" / "session.duckdb"))
    con.execute("UPDATE events SET body = regexp_replace(body, '\"ts\":\"[^\"]*\",?', '') WHERE seq = 3")
    con.close()
    for command, said in (("verify-log", "chain BROKEN at seq 3"), ("status", "note: hash chain broken at seq 3")):
        r = run_cli(command, "--plan", str(plan_file))
        assert "unexpected error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert said in r.stderr, r.stderr
    assert run_cli("verify-log", "--plan", str(plan_file)).returncode == 1


@pytest.mark.fault
def test_a_second_writer_exits_3_naming_the_holder_and_readers_still_work(plan_file):
    with holding(plan_file) as holder:
        r = run_cli("--plan", str(plan_file))  # the console wants to write
        assert r.returncode == 3
        assert f"is held by PID {holder.pid}" in r.stderr and "python" in r.stderr
        r = run_cli("status", "--json", "--plan", str(plan_file))
        assert r.returncode == 0, r.stderr
        assert f"held by PID {holder.pid}" in r.stderr and "read from a copy" in r.stderr
        assert json.loads(r.stdout)["head"]["seq"] == 1


def test_unknown_subcommand_is_usage_error():
    r = run_cli("frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr
