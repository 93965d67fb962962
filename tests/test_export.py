"""Exports read back against the store; the report holds the store's figures, escaped; a tampered
store gives a report that says where the chain breaks."""

from __future__ import annotations

import json

import duckdb
import pytest

from mdm_console.engine.core import Engine
from mdm_console.export.verify import verify_export
from mdm_console.export.files import ExportError
from mdm_console.export.report import md_text
from mdm_console.export.run import export_session
from mdm_console.plan.load import load_plan
from tests.conftest import run_cli
from tests.ui_helpers import write_plan


async def scripted_session(tmp_path, operator="Avery") -> Engine:
    """advance, override, alert, rollback, sign-offs — everything through the engine's own methods."""
    e = await Engine.open(load_plan(write_plan(tmp_path, min_stage=0)), operator=operator, record_start="test")
    await e.rollout.ensure_flag_file()
    await e.rollout.advance("storage")
    await e.rollout.advance("storage", override="vendor confirmed <script>alert(1)</script>")
    await e.record("alert.raised", None, {"alert": "error_rate:storage", "level": "critical",
                                          "message": "storage error_rate 7.00 % > critical level 5.00 %",
                                          "value": 0.07, "threshold": 0.05})
    await e.rollback.run(__import__("mdm_console.engine.rollback", fromlist=["x"]).RollbackRequest(
        "component", component="storage", reason="errors on canary"))
    await e.validation.run("preflight")
    await e.checklist.complete("pre.backup")
    await e.checklist.complete("pre.config")
    await e.checklist.sign("Ops", "Olga <b>bold</b>")
    return e


async def test_parquet_and_csv_equal_the_store_row_for_row(tmp_path):
    e = await scripted_session(tmp_path)
    store_rows = await e.store.acall(lambda con: con.execute(
        "SELECT seq, kind, component, operator, prev_hash, hash, body FROM events ORDER BY seq").fetchall())
    for fmt in ("parquet", "csv"):
        out = tmp_path / f"events.{fmt}"
        r = await export_session(e, fmt, out)
        reader = "read_parquet" if fmt == "parquet" else "read_csv_auto"
        rows = duckdb.connect().execute(f"SELECT seq, kind, component, operator, prev_hash, hash, body "
                                        f"FROM {reader}('{out}')").fetchall()
        assert rows == store_rows  # in seq order as the file holds them and r.events == len(store_rows)
        assert (tmp_path / f"events.metrics.{fmt}").exists()
        assert verify_export(out).ok
    await e.close()


async def test_jsonl_reverifies_and_an_edit_is_named(tmp_path):
    e = await scripted_session(tmp_path)
    out = tmp_path / "events.jsonl"
    await export_session(e, "jsonl", out)
    head = e.state.head_hash
    await e.close()
    v = verify_export(out)
    assert v.ok and v.head_hash == head
    lines = out.read_text().splitlines()
    doc = json.loads(lines[5])
    doc["operator"] = "mallory"
    lines[5] = json.dumps(doc)
    out.write_text("\n".join(lines) + "\n")
    v = verify_export(out)
    assert not v.ok and v.bad_seq == 6
    r = run_cli("verify-log", "--from-export", str(out))
    assert r.returncode == 1 and "seq 6" in r.stderr


async def test_the_report_holds_the_stores_figures_escaped(tmp_path):
    e = await scripted_session(tmp_path)
    md_path, html_path = tmp_path / "r.md", tmp_path / "r.html"
    await export_session(e, "md", md_path)
    await export_session(e, "html", html_path)
    finished = [ev for ev in await e.events() if ev.kind == "rollback.finished"][0]
    override = [ev for ev in await e.events() if ev.kind == "gate.override"][0]
    md, html = md_path.read_text(), html_path.read_text()
    assert f"{finished.payload['elapsed_s']:.2f} s" in md and "300 s (met)" in md
    assert "vendor confirmed" in md and "errors on canary" in md
    assert md_text("storage error_rate 7.00 % > critical level 5.00 %") in md
    assert f"Hash chain verified: {e.state.head_seq} events" in md and e.state.head_hash in md
    assert e.checklist.signoffs()[0].state_hash in md
    result = {r.id: r for r in e.state.validators.values()}["cfg"]
    assert f"{result.duration_ms:.1f} ms" in md
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html and "Olga &lt;b&gt;bold&lt;/b&gt;" in html
    assert "http" not in html.replace("https://flagd.dev", "")  # no network assets
    assert md_text(override.payload["reason"]) in md
    await e.close()


async def test_a_tampered_store_gives_a_report_that_shows_the_break(tmp_path):
    e = await scripted_session(tmp_path)
    db = e.store.path
    await e.close()
    con = duckdb.connect(str(db))
    con.execute("UPDATE events SET body = replace(body, 'errors on canary', 'all fine') WHERE kind = 'intent' "
                "AND body LIKE '%errors on canary%'")
    bad = con.execute("SELECT min(seq) FROM events WHERE body LIKE '%all fine%'").fetchone()[0]
    con.close()
    e = await Engine.open(load_plan(tmp_path / "mdm-plan.toml"), read_only=True)
    out = tmp_path / "r.html"
    r = await export_session(e, "html", out)
    await e.close()
    assert not r.chain_ok
    assert f"HASH CHAIN BROKEN at seq {bad}" in out.read_text() and "class='broken'" in out.read_text()


async def test_bad_targets_are_refused_and_leave_no_partial_file(tmp_path):
    e = await scripted_session(tmp_path)
    with pytest.raises(ExportError, match="does not exist"):
        await export_session(e, "jsonl", tmp_path / "nope" / "x.jsonl")
    existing = tmp_path / "x.html"
    existing.write_text("keep me")
    with pytest.raises(ExportError, match="use --force"):
        await export_session(e, "html", existing)
    assert existing.read_text() == "keep me"
    await export_session(e, "html", existing, force=True)
    assert "Session report" in existing.read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    await e.close()


def test_cli_export_of_an_empty_session(tmp_path):
    plan = write_plan(tmp_path)
    out = tmp_path / "empty.md"
    r = run_cli("export", "--format", "md", "--output", str(out), "--plan", str(plan))
    assert r.returncode == 0, r.stderr
    assert "Hash chain verified: 0 events" in out.read_text()
    r = run_cli("export", "--format", "md", "--output", str(out), "--plan", str(plan))
    assert r.returncode == 1 and "use --force" in r.stderr


@pytest.mark.fault
async def test_secrets_never_reach_the_log_or_any_export(tmp_path):
    plan = write_plan(tmp_path)
    plan.write_text(plan.read_text() + '''
[[validators]]
id = "leaky"
kind = "command"
phases = ["post"]
params = { argv = ["sh", "-c", "echo token=$API_TOKEN; echo password: hunter2-hunter2; exit 1"], env = { API_TOKEN = "tok-9f8e7d6c" } }
''')
    e = await Engine.open(load_plan(plan), record_start="test")
    await e.validation.run("post", ["leaky"])
    outs = {fmt: tmp_path / f"out.{fmt}" for fmt in ("jsonl", "csv", "md", "html")}
    for fmt, path in outs.items():
        await export_session(e, fmt, path)
    db_text = await e.store.acall(lambda con: " ".join(r[0] for r in con.execute("SELECT body FROM events").fetchall()))
    await e.close()
    for secret in ("tok-9f8e7d6c", "hunter2-hunter2"):
        assert secret not in db_text
        for fmt, path in outs.items():
            assert secret not in path.read_text(), fmt
    assert "token=***" in db_text
