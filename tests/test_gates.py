"""Gate evaluation: pass, fail, no data, stale, and 0 % stages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mdm_console.engine.gates import StageCounters, evaluate
from mdm_console.plan.models import Gate

NOW = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)
GATE = Gate(min_success_rate=0.99, max_error_rate=0.05, min_operations=100, min_stage_seconds=600)


def by_name(results):
    return {g.name: g for g in results}


def test_all_gates_hold_with_enough_good_traffic_and_time():
    c = StageCounters(operations=1000, successes=995, errors=5, measured_at=NOW)
    g = by_name(evaluate(GATE, percent=5, stage_since=NOW - timedelta(seconds=700), now=NOW, counters=c))
    assert all(r.ok for r in g.values())
    assert g["success_rate"].value == pytest.approx(0.995) and "99.50 % of 1000 ops" in g["success_rate"].reason
    assert g["error_rate"].value == pytest.approx(0.005)
    assert g["operations"].value == 1000 and g["stage_time"].value == 700


@pytest.mark.parametrize("counters,since_s,failing,words", [
    (StageCounters(1000, 900, 100, NOW), 700, {"success_rate", "error_rate"}, "90.00 %"),
    (StageCounters(50, 50, 0, NOW), 700, {"operations"}, "50 ops in stage, needs 100"),
    (StageCounters(1000, 1000, 0, NOW), 100, {"stage_time"}, "100 s in stage, needs 600 s"),
    (StageCounters(0, 0, 0, None), 700, {"success_rate", "error_rate", "operations"}, "no operations observed"),
    (StageCounters(1000, 1000, 0, NOW - timedelta(seconds=60), stale_reason="no data for 60 s"), 700,
     {"success_rate", "error_rate", "operations"}, "stale: no data for 60 s"),
    (None, 700, {"success_rate", "error_rate", "operations"}, "no metrics feed"),
])
def test_failing_gates_say_why(counters, since_s, failing, words):
    results = evaluate(GATE, percent=25, stage_since=NOW - timedelta(seconds=since_s), now=NOW, counters=counters)
    assert {g.name for g in results if not g.ok} == failing
    assert any(words in g.reason for g in results if not g.ok)


def test_a_stale_feed_never_passes_even_with_good_old_numbers():
    c = StageCounters(10_000, 10_000, 0, NOW - timedelta(minutes=5), stale_reason="feed silent for 300 s")
    results = by_name(evaluate(GATE, percent=50, stage_since=NOW - timedelta(hours=1), now=NOW, counters=c))
    assert not results["success_rate"].ok and results["success_rate"].value is None


def test_traffic_gates_do_not_apply_at_zero_percent_but_a_live_feed_does():
    live = StageCounters(0, 0, 0, NOW - timedelta(seconds=3))  # the old path's figures, 3 s old
    results = by_name(evaluate(GATE, percent=0, stage_since=NOW - timedelta(seconds=601), now=NOW, counters=live))
    assert all(r.ok for r in results.values())
    assert "not applicable" in results["operations"].reason and results["feed"].reason.startswith("live")


@pytest.mark.parametrize("counters,words", [
    (None, "no metric feed is running (the plan has none, or nothing reads it): nothing would see the canary"),
    (StageCounters(0, 0, 0, None), "no figures from the feed yet"),
    (StageCounters(0, 0, 0, NOW - timedelta(minutes=5), stale_reason="jsonl ops.jsonl: no data for 300 s"),
     "stale: jsonl ops.jsonl: no data for 300 s"),
])
def test_no_blind_canary_leaving_zero_needs_a_live_feed(counters, words):
    results = by_name(evaluate(GATE, percent=0, stage_since=NOW - timedelta(seconds=601), now=NOW, counters=counters))
    assert [n for n, r in results.items() if not r.ok] == ["feed"]
    assert words in results["feed"].reason
