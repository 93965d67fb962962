"""Rollback kinds on real files, dry runs, bad points, and crash-safe intents."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from mdm_console.engine import effects
from mdm_console.engine.core import Engine
from mdm_console.engine.rollback import RollbackError, RollbackRequest
from mdm_console.plan.load import load_plan
from tests.conftest import BASE_PLAN, run_cli

ROLLBACK_VALIDATORS = """
[[validators]]
id = "flags.ok"
kind = "flags"
phases = ["rollback"]
critical = true

[[validators]]
id = "config.parses"
kind = "file"
phases = ["rollback"]
params = { path = "config/app.toml", parse = "toml" }
"""


@pytest.fixture
def plan_path(plan_file):
    plan_file.write_text(BASE_PLAN + ROLLBACK_VALIDATORS)
    return plan_file


@pytest.fixture
async def engine(plan_path):
    e = await Engine.open(load_plan(plan_path), record_start="test")
    await e.rollout.ensure_flag_file()
    yield e
    await e.close()


def stage(e, cid):
    return e.state.components[cid].stage


def flag_pct(e, key):
    f = json.loads(e.loaded.flag_file.read_text())["flags"][key]
    return f["metadata"]["percent"]


async def walk(e, cid, n):
    for _ in range(n):
        await e.rollout.advance(cid, override="test walk")


async def test_full_rollback_restores_config_and_zeroes_every_flag(engine):
    cfg = engine.loaded.snapshot_files[0]
    original = cfg.read_text()
    await walk(engine, "storage", 3)
    await walk(engine, "features", 1)
    cfg.write_text(original + 'pool = 99\n')

    plan = await engine.rollback.plan(RollbackRequest("full"))
    assert {(c.component, c.to_stage) for c in plan.changes} == {("storage", "testing"), ("features", "testing")}
    assert [f["label"] for f in plan.restore] == ["config/app.toml"]
    assert "-pool = 99" in plan.file_diffs["config/app.toml"]
    assert cfg.read_text() == original + 'pool = 99\n'  # the dry run changed nothing

    result = await engine.rollback.run(RollbackRequest("full", reason="errors on canary"))
    assert cfg.read_text() == original
    assert stage(engine, "storage") == stage(engine, "features") == "testing"
    assert flag_pct(engine, "mdm.new_backend") == flag_pct(engine, "mdm.new_features") == 0
    assert result.verified and result.within_target and result.flags_s is not None
    assert {r["id"] for r in result.verification.results} == {"flags.ok", "config.parses"}
    finished = (await engine.events(engine.state.head_seq - 1))[-1]
    assert finished.kind == "rollback.finished"
    assert finished.payload["target_s"] == 300 and finished.payload["elapsed_s"] > 0
    assert finished.payload["verification"]["ok"] is True
    changed = [ev for ev in await engine.events(finished.seq - 30) if ev.kind == "stage.changed"][-1]
    assert changed.payload["how"] == "rollback" and changed.payload["rollback"]["kind"] == "full"


async def test_component_rollback_to_an_earlier_stage_or_zero(engine):
    await walk(engine, "storage", 3)
    await engine.rollback.run(RollbackRequest("component", component="storage", to_stage="canary"))
    assert stage(engine, "storage") == "canary" and flag_pct(engine, "mdm.new_backend") == 5
    with pytest.raises(RollbackError, match="not an earlier stage"):
        await engine.rollback.plan(RollbackRequest("component", component="storage", to_stage="full_rollout"))
    with pytest.raises(RollbackError, match="unknown stage 'nope'"):
        await engine.rollback.plan(RollbackRequest("component", component="storage", to_stage="nope"))
    with pytest.raises(RollbackError, match="unknown component"):
        await engine.rollback.plan(RollbackRequest("component", component="zzz"))
    await engine.rollback.run(RollbackRequest("component", component="storage"))
    assert stage(engine, "storage") == "testing" and flag_pct(engine, "mdm.new_backend") == 0


async def test_flags_rollback_to_a_point_leaves_config_alone(engine):
    await walk(engine, "storage", 1)
    point = list(engine.state.points.values())[-1]  # taken before that advance: storage at testing
    await walk(engine, "storage", 2)
    cfg = engine.loaded.snapshot_files[0]
    cfg.write_text(cfg.read_text() + "x = 1\n")
    edited = cfg.read_text()
    await engine.rollback.run(RollbackRequest("flags", point=point["id"]))
    assert stage(engine, "storage") == "testing" and flag_pct(engine, "mdm.new_backend") == 0
    assert cfg.read_text() == edited


async def test_config_rollback_restores_files_only(engine):
    await walk(engine, "storage", 2)
    cfg = engine.loaded.snapshot_files[0]
    original = cfg.read_text()
    flags_before = engine.loaded.flag_file.read_bytes()
    cfg.write_text("broken = [")
    await engine.rollback.run(RollbackRequest("config"))
    assert cfg.read_text() == original
    assert engine.loaded.flag_file.read_bytes() == flags_before
    assert stage(engine, "storage") == "early_adopters"


async def test_missing_or_tampered_points_are_refused_with_an_event(engine):
    with pytest.raises(RollbackError, match="no rollback point 'pt-9999'"):
        await engine.rollback.run(RollbackRequest("flags", point="pt-9999"))
    assert (await engine.events(engine.state.head_seq - 1))[-1].kind == "rollback.refused"
    await walk(engine, "storage", 1)
    point = list(engine.state.points.values())[-1]
    stored = next(f["stored"] for f in point["files"] if f["label"] == "config/app.toml")
    with open(stored, "a") as fh:
        fh.write("tampered\n")
    before = engine.loaded.snapshot_files[0].read_text()
    with pytest.raises(RollbackError, match="cannot be trusted: config/app.toml: the stored copy has sha256"):
        await engine.rollback.run(RollbackRequest("config", point=point["id"]))
    assert engine.loaded.snapshot_files[0].read_text() == before


CRASHER = textwrap.dedent("""
    import asyncio, sys
    from mdm_console.engine.core import Engine
    from mdm_console.plan.load import load_plan
    async def go():
        e = await Engine.open(load_plan(sys.argv[1]), record_start="crash-test")
        await e.rollout.ensure_flag_file()
        await e.rollout.advance("storage", override="crash test")
    asyncio.run(go())
