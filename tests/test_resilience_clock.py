"""Resilience: a stepped wall clock is detected, recorded and shown; ages use the monotonic clock; the
stage-time gate does not pass across a step. The step is simulated in-process (the wall clock the code
reads is shifted; the monotonic clock is left alone), which is what a real step looks like to it."""

from __future__ import annotations

import time as real_time
from datetime import UTC, datetime, timedelta

from mdm_console.engine import live
from mdm_console.engine.core import Engine
from mdm_console.engine.live import LiveMonitor
from mdm_console.feeds import base
from mdm_console.feeds.base import FeedStatus
from mdm_console.plan.load import load_plan


class ShiftedClock:
    """The `time` module as the code sees it, with the wall clock `offset` seconds off."""

    def __init__(self):
        self.offset = 0.0

    def time(self) -> float:
        return real_time.time() + self.offset

    def monotonic(self) -> float:
        return real_time.monotonic()

    def __getattr__(self, name):
        return getattr(real_time, name)


def test_a_feed_age_does_not_go_negative_when_the_clock_steps_back(monkeypatch):
    clock = ShiftedClock()
    monkeypatch.setattr(base, "time", clock)
    st = FeedStatus("jsonl ops.jsonl", 1.0)
    st.got_data()
    clock.offset = -3600  # stepped back an hour
    assert 0 <= st.age(clock.time()) < 5
    assert st.stale_reason(clock.time()) is None
    clock.offset = 3600 * 24 * 365  # a year ahead: fresh data is not stale at once either
    assert st.stale_reason(clock.time()) is None


async def test_a_clock_step_is_recorded_shown_and_the_time_gate_counts_from_it(plan_file, monkeypatch):
    plan_file.write_text(plan_file.read_text().replace("min_stage_seconds = 600", "min_stage_seconds = 60"))
    clock = ShiftedClock()
    monkeypatch.setattr(live, "time", clock)
    e = await Engine.open(load_plan(plan_file), record_start="test")
    e.clock = lambda: datetime.fromtimestamp(clock.time(), UTC)
    m = LiveMonitor(e, system=False)
    await m.tick()
    gate = next(g for g in e.rollout.gates("storage") if g.name == "stage_time")
    assert not gate.ok  # the session just started: 0 of 60 s
    clock.offset = 3600 * 24 * 365  # the clock jumps a year ahead
    await m.tick()
    steps = [ev for ev in await e.events() if ev.kind == "clock.stepped"]
    assert len(steps) == 1 and steps[0].payload["step_s"] > 3600 * 24 * 364
    assert "stepped ahead" in e.state.alerts["clock.step"]["message"]
    gate = next(g for g in e.rollout.gates("storage") if g.name == "stage_time")
    assert not gate.ok and "counted from the clock step" in gate.reason  # a year of "stage time" is not taken
    later = datetime.fromtimestamp(clock.time(), UTC) + timedelta(seconds=61)
    assert next(g for g in e.rollout.gates("storage", now=later) if g.name == "stage_time").ok
    await e.close()
