"""Trust: what start-up and verify-log believe is what the chain vouches for; exports verify whole or say why not."""

from __future__ import annotations

import json

import duckdb
import pytest

from mdm_console.engine import core
from mdm_console.engine.core import Engine
from mdm_console.export.run import export_session
from mdm_console.plan.load import load_plan
from tests.conftest import run_cli
from tests.test_export import scripted_session


async def _session_with_checkpoint(plan_file, monkeypatch) -> tuple:
    monkeypatch.setattr(core, "CHECKPOINT_EVERY", 5)
    loaded = load_plan(plan_file)
    e = await Engine.open(loaded, record_start="test")
    for n in range(7):
        await e.record("checklist.note", None, {"item": "a", "text": f"n{n}"})
    await e.close()
    db = loaded.session_db
    con = duckdb.connect(str(db))
    seq, state = con.execute("SELECT seq, state FROM checkpoints ORDER BY seq DESC LIMIT 1").fetchone()
    con.close()
    return loaded, db, seq, state


async def test_a_forged_checkpoint_is_not_believed_and_verify_log_names_it(plan_file, monkeypatch):
    loaded, db, seq, state = await _session_with_checkpoint(plan_file, monkeypatch)
    doc = json.loads(state)
    doc["state"]["components"]["storage"].update(stage="full_rollout", percent=100)
    for item in doc["state"]["checklist"].values():
        item["status"] = "completed"
    con = duckdb.connect(str(db))
    con.execute("UPDATE checkpoints SET state = ? WHERE seq = ?", [json.dumps(doc), seq])
    con.close()

    r = run_cli("verify-log", "--plan", str(plan_file))
    assert r.returncode == 1
    assert f"checkpoint at seq {seq}" in r.stderr and "edited" in r.stderr

    status = run_cli("status", "--json", "--plan", str(plan_file))
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    storage = next(c for c in doc["components"] if c["id"] == "storage")
    assert storage["stage"] == "testing" and storage["percent"] == 0

    # A writable start discards it, and says so in the chain.
    e = await Engine.open(loaded, record_start="test")
    assert e.state.components["storage"].percent == 0
    assert e.report.from_checkpoint == 0
    discarded = [ev for ev in await e.events() if ev.kind == "checkpoint.discarded"]
    assert [ev.payload["at_seq"] for ev in discarded] == [seq]
    await e.close()
    assert run_cli("verify-log", "--plan", str(plan_file)).returncode == 0


async def test_an_unforged_checkpoint_is_used(plan_file, monkeypatch):
    loaded, db, seq, state = await _session_with_checkpoint(plan_file, monkeypatch)
    e = await Engine.open(loaded)
    assert e.report.from_checkpoint == seq and e.report.replayed < 8
    await e.close()
    assert run_cli("verify-log", "--plan", str(plan_file)).returncode == 0


async def test_a_checkpoint_row_the_chain_never_vouched_for_is_not_used(plan_file, monkeypatch):
    loaded, db, seq, state = await _session_with_checkpoint(plan_file, monkeypatch)
    con = duckdb.connect(str(db))
    # A copy of a real state under the head seq: its (seq, hash) match, no checkpoint event follows.
    head, head_hash = con.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    con.execute("INSERT INTO checkpoints VALUES (?, ?, ?, now())", [head, head_hash, state])
    con.close()
    e = await Engine.open(loaded, read_only=True)
    assert e.report.from_checkpoint == seq
    assert any(f"checkpoint at seq {head}: no checkpoint event" in n for n in e.report.notes)
    await e.close()


@pytest.fixture
async def jsonl_export(tmp_path):
    e = await scripted_session(tmp_path)
    out = tmp_path / "events.jsonl"
    await export_session(e, "jsonl", out)
    head = e.state.head_hash
    await e.close()
    return out, head


async def test_an_export_missing_its_first_lines_is_reported_partial(jsonl_export):
    out, head = jsonl_export
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[10:]) + "\n")
    r = run_cli("verify-log", "--from-export", str(out))
    assert r.returncode == 1
    assert "PARTIAL: starts at seq 11" in r.stdout and "partial export" in r.stderr
    assert run_cli("verify-log", "--from-export", str(out), "--allow-partial").returncode == 0


async def test_an_export_cut_at_the_end_fails_against_the_written_down_head(jsonl_export):
    out, head = jsonl_export
    assert run_cli("verify-log", "--from-export", str(out), "--expect-head", head).returncode == 0
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:-3]) + "\n")
    r = run_cli("verify-log", "--from-export", str(out), "--expect-head", head)
    assert r.returncode == 1 and "not in this chain" in r.stderr


@pytest.mark.parametrize("bad_line, words", [
    ("[1,2,3]", "line 4: not an exported event (a JSON list"),
    ('{"kind": "note", "prev_hash": "' + "0" * 64 + '", "hash": "' + "1" * 64 + '"}', "line 4: not an exported event (no integer seq)"),
    ("{not json", "line 4: not JSON"),
    ("[" * 100_000, "line 4: not JSON"),
])
async def test_a_malformed_export_line_is_named_with_exit_1(jsonl_export, bad_line, words):
    out, _ = jsonl_export
    lines = out.read_text().splitlines()
    lines[3] = bad_line
    out.write_text("\n".join(lines) + "\n")
    r = run_cli("verify-log", "--from-export", str(out))
    assert r.returncode == 1
    assert words in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("column, value", [("operator", "eve"), ("kind", "note"), ("payload", '{"x":1}'),
                                           ("os_user", "root2"), ("host", "elsewhere")])
async def test_every_csv_and_parquet_column_is_checked_against_the_hashed_body(tmp_path, fmt, column, value):
    e = await scripted_session(tmp_path)
    out = tmp_path / f"events.{fmt}"
    await export_session(e, fmt, out)
    await e.close()
    assert run_cli("verify-log", "--from-export", str(out)).returncode == 0
    con = duckdb.connect()
    reader = "read_parquet" if fmt == "parquet" else "read_csv_auto"
    con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}('{out}')")
    con.execute(f"UPDATE t SET {column} = ? WHERE seq = 3", [value])
    opts = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
    con.execute(f"COPY (SELECT * FROM t ORDER BY seq) TO '{out}' ({opts})")
    con.close()
    r = run_cli("verify-log", "--from-export", str(out))
    assert r.returncode == 1, r.stdout
    assert f"row 3: column {column} does not match the hashed body" in r.stderr


async def test_a_repeated_key_or_a_column_no_hash_covers_is_refused_named(jsonl_export, tmp_path):
    out, _ = jsonl_export
    lines = out.read_text().splitlines()
    assert '"operator":' in lines[3]
    lines[3] = '{"operator":"eve",' + lines[3][1:]  # a reader sees eve first; the parser keeps the last
    out.write_text("\n".join(lines) + "\n")
    r = run_cli("verify-log", "--from-export", str(out))
    assert r.returncode == 1 and "line 4: the key 'operator' appears twice" in r.stderr, r.stderr

    (tmp_path / "csv").mkdir()
    e = await scripted_session(tmp_path / "csv")
    csv = tmp_path / "events.csv"
    await export_session(e, "csv", csv)
    await e.close()
    rows = csv.read_text().splitlines()
    csv.write_text("\n".join([rows[0] + ",approved_by"] + [r + ",eve" for r in rows[1:]]) + "\n")
    r = run_cli("verify-log", "--from-export", str(csv))
    assert r.returncode == 1 and "a column no hash covers: approved_by" in r.stderr, r.stderr
