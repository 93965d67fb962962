"""Trust: exports end in one line or a whole file (never a partial one); a crash leaves no litter and no false alarm."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mdm_console.engine.core import Engine
from mdm_console.engine.rollback import RollbackRequest
from mdm_console.plan.load import load_plan
from tests.conftest import BASE_PLAN, run_cli
from tests.test_rollback import CRASHER, ROLLBACK_VALIDATORS


@pytest.fixture
def plan_path(plan_file):
    plan_file.write_text(BASE_PLAN + ROLLBACK_VALIDATORS)
    assert run_cli("advance", "storage", "--override", "t", "--plan", str(plan_file)).returncode == 0
    return plan_file


def test_an_export_to_a_directory_is_one_line_and_exit_1(plan_path, tmp_path):
    out = tmp_path / "a-dir"
    out.mkdir()
    r = run_cli("export", "--format", "jsonl", "--output", str(out), "--force", "--plan", str(plan_path))
    assert r.returncode == 1 and "is a directory" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_failing_companion_file_leaves_no_events_file(plan_path, tmp_path):
    (tmp_path / "out.metrics.csv").mkdir()  # the aggregates' file cannot be put in place
    r = run_cli("export", "--format", "csv", "--output", str(tmp_path / "out.csv"), "--force", "--plan", str(plan_path))
    assert r.returncode == 1 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_an_export_never_replaces_the_session_db(plan_path):
    db = plan_path.parent / "state" / "session.duckdb"
    before = db.read_bytes()
    r = run_cli("export", "--format", "jsonl", "--output", str(db), "--force", "--plan", str(plan_path))
    assert r.returncode == 1 and "is the session db" in r.stderr
    assert db.read_bytes() == before


def test_temp_files_a_killed_flag_write_left_are_removed_at_start(plan_path):
    state = plan_path.parent / "state"
    stale = state / ".flags.flagd.json.k3j2h1.tmp"
    stale.write_text("{half")
    other = state / ".someone-elses.tmp"
    other.write_text("keep")
    assert run_cli("advance", "features", "--override", "t", "--plan", str(plan_path)).returncode == 0
    assert not stale.exists() and other.exists()


@pytest.mark.fault
async def test_a_crash_between_write_and_done_raises_no_false_drift(plan_path):
    proc = subprocess.run([sys.executable, "-c", CRASHER.replace('"storage"', '"features"'), str(plan_path)],
                          env={**os.environ, "MDM_FAULT_POINT": "effects.after_write"}, capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    e = await Engine.open(load_plan(plan_path))
    status = await e.rollout.ensure_flag_file()
    assert not status.drifted and "unfinished change" in status.detail
    assert "flags.drift" not in e.state.alerts
    await e.close()


async def test_a_flags_rollback_that_undoes_a_hand_edit_clears_the_drift_alert(plan_path):
    e = await Engine.open(load_plan(plan_path))
    await e.rollout.ensure_flag_file()
    flag = e.loaded.flag_file
    flag.write_text(flag.read_text().replace('"percent": 5', '"percent": 50'))
    await e.rollout.check_drift()
    assert "flags.drift" in e.state.alerts
    await e.rollback.run(RollbackRequest("flags", reason="undo the hand edit"))
    assert "flags.drift" not in e.state.alerts
    assert not (await e.rollout.check_drift(record=False)).drifted
    await e.close()
