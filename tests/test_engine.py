"""Engine: projection rebuilt from events (with and without checkpoints), plan changes, broken chains."""

from __future__ import annotations

import duckdb
import pytest

from mdm_console.engine import core
from mdm_console.engine.core import Engine
from mdm_console.engine.phases import derive_phase
from mdm_console.engine.state import SessionState
from mdm_console.plan.load import load_plan
from mdm_console.store.errors import ChainBroken


def stage_event(comp: str, to: str, pct: float) -> tuple:
    return ("stage.changed", comp, {"component": comp, "from": "testing", "to": to, "from_percent": 0,
                                    "to_percent": pct, "how": "advance", "reason": "", "intent": "i-test",
                                    "flag_seq": 1})


async def test_state_is_rebuilt_from_the_log(plan_file):
    loaded = load_plan(plan_file)
    engine = await Engine.open(loaded, record_start="test")
    await engine.record(*stage_event("storage", "canary", 5))
    await engine.record("checklist.status", None, {"item": "a", "status": "completed"})
    await engine.record("checklist.note", None, {"item": "a", "text": "done by hand"})
    before = engine.state.to_json()
    await engine.store.acall(lambda con: con.execute("DELETE FROM checkpoints"))
    await engine.store.acall(lambda con: None)
    engine.store.close()  # no checkpoint on this close: the reopen must replay everything

    again = await Engine.open(loaded)
    assert again.report.from_checkpoint == 0 and again.report.replayed == 4
    assert again.state.to_json() == before
    assert again.state.components["storage"].stage == "canary"
    assert again.state.checklist["a"].notes[0]["by"] == "tester"
    assert again.phase == "migration"
    await again.close()


async def test_checkpoint_replay_equals_full_replay(plan_file, monkeypatch):
    monkeypatch.setattr(core, "CHECKPOINT_EVERY", 5)
    loaded = load_plan(plan_file)
    engine = await Engine.open(loaded, record_start="test")
    for n in range(12):
        await engine.record(*stage_event("features", "canary", n))
    full = engine.state.to_json()
    engine.store.close()

    again = await Engine.open(loaded)
    assert again.report.from_checkpoint > 0 and again.report.replayed < 12
    assert again.state.to_json() == full
    await again.close()


async def test_subscribers_see_recorded_events(plan_file):
    engine = await Engine.open(load_plan(plan_file), record_start="test")
    async with engine.subscribe() as q:
        ev = await engine.record("checklist.note", None, {"item": "b", "text": "x"})
        assert (await q.get()).seq == ev.seq
    await engine.close()


async def test_changed_plan_is_recorded_and_reported(plan_file):
    engine = await Engine.open(load_plan(plan_file), record_start="test")
    old = engine.loaded.sha256
    await engine.close()
    plan_file.write_text(plan_file.read_text().replace("Test cutover", "Test cutover v2"))
    engine = await Engine.open(load_plan(plan_file))
    assert engine.report.plan_changed == (old, engine.loaded.sha256)
    events = await engine.events()
    assert events[-1].kind == "plan.changed" and events[-1].payload["old_sha256"] == old
    await engine.close()


async def test_broken_chain_is_reported_and_never_appended_to(plan_file):
    loaded = load_plan(plan_file)
    engine = await Engine.open(loaded, record_start="test")
    await engine.record("checklist.note", None, {"item": "a", "text": "original"})
    await engine.close()
    con = duckdb.connect(str(loaded.session_db))
    con.execute("UPDATE events SET body = replace(body, 'original', 'forged') WHERE seq = 2")
    con.close()

    engine = await Engine.open(loaded, record_start="test")
    assert not engine.report.chain_ok and engine.read_only
    assert any("seq 2" in n for n in engine.report.notes)
    with pytest.raises(ChainBroken):
        await engine.record("checklist.note", None, {"item": "a", "text": "more"})
    await engine.close()
    con = duckdb.connect(str(loaded.session_db), read_only=True)
    assert con.execute("SELECT max(seq) FROM events").fetchone()[0] == 2
    con.close()


@pytest.mark.parametrize("stages,signed,preflight,expected", [
    ({}, False, False, "preparation"),
    ({}, False, True, "validation"),
    ({"storage": ("canary", 5)}, False, True, "migration"),
    ({"storage": ("full_rollout", 100), "features": ("complete", 100)}, False, True, "verification"),
    ({"storage": ("complete", 100), "features": ("complete", 100)}, False, True, "verification"),
    ({"storage": ("complete", 100), "features": ("complete", 100)}, True, True, "finalization"),
])
def test_phase_is_derived(plan_file, stages, signed, preflight, expected):
    plan = load_plan(plan_file).plan
    state = SessionState.initial(plan)
    for cid, (stage, pct) in stages.items():
        state.components[cid].stage, state.components[cid].percent = stage, pct
    if preflight:
        state.phase_runs["preflight"] = 1
    if signed:
        state.signoffs["Final Approval"] = object()
    assert derive_phase(plan, state) == expected