""")


@pytest.mark.fault
@pytest.mark.parametrize("fault,on_disk,resolution", [
    ("effects.after_write", "complete", "finish"),
    ("effects.before_write", "not made", "revert"),
])
async def test_an_intent_cut_by_kill_9_is_reported_and_reconciled(plan_path, fault, on_disk, resolution):
    e = await Engine.open(load_plan(plan_path), record_start="test")
    await e.rollout.ensure_flag_file()  # the session's first flag file, written before the fault run
    await e.close()
    proc = subprocess.run([sys.executable, "-c", CRASHER, str(plan_path)], env={
        **__import__("os").environ, "MDM_FAULT_POINT": fault}, capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr

    e = await Engine.open(load_plan(plan_path))
    assert e.report.chain_ok
    [payload] = e.state.open_intents.values()
    assert any("did not finish" in n for n in e.report.notes)
    info = effects.inspect(e, payload)
    assert info.effect_on_disk == on_disk
    flags = json.loads(e.loaded.flag_file.read_text())["flags"]["mdm.new_backend"]
    assert flags["metadata"]["stage"] == ("canary" if on_disk == "complete" else "testing")
    with pytest.raises(Exception, match="did not finish"):
        await e.rollout.advance("storage", override="blocked until reconciled")
    await e.close()

    r = run_cli("reconcile", "--plan", str(plan_path))
    assert r.returncode == 1 and f"the change is {on_disk}; suggested: {resolution}" in r.stdout
    r = run_cli("reconcile", "--plan", str(plan_path), "--yes")
    assert r.returncode == 0, r.stderr
    e = await Engine.open(load_plan(plan_path))
    assert not e.state.open_intents
    assert e.state.components["storage"].stage == ("canary" if resolution == "finish" else "testing")
    assert not (await e.rollout.check_drift(record=False)).drifted
    assert (await e.verify()).ok
    await e.close()


def test_cli_rollback_codes(plan_path):
    r = run_cli("rollback", "--kind", "full", "--plan", str(plan_path))
    assert r.returncode == 2 and "--yes" in r.stderr
    r = run_cli("rollback", "--kind", "component", "--component", "nope", "--yes", "--plan", str(plan_path))
    assert r.returncode == 1 and "unknown component 'nope'" in r.stderr
    r = run_cli("advance", "storage", "--override", "t", "--plan", str(plan_path))
    assert r.returncode == 0, r.stderr
    r = run_cli("rollback", "--kind", "component", "--component", "storage", "--dry-run", "--plan", str(plan_path))
    assert r.returncode == 0 and "storage: canary 5 % -> testing 0 %" in r.stdout and "dry run" in r.stdout
    r = run_cli("rollback", "--kind", "component", "--component", "storage", "--yes", "--plan", str(plan_path))
    assert r.returncode == 0, r.stderr
    assert "target 300 s: met" in r.stdout and "verification: 2 passed" in r.stdout
    r = run_cli("points", "--plan", str(plan_path))
    assert r.returncode == 0 and "before component rollback" in r.stdout
    r = run_cli("points", "--take", "before lunch", "--plan", str(plan_path))
    assert r.returncode == 0 and "took point" in r.stdout
    listed = [line.split()[0] for line in r.stdout.splitlines() if line.startswith("pt-")]
    assert "before lunch" in r.stdout.splitlines()[1] and listed == sorted(listed, reverse=True)  # newest first
    # Usage errors are exit 2, before anything is opened; a rollback that changes nothing records nothing.
    r = run_cli("rollback", "--kind", "component", "--yes", "--plan", str(plan_path))
    assert r.returncode == 2 and "needs --component C" in r.stderr
    head = json.loads(run_cli("status", "--json", "--plan", str(plan_path)).stdout)["head"]["seq"]
    for kind in ("full", "flags"):
        r = run_cli("rollback", "--kind", kind, "--yes", "--plan", str(plan_path))
        assert r.returncode == 0 and r.stdout.startswith("nothing to do:"), (kind, r.stdout, r.stderr)
        assert "flag file written" not in r.stdout
    assert json.loads(run_cli("status", "--json", "--plan", str(plan_path)).stdout)["head"]["seq"] == head


def test_cli_advance_blocked_names_each_failing_gate(plan_path):
    r = run_cli("advance", "storage", "--plan", str(plan_path))
    assert r.returncode == 1
    assert "advance blocked by 2 gate(s): stage_time 0 s in stage, needs 600 s; feed no metric feed is running" \
        in r.stderr  # the plan has no feed: no blind canary without an override
    r = run_cli("advance", "nope", "--plan", str(plan_path))
    assert r.returncode == 1 and "unknown component 'nope'" in r.stderr
