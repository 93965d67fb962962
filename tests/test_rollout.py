"""Stage machine on a real engine, real flag file and real DuckDB file."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from mdm_console.engine.core import Engine
from mdm_console.engine.effects import EffectError
from mdm_console.engine.gates import StageCounters
from mdm_console.engine.rollout import RolloutError
from mdm_console.plan.load import load_plan


class FakeHealth:
    """A health window whose counters a test sets; unset, a live feed that has seen only the old path."""

    def __init__(self):
        self.counters: dict[str, StageCounters] = {}

    def stage_counters(self, component, since):
        return self.counters.get(component, StageCounters(0, 0, 0, datetime.now(UTC)))


class Clock:
    def __init__(self):
        self.t = datetime.now(UTC)

    def __call__(self):
        return self.t


GOOD = StageCounters(1000, 998, 2, datetime.now(UTC))


@pytest.fixture
async def engine(plan_file):
    e = await Engine.open(load_plan(plan_file), record_start="test")
    e.health = FakeHealth()
    e.clock = Clock()
    await e.rollout.ensure_flag_file()
    yield e
    await e.close()


def flags(e):
    return json.loads(e.loaded.flag_file.read_text())["flags"]


async def kinds_since(e, seq):
    return [ev.kind for ev in await e.events(seq)]


async def test_first_start_writes_the_flag_file_at_zero(engine):
    f = flags(engine)
    assert set(f) == {"mdm.new_backend", "mdm.new_features"}
    assert all(d["defaultVariant"] == "off" and "targeting" not in d for d in f.values())
    assert engine.state.flags_sha256 is not None
    assert not (await engine.rollout.check_drift()).drifted


async def test_advance_with_gates_holding_moves_the_flag(engine):
    engine.clock.t += timedelta(seconds=601)
    head = engine.state.head_seq
    r = await engine.rollout.advance("storage", reason="go")
    assert r.done and not r.failing
    assert engine.state.components["storage"].stage == "canary"
    f = flags(engine)["mdm.new_backend"]
    assert f["targeting"] == {"fractional": [["on", 5], ["off", 95]]}
    assert f["metadata"]["stage"] == "canary" and f["metadata"]["percent"] == 5
    kinds = await kinds_since(engine, head)
    assert kinds == ["point.created", "intent", "stage.changed", "flags.written", "intent.done"]
    intent = [ev for ev in await engine.events(head) if ev.kind == "intent"][0]
    assert f["metadata"]["seq"] == intent.seq
    changed = [ev for ev in await engine.events(head) if ev.kind == "stage.changed"][0]
    assert changed.payload["from"] == "testing" and changed.payload["reason"] == "go"
    assert {g["name"] for g in changed.payload["gates"]} == {"stage_time", "alerts", "feed", "success_rate",
                                                             "error_rate", "operations"}


async def test_blocked_advance_needs_a_reason_and_the_override_is_recorded(engine):
    engine.clock.t += timedelta(seconds=601)
    await engine.rollout.advance("storage")
    before = engine.loaded.flag_file.read_bytes()
    engine.health.counters["storage"] = StageCounters(500, 450, 50, engine.now())  # 10 % errors
    r = await engine.rollout.advance("storage")
    assert r.blocked and {g.name for g in r.failing} == {"success_rate", "error_rate"}
    assert engine.state.components["storage"].stage == "canary"
    assert engine.loaded.flag_file.read_bytes() == before
    assert (await engine.events(engine.state.head_seq - 1))[-1].kind == "advance.refused"

    r = await engine.rollout.advance("storage", override="   ")  # blank is no reason
    assert r.blocked
    head = engine.state.head_seq
    r = await engine.rollout.advance("storage", override="vendor confirmed the errors are a test tenant")
    assert r.done and engine.state.components["storage"].stage == "early_adopters"
    events = await engine.events(head)
    override = next(ev for ev in events if ev.kind == "gate.override")
    assert override.payload["reason"] == "vendor confirmed the errors are a test tenant"
    assert {g["name"] for g in override.payload["failing"]} == {"success_rate", "error_rate"}
    changed = next(ev for ev in events if ev.kind == "stage.changed")
    assert changed.payload["override"] == "vendor confirmed the errors are a test tenant"


async def test_dry_run_changes_nothing_and_shows_the_flag_diff(engine):
    engine.clock.t += timedelta(seconds=601)
    head, before = engine.state.head_seq, engine.loaded.flag_file.read_bytes()
    r = await engine.rollout.advance("storage", dry_run=True)
    assert r.dry_run and not r.done and '"fractional"' in r.flag_diff
    assert engine.state.head_seq == head and engine.loaded.flag_file.read_bytes() == before


async def test_step_back_goes_one_stage_down(engine):
    await engine.rollout.advance("storage", override="t")
    await engine.rollout.advance("storage", override="t")
    ch = await engine.rollout.step_back("storage", reason="latency")
    assert (ch.from_stage, ch.to_stage) == ("early_adopters", "canary")
    assert flags(engine)["mdm.new_backend"]["metadata"]["stage"] == "canary"
    await engine.rollout.step_back("storage")
    with pytest.raises(RolloutError, match="first stage"):
        await engine.rollout.step_back("storage")


async def test_bad_requests_are_refused_clearly(engine):
    with pytest.raises(RolloutError, match="unknown component 'nope'.*storage, features"):
        await engine.rollout.advance("nope")
    for _ in range(5):
        await engine.rollout.advance("features", override="walk the ladder")
    assert engine.state.components["features"].stage == "complete"
    with pytest.raises(RolloutError, match="already at the last stage 'complete'"):
        await engine.rollout.advance("features", override="x")


async def test_auto_advance_waits_for_min_stage_time_and_stops_at_full_rollout(engine):
    await engine.rollout.set_auto_advance("storage", True)
    engine.health.counters["storage"] = GOOD
    assert await engine.rollout.auto_tick() == []  # 0 s in stage
    engine.clock.t += timedelta(seconds=599)
    assert await engine.rollout.auto_tick() == []
    engine.clock.t += timedelta(seconds=2)
    [r] = await engine.rollout.auto_tick()
    assert (r.from_stage, r.to_stage) == ("testing", "canary")
    for _ in range(10):
        engine.clock.t += timedelta(seconds=601)
        engine.health.counters["storage"] = StageCounters(1000, 1000, 0, engine.now())
        await engine.rollout.auto_tick()
    assert engine.state.components["storage"].stage == "full_rollout"  # never 'complete' without a person
    await engine.rollout.set_auto_advance("storage", False)
    assert not engine.state.components["storage"].auto_advance


async def test_drift_is_noticed_within_two_seconds_and_never_overwritten(engine):
    stop = asyncio.Event()
    ready = asyncio.Event()
    watcher = asyncio.create_task(engine.rollout.watch_drift(stop, ready=ready))
    await asyncio.wait_for(ready.wait(), 10)  # it reports only changes after it began
    async with engine.subscribe() as q:
        doc = json.loads(engine.loaded.flag_file.read_text())
        doc["flags"]["mdm.new_backend"]["defaultVariant"] = "on"
        engine.loaded.flag_file.write_text(json.dumps(doc))
        ev = await asyncio.wait_for(q.get(), timeout=2.0)
    assert ev.kind == "alert.raised" and ev.payload["alert"] == "flags.drift"
    assert "mdm.new_backend gives 100 %, recorded 0 %" in ev.payload["message"]
    edited = engine.loaded.flag_file.read_bytes()
    with pytest.raises(RolloutError, match="changed outside the console"):
        await engine.rollout.advance("storage", override="x")
    assert engine.loaded.flag_file.read_bytes() == edited
    with pytest.raises(RolloutError, match="needs a reason"):
        await engine.rollout.restore_flags("")
    status = await engine.rollout.restore_flags("hand edit during the bridge call")
    assert not status.drifted and "flags.drift" not in engine.state.alerts
    assert flags(engine)["mdm.new_backend"]["defaultVariant"] == "off"
    stop.set()
    await asyncio.wait_for(watcher, 5)


async def test_deleted_flag_file_is_drift(engine):
    engine.loaded.flag_file.unlink()
    status = await engine.rollout.check_drift()
    assert status.drifted and "was deleted" in status.detail
    assert engine.state.alerts["flags.drift"]["level"] == "critical"


@pytest.mark.fault
async def test_a_failing_write_leaves_the_previous_flag_file_and_records_why(engine, monkeypatch):
    before = engine.loaded.flag_file.read_bytes()
    real_replace = os.replace

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(EffectError, match="No space left on device"):
        await engine.rollout.advance("storage", override="x")
    monkeypatch.setattr(os, "replace", real_replace)
    assert engine.loaded.flag_file.read_bytes() == before
    assert [p.name for p in engine.loaded.flag_file.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert engine.state.components["storage"].stage == "testing"
    assert not engine.state.open_intents
    last = await engine.events(engine.state.head_seq - 2)
    assert [e.kind for e in last] == ["effect.failed", "intent.done"]
    assert "No space left" in last[0].payload["error"] and last[1].payload["resolution"] == "reverted"


async def test_points_are_taken_before_every_change_with_sha256(engine):
    n = len(engine.state.points)
    await engine.rollout.advance("storage", override="x")
    assert len(engine.state.points) == n + 1
    point = list(engine.state.points.values())[-1]
    assert point["auto"] and point["stages"]["storage"]["stage"] == "testing"
    labels = {f["label"]: f for f in point["files"]}
    assert set(labels) == {"flags", "config/app.toml"}
    assert len(labels["flags"]["sha256"]) == 64
    assert os.stat(labels["config/app.toml"]["stored"]).st_mode & 0o077 == 0


async def test_auto_advance_holds_while_the_flag_file_has_drifted(engine):
    await engine.rollout.set_auto_advance("storage", True)
    engine.health.counters["storage"] = GOOD
    engine.clock.t += timedelta(seconds=601)
    engine.loaded.flag_file.write_text(engine.loaded.flag_file.read_text().replace('"off"', '"on"', 1))
    await engine.rollout.check_drift()
    assert await engine.rollout.auto_tick() == []
    assert engine.state.components["storage"].stage == "testing"
    await engine.rollout.restore_flags("drift drill over")
    [r] = await engine.rollout.auto_tick()
    assert r.to_stage == "canary"
