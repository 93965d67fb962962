"""The safety net decides on the current stage's evidence (issue: judgment): alerts clear when their evidence is
gone, a stage is never judged on the stage before it, each rollback criterion has its own clock and minimum
sample, latency needs bounds on both paths' p99, and the recorded reason is the criterion that really held."""

from __future__ import annotations

import os
import random
import re
import time
from datetime import UTC, datetime

import pytest

from mdm_console.engine.core import Engine, os_user_name
from mdm_console.engine.live import LiveMonitor
from mdm_console.engine.rollback import RollbackRequest
from mdm_console.plan.load import load_plan
from tests.stage_helpers import began, monitored, open_monitored
from tests.test_adoption import plan_text as adoption_plan


def plan_text(*, mode: str = "auto", for_seconds: float = 0, latency: bool = True, min_increase_ms: float = 50,
              window: float = 300, extra_policy: str = "") -> str:
    """The adoption tests' plan (storage and api, JSONL, the policy's window 30 s), with the latency criterion's
    switch and floor, any other policy keys, and the latency verdict off."""
    return adoption_plan(mode=mode, for_seconds=for_seconds, window=window) + (
        f"latency = {str(latency).lower()}\nmin_increase_ms = {min_increase_ms}\n{extra_policy}\n"
        "[verdict]\nlatency = false\n")


live = monitored(plan_text)
ME = os_user_name(os.geteuid())


def put(m: LiveMonitor, comp: str, variant: str, start: float, seconds: float, n: int, errors: int = 0,
        latency=lambda i: 20.0) -> None:
    """n operations evenly over [start, start + seconds), the first `errors` failing."""
    for i in range(n):
        m.windows.add_op(start + seconds * i / n, comp, i >= errors, latency(i), variant)


def at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


async def test_a_rollback_to_zero_clears_the_new_paths_alerts_with_the_reason(live):
    e, m = await live(mode="off")
    await e.rollout.advance("storage", override="canary drill")
    began(e, "storage", 60)
    now = time.time()
    put(m, "storage", "new", now - 50, 45, 100, 30)
    put(m, "storage", "old", now - 50, 45, 900)
    await m.tick()
    assert e.state.alerts["error_rate:storage"]["level"] == "critical"
    await e.rollback.run(RollbackRequest("component", component="storage", reason="errors on the new path"))
    await m.tick()
    assert "error_rate:storage" not in e.state.alerts and "success_rate:storage" not in e.state.alerts
    cleared = [ev for ev in await e.events() if ev.kind == "alert.cleared" and ev.payload["alert"] == "error_rate:storage"]
    assert cleared[-1].component == "storage"
    assert "storage: no traffic on the new path since the rollback at " in cleared[-1].payload["message"]
    raised = [ev for ev in await e.events() if ev.kind == "alert.raised" and ev.payload["alert"] == "error_rate:storage"]
    assert raised[-1].component == "storage"  # `log --component storage` finds its alerts
    assert "error_rate 30.00 % > critical level 5.00 %" in raised[-1].payload["message"]
    assert "old:error_rate:storage" not in e.state.alerts  # the old path still has traffic, and it is fine


async def test_a_fresh_stage_is_not_judged_on_the_stage_before_it(live):
    e, m = await live(mode="auto")
    await e.rollout.advance("storage", override="canary drill")
    await e.rollout.advance("storage", override="to 25 %")  # a new stage: its evidence opens now
    now = time.time()
    put(m, "storage", "new", now - 60, 58, 200, 40)  # the previous stage's faulty minute (dated before this one)
    put(m, "storage", "old", now - 60, 58, 900)
    await m.tick()
    assert "error_rate:storage" not in e.state.alerts
    assert e.state.components["storage"].stage == "early_adopters"  # not rolled back on 5 %'s data
    assert m.stats("storage").new.ops == 0 and m.criteria("storage", e.now()) == {}


async def test_alerts_are_judged_again_after_a_restart_not_replayed(live, tmp_path):
    e, m = await live(mode="off")
    await e.rollout.advance("storage", override="canary drill")
    await e.record("alert.raised", "storage", {"alert": "error_rate:storage", "level": "critical",
                                               "message": "from before the restart", "component": "storage"})
    restarted = LiveMonitor(e, system=False)  # its windows hold nothing of this stage
    await restarted.tick()
    assert "error_rate:storage" not in e.state.alerts
    last = [ev for ev in await e.events() if ev.kind == "alert.cleared"][-1]
    assert last.payload["message"].startswith("storage: no traffic on the new path since canary began at ")


async def test_each_criterion_has_its_own_clock_and_the_reason_names_the_one_that_held(live):
    """The issue's case: p99 noise started the shared timer, a fault began later, and the rollback said the error
    rate had held 61 s when it had held 48."""
    e, m = await live(mode="prompt", for_seconds=10)
    await e.rollout.advance("storage", override="canary drill")
    began(e, "storage", 600)
    base = (int(time.time()) - 300) // 5 * 5
    put(m, "storage", "new", base, 10, 1000, latency=lambda i: 500.0)  # the new path slow for 10 s
    put(m, "storage", "old", base, 10, 1000)
    put(m, "storage", "new", base + 30, 15, 100, 30)  # from +30 s: 30 % errors on the new path
    put(m, "storage", "old", base + 30, 15, 300)
    await m._auto_rollback(at(base + 10))
    assert set(m.breaches["storage"]) == {"latency"}
    await m._auto_rollback(at(base + 45))  # the slow seconds left the 30 s window; the errors are in it
    assert set(m.breaches["storage"]) == {"error_rate"}
    await m._auto_rollback(at(base + 50))
    assert not [ev for ev in await e.events() if ev.kind == "rollback.proposed"]  # 5 s of errors: not yet
    await m._auto_rollback(at(base + 56))
    proposed = [ev for ev in await e.events() if ev.kind == "rollback.proposed"]
    assert len(proposed) == 1
    p = proposed[0].payload
    assert p["criterion"] == "error_rate" and p["held_s"] == 11 and p["low"] == pytest.approx(0.3)
    assert p["reason"].startswith("error_rate 30.00 % (above 5.00 %) held 11 s; policy window 30 s: new path 100 ops, "
                                  "30 errors; old path 300 ops, 0 errors")


def lognormal_ms(rng: random.Random, median: float, sigma: float, slow: float = 0.0):
    """Latencies from a lognormal, and a share `slow` of requests stuck for 2 s (a lock, a retry, a GC pause)."""
    return lambda i: 2000.0 if rng.random() < slow else median * rng.lognormvariate(0, sigma)


async def test_a_healthy_canary_with_heavy_tailed_latency_is_not_rolled_back(live):
    """25 % of 30 req/s, both paths the same lognormal (sigma 1.5, one request in 200 stuck for 2 s), an hour
    judged every second: raw p99s differ by far more than 20 % for minutes at a time; the bounds never hold."""
    e, m = await live(mode="auto", for_seconds=30)
    await e.rollout.advance("storage", override="canary drill")
    began(e, "storage", 4000)
    rng = random.Random(7)
    base = (int(time.time()) - 3700) // 5 * 5
    for k in range(720):  # an hour of 5 s buckets
        start = base + 5 * k
        put(m, "storage", "new", start, 5, 37, latency=lognormal_ms(rng, 5.0, 1.5, 0.005))
        put(m, "storage", "old", start, 5, 113, latency=lognormal_ms(rng, 5.0, 1.5, 0.005))
    ratios = []
    for s in range(30, 3600):
        t = base + s
        await m._auto_rollback(at(t))
        new, old = m.windows.path("storage", "new", t, 30), m.windows.path("storage", "old", t, 30)
        ratios.append(new.p99_ms / old.p99_ms - 1)
    assert max(ratios) > 0.5  # the raw ratio the old criterion compared crossed 20 % many times
    assert e.state.components["storage"].percent == 5
    assert not [ev for ev in await e.events() if ev.kind == "rollback.proposed"]


async def test_a_real_slowdown_is_found_and_the_floor_and_switch_hold(live):
    e, m = await live(mode="off")
    began(e, "storage", 600)
    await e.rollout.advance("storage", override="canary drill")
    began(e, "storage", 600)
    rng = random.Random(3)
    t = time.time()
    put(m, "storage", "new", t - 30, 29, 1500, latency=lognormal_ms(rng, 450.0, 0.5))  # three times as slow
    put(m, "storage", "old", t - 30, 29, 1500, latency=lognormal_ms(rng, 150.0, 0.5))
    hit = m.criteria("storage", at(t))["latency"]
    assert hit.value > 0.2 and "new p99 at least" in hit.detail and "old p99 at most" in hit.detail

    e2, m2 = await live(mode="off", min_increase_ms=50)
    await e2.rollout.advance("storage", override="canary drill")
    began(e2, "storage", 600)
    put(m2, "storage", "new", t - 30, 29, 1500, latency=lambda i: 4.0 + (i % 10) / 10)  # 4 ms against 3 ms
    put(m2, "storage", "old", t - 30, 29, 1500, latency=lambda i: 3.0 + (i % 10) / 10)
    assert "latency" not in m2.criteria("storage", at(t))  # +33 %, but 1 ms: under the floor

    e3, m3 = await live(mode="off", latency=False)
    await e3.rollout.advance("storage", override="canary drill")
    began(e3, "storage", 600)
    put(m3, "storage", "new", t - 30, 29, 1500, latency=lambda i: 900.0)
    put(m3, "storage", "old", t - 30, 29, 1500, latency=lambda i: 100.0)
    assert m3.criteria("storage", at(t)) == {}  # the latency criterion switched off on its own


async def test_a_criterion_needs_its_minimum_sample(live):
    e, m = await live(mode="auto", extra_policy="min_operations = 40")
    await e.rollout.advance("storage", override="canary drill")
    began(e, "storage", 600)
    t = time.time()
    put(m, "storage", "new", t - 20, 19, 30, 3)  # 10 % of 30 operations
    assert m.criteria("storage", at(t)) == {}
    put(m, "storage", "new", t - 10, 9, 20, 2)
    assert m.criteria("storage", at(t))["error_rate"].value == pytest.approx(0.1)


class ScriptedPrometheus:
    """A Prometheus query API on 127.0.0.1 that answers each instant query from `answer(query)`, as a real server
    does (NaN as the string "NaN", an empty vector for None)."""

    def __init__(self, answer):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlparse

        class Api(BaseHTTPRequestHandler):
            def do_GET(self):
                q = parse_qs(urlparse(self.path).query)["query"][0]
                value = answer(q)
                result = [] if value is None else [{"metric": {}, "value": [time.time(), value]}]
                body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Api)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


PROMQL_PLAN = """\
version = 1
[cutover]
name = "orders"
flag_file = "state/flags.json"
[[components]]
id = "storage"
flag_key = "orders.new_storage"
[[components]]
id = "features"
flag_key = "orders.new_features"
[metrics]
source = "promql"
url = "{url}"
interval_seconds = 1
window_seconds = 60
[metrics.queries.storage]
operations_rate = 'sum(rate(ops{{component="storage",variant="$variant"}}[1m]))'
error_rate = 'sum(rate(errs{{component="storage",variant="$variant"}}[1m])) / sum(rate(ops{{component="storage",variant="$variant"}}[1m]))'
latency_p99_ms = 'p99{{component="storage",variant="$variant"}}'
[metrics.queries.features]
operations_rate = 'sum(rate(ops{{component="features",variant="$variant"}}[1m]))'
error_rate = 'sum(rate(errs{{component="features",variant="$variant"}}[1m])) / sum(rate(ops{{component="features",variant="$variant"}}[1m]))'
latency_p99_ms = 'p99{{component="features",variant="$variant"}}'
[alerts.auto_rollback]
mode = "off"
"""


async def wait_for(cond, what: str, timeout: float = 20.0):
    import asyncio

    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        await asyncio.sleep(0.05)


async def test_a_nan_for_one_component_is_its_no_data_never_the_feeds(tmp_path):
    """The issue's case: storage rolled back to 0 % makes histogram_quantile and the error ratio answer NaN for its
    new path; the other component's real fault must still raise its alert."""
    broken = {"on": False}

    def answer(q: str):
        comp = q.split('component="')[1].split('"')[0]
        variant = q.split('variant="')[1].split('"')[0]
        if comp == "storage" and variant == "new":  # no traffic on storage's new path
            return "NaN" if ("/" in q or q.startswith("p99")) else "0"
        if comp == "storage" and broken["on"] and q.startswith("sum(rate(ops") and "/" not in q:
            return "NaN"  # storage's operations query itself breaks
        if "/" in q:
            return "0.1" if (comp, variant) == ("features", "new") else "0.001"
        return "40" if q.startswith("sum(rate(ops") else "12"

    prom = ScriptedPrometheus(answer)
    (tmp_path / "mdm-plan.toml").write_text(PROMQL_PLAN.format(url=prom.url))
    e = await Engine.open(load_plan(tmp_path / "mdm-plan.toml"), record_start="test")
    await e.rollout.ensure_flag_file()
    await e.rollout.advance("features", override="canary drill")
    m = LiveMonitor(e, system=False)
    await m.start()
    try:
        await wait_for(lambda: "error_rate:features" in e.state.alerts, "the fault on features raised its alert")
        assert not m.windows.stale and not [a for a in e.state.alerts if a.startswith(("feed_stale", "no_data"))]
        assert m.stats("storage").new.ops == 0 and m.stats("storage").new.p99_ms is None  # no data, not zero
        assert m.stats("storage").old.ops > 0
        broken["on"] = True  # now storage's own query answers NaN: storage alone has no data, and says why
        await wait_for(lambda: "no_data:storage" in e.state.alerts, "storage's no-data alert")
        alert = e.state.alerts["no_data:storage"]
        assert alert["component"] == "storage" and "operations_rate answered NaN" in alert["message"]
        assert set(m.windows.stale) == {"storage"} and not m.feed.status.stale_reason()
        assert "error_rate:features" in e.state.alerts
        broken["on"] = False
        await wait_for(lambda: "no_data:storage" not in e.state.alerts, "storage's data back")
    finally:
        await m.stop()
        await e.close()
        prom.close()


def test_check_metrics_runs_the_plans_promql_queries_per_component(tmp_path):
    import json
    import subprocess
    import sys

    def answer(q: str):
        comp = q.split('component="')[1].split('"')[0]
        variant = q.split('variant="')[1].split('"')[0]
        if comp == "storage" and variant == "new":
            return "NaN" if ("/" in q or q.startswith("p99")) else "0"
        if comp == "features" and q.startswith("p99"):
            return None  # no histogram for features
        return "0.002" if "/" in q else "40" if q.startswith("sum(rate(ops") else "12"

    prom = ScriptedPrometheus(answer)
    try:
        (tmp_path / "mdm-plan.toml").write_text(PROMQL_PLAN.format(url=prom.url))
        out = subprocess.run([sys.executable, "-m", "mdm_console", "check-metrics", "--json", "--plan",
                              str(tmp_path / "mdm-plan.toml")], capture_output=True, text=True, timeout=60)
    finally:
        prom.close()
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    said = {v["where"]: (v["status"], v["text"]) for v in doc["verdicts"]}
    assert said["storage new operations_rate"] == ("ok", "0 (operations/s)")
    assert said["storage new error_rate"] == ("note", "NaN with no traffic on this path: no data, as expected")
    assert said["storage old error_rate"] == ("ok", "0.002 (a ratio)")
    assert said["features new latency_p99_ms"][0] == "note" and "no series" in said["features new latency_p99_ms"][1]
    assert len(said) == 12 and doc["kind"] == "promql"


@pytest.mark.skipif(__import__("shutil").which("prometheus") is None,
                    reason="no Prometheus server binary here (Debian package 'prometheus' is not installed)")
def test_the_docs_promql_queries_against_a_real_prometheus(tmp_path):
    """The queries exactly as docs/metrics.md gives them, for two components, against a real Prometheus: storage's
    new path rolled back (its counters stand still: histogram_quantile and the error ratio answer NaN), features'
    new path failing 10 %, and features' old path never failed (no error series at all)."""
    import re
    from pathlib import Path

    from tests.stage_helpers import scraped_by_prometheus

    from mdm_console.feeds.promql import PromQLFeed
    from mdm_console.plan.models import PromQLQueries

    doc = (Path(__file__).parent.parent / "docs" / "metrics.md").read_text()
    block = doc[doc.index("[metrics.queries.storage]"):]
    texts = dict(re.findall(r"^(\w+) = '(.*)'$", block[:block.index("```")], re.M))
    assert set(texts) == {"operations_rate", "error_rate", "latency_p99_ms"}
    queries = {c: PromQLQueries(**{k: v.replace('component="storage"', f'component="{c}"') for k, v in texts.items()})
               for c in ("storage", "features")}
    t0 = time.time()

    def exposition() -> str:
        t = time.time() - t0
        series = {("storage", "new", "success"): 500, ("storage", "new", "error"): 20,  # stopped: rolled back
                  ("storage", "old", "success"): int(400 * t), ("features", "new", "success"): int(90 * t),
                  ("features", "new", "error"): int(10 * t), ("features", "old", "success"): int(300 * t)}
        lines = ["# TYPE orders_operations_total counter"]
        for (c, v, o), n in series.items():
            lines.append(f'orders_operations_total{{component="{c}",variant="{v}",outcome="{o}"}} {n}')
        lines.append("# TYPE orders_operation_duration_seconds histogram")
        for (c, v), n in {("storage", "new"): 520, ("storage", "old"): int(400 * t), ("features", "new"): int(100 * t),
                          ("features", "old"): int(300 * t)}.items():
            for le, share in (("0.01", 0.5), ("0.05", 0.99), ("+Inf", 1.0)):
                lines.append(f'orders_operation_duration_seconds_bucket{{component="{c}",variant="{v}",le="{le}"}} '
                             f"{int(n * share)}")
            lines.append(f'orders_operation_duration_seconds_count{{component="{c}",variant="{v}"}} {n}')
            lines.append(f'orders_operation_duration_seconds_sum{{component="{c}",variant="{v}"}} {n * 0.01}')
        return "\n".join(lines) + "\n"

    port, stop = scraped_by_prometheus(tmp_path, exposition)
    feed = PromQLFeed(f"http://127.0.0.1:{port}", queries, lambda s: None, 5)
    try:
        by: dict = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(1)
            try:
                samples = feed.poll(time.time())
            except Exception:  # noqa: BLE001 - the server is still starting, or has not scraped twice yet
                continue
            by = {(s.component, s.variant): s for s in samples}
            if len(by) == 4 and time.time() - t0 > 8 and by[("features", "new")].error:
                break
    finally:
        stop()
    assert len(by) == 4 and feed.problems == {}, (by, feed.problems)
    rolled_back = by[("storage", "new")]
    assert (rolled_back.success, rolled_back.error, rolled_back.p99_ms) == (0, 0, None)  # NaN: no data, not a fault
    assert by[("storage", "old")].success > 0 and by[("features", "old")].error == 0
    new = by[("features", "new")]
    assert new.error / (new.success + new.error) == pytest.approx(0.1, abs=0.03)
    assert 10 < new.p99_ms <= 50


async def test_no_advance_into_an_active_critical_alert_or_a_regression(live):
    e, m = await live(mode="off")
    await e.rollout.advance("storage", override="canary drill")
    began(e, "storage", 600)
    now = time.time()
    put(m, "storage", "old", now - 300, 290, 3000, 3)
    put(m, "storage", "new", now - 300, 290, 600, 36)  # 6 % against 0.1 %: the verdict says regression
    await m.tick()
    gates = {g.name: g for g in e.rollout.gates("storage")}
    assert not gates["alerts"].ok and "critical alert(s) active: error_rate:storage" in gates["alerts"].reason
    assert not gates["no_regression"].ok and gates["no_regression"].reason.startswith("the canary verdict says errors +")
    refused = await e.rollout.advance("storage")
    assert refused.blocked and {"alerts", "no_regression"} <= {g.name for g in refused.failing}
    assert {g.name: g for g in e.rollout.gates("api")}["alerts"].ok  # the other component's gates are its own


async def test_auto_advance_never_moves_a_component_with_a_warning(live):
    e, m = await live(mode="off")
    await e.rollout.set_auto_advance("storage", True)
    put(m, "storage", "old", time.time() - 10, 9, 100)  # a live feed: the feed gate holds
    await e.record("alert.raised", "storage", {"alert": "latency_p99_ms:storage", "level": "warning",
                                               "message": "slow", "component": "storage"})
    gates = e.rollout.gates("storage")
    assert [g.name for g in gates if not g.ok] == []
    alerts = next(g for g in gates if g.name == "alerts")
    assert "1 warning(s) active (latency_p99_ms:storage): auto-advance waits" in alerts.reason
    assert await e.rollout.auto_tick() == []
    assert e.state.components["storage"].stage == "testing"
    await e.record("alert.cleared", "storage", {"alert": "latency_p99_ms:storage", "message": "fast again"})
    assert [r.to_stage for r in await e.rollout.auto_tick()] == ["canary"]  # the warning was all that held it


async def test_a_persons_rollback_holds_like_the_policys_and_resuming_asks_why(live):
    from mdm_console.engine.rollout import RolloutError

    e, m = await live(mode="off")
    await e.rollout.advance("storage", override="canary drill")
    await e.rollout.set_auto_advance("storage", False)
    await e.rollback.run(RollbackRequest("component", component="storage", reason="errors at 30 %"))
    held = e.state.components["storage"].held
    assert held is not None and held["automatic"] is False and held["reason"] == "errors at 30 %"
    hold = next(g for g in e.rollout.gates("storage") if g.name == "hold")
    assert not hold.ok and hold.reason.startswith(f'held since the rollback by {ME} (typed "tester") at ')
    with pytest.raises(RolloutError, match="say why auto-advance may move it again"):
        await e.rollout.set_auto_advance("storage", True)
    assert not e.state.components["storage"].auto_advance
    await e.rollout.set_auto_advance("storage", True, "the index is rebuilt; errors are gone on the old path")
    assert e.state.components["storage"].held is None and e.state.components["storage"].auto_advance
    released = [ev for ev in await e.events() if ev.kind == "hold.released"][-1]
    assert released.payload["reason"] == "the index is rebuilt; errors are gone on the old path"
    assert released.payload["held_reason"] == "errors at 30 %"


async def fault(e, m, comp="storage"):
    """A canary whose new path failed 30 % over the last 15 s (the policy's 30 s window holds them until 15 s on)."""
    await e.rollout.advance(comp, override="canary drill")
    began(e, comp, 600)
    now = time.time()
    put(m, comp, "new", now - 15, 14, 100, 30)
    put(m, comp, "old", now - 15, 14, 300)
    return now


async def test_a_proposal_is_state_until_answered_and_is_proposed_again_while_unanswered(live):
    from mdm_console.api.ops import status_snapshot
    from mdm_console.engine.rollback import RollbackError

    e, m = await live(mode="prompt", extra_policy="repropose_seconds = 10")
    t = await fault(e, m)
    await m._auto_rollback(at(t))
    pending = e.state.components["storage"].proposal
    assert pending is not None and pending["criterion"] == "error_rate" and e.state.components["storage"].percent == 5
    snapshot = next(c for c in status_snapshot(e)["components"] if c["id"] == "storage")
    assert snapshot["proposal"]["seq"] == pending["seq"]
    await m._auto_rollback(at(t + 5))  # still unanswered, but not yet repropose_seconds: once
    await m._auto_rollback(at(t + 11))  # the criterion still holds (the same window), 11 s on: proposed again
    proposed = [ev for ev in await e.events() if ev.kind == "rollback.proposed"]
    assert [p.payload.get("repeat", 0) for p in proposed] == [0, 1]
    assert e.state.components["storage"].proposal["seq"] == proposed[-1].seq

    with pytest.raises(RollbackError, match="say why"):
        await e.rollback.answer("storage", False, "")
    with pytest.raises(RollbackError, match=rf"the proposal you saw \(seq {proposed[0].seq}\) was overtaken"):
        await e.rollback.answer("storage", False, "looks like noise", expect_seq=proposed[0].seq)
    await e.rollback.answer("storage", False, "the errors are a known bad client", expect_seq=proposed[-1].seq)
    assert e.state.components["storage"].proposal is None and e.state.components["storage"].percent == 5
    await m._auto_rollback(at(t + 13))  # declined: not proposed again while the same breach goes on
    assert len([ev for ev in await e.events() if ev.kind == "rollback.proposed"]) == 2
    with pytest.raises(RollbackError, match=re.escape(f'the last one was declined by {ME} (typed "tester")')):
        await e.rollback.answer("storage", True, "")


async def test_an_accepted_proposal_rolls_back_linked_to_it(live):
    e, m = await live(mode="prompt")
    t = await fault(e, m)
    await m._auto_rollback(at(t))
    seq = e.state.components["storage"].proposal["seq"]
    await e.rollback.answer("storage", True, "", expect_seq=seq)
    st = e.state.components["storage"]
    assert st.percent == 0 and st.proposal is None and st.held is not None
    started = next(ev for ev in await e.events() if ev.kind == "rollback.started")
    assert started.payload["answers"] == seq and started.payload["reason"].startswith("accepted the policy's proposal")


async def test_a_proposal_is_withdrawn_when_its_criterion_stops_holding(live):
    e, m = await live(mode="prompt")
    t = await fault(e, m)
    await m._auto_rollback(at(t))
    seq = e.state.components["storage"].proposal["seq"]
    await m._auto_rollback(at(t + 60))  # the faulty seconds have left the policy's window
    assert e.state.components["storage"].proposal is None
    answered = [ev for ev in await e.events() if ev.kind == "proposal.answered"][-1]
    assert answered.payload == {"component": "storage", "answers": seq, "answer": "withdrawn",
                                "reason": "no rollback criterion holds for storage any more"}


def test_the_cli_answers_a_proposal_and_acknowledges_alerts(tmp_path):
    import asyncio
    import json
    import subprocess
    import sys

    async def setup():
        (tmp_path / "mdm-plan.toml").write_text(plan_text(mode="prompt"))
        e = await Engine.open(load_plan(tmp_path / "mdm-plan.toml"), record_start="test")
        await e.rollout.ensure_flag_file()
        m = LiveMonitor(e, system=False)
        e.health = m
        t = await fault(e, m)
        await m._auto_rollback(at(t))
        await m.tick()
        await e.close()

    asyncio.run(setup())

    def cli(*argv):
        return subprocess.run([sys.executable, "-m", "mdm_console", *argv, "--plan", str(tmp_path / "mdm-plan.toml"),
                               "--operator", "ops-lead"], capture_output=True, text=True, timeout=120)

    status = cli("status")
    assert "ROLLBACK PROPOSED (seq " in status.stdout and "proposal accept|decline storage" in status.stdout
    doc = json.loads(cli("status", "--json").stdout)
    pending = next(c for c in doc["components"] if c["id"] == "storage")["proposal"]
    assert pending["criterion"] == "error_rate"

    ack = cli("acknowledge", "storage", "--reason", "seen; looking at the new path")
    assert ack.returncode == 0, ack.stderr
    assert "acknowledged error_rate:storage" in ack.stdout
    assert f'(acknowledged by {ME} (typed "ops-lead"): seen; looking at the new path)' in cli("status").stdout

    declined = cli("proposal", "decline", "storage")
    assert declined.returncode == 1 and "say why the proposed rollback of storage is declined" in declined.stderr
    accepted = cli("proposal", "accept", "storage", "--expect-seq", str(pending["seq"]), "--reason", "errors are real")
    assert accepted.returncode == 0, accepted.stderr
    assert f"proposed rollback of storage (seq {pending['seq']}) accepted" in accepted.stdout
    after = json.loads(cli("status", "--json").stdout)
    storage = next(c for c in after["components"] if c["id"] == "storage")
    assert storage["percent"] == 0 and storage["proposal"] is None and storage["held"]["reason"] == "errors are real"
    log = cli("log", "--component", "storage").stdout
    assert "proposed rollback (seq " in log and "accepted: errors are real" in log


async def test_the_figures_shown_include_what_the_policy_judges(live):
    from mdm_console.api.health import _stats_dict, stats_of

    e, m = await live(mode="off")
    await e.rollout.advance("storage", override="canary drill")
    began(e, "storage", 600)
    now = time.time()
    put(m, "storage", "new", now - 290, 230, 2000, 0)  # four healthy minutes, ending a minute ago
    put(m, "storage", "new", now - 20, 19, 100, 30)  # then 30 % errors for 20 s
    st = m.stats("storage")
    assert st.new.error_rate < 0.02  # the 300 s window dilutes the fault
    assert st.policy.path == "new" and st.policy.ops == 100 and st.policy.error_rate == pytest.approx(0.3)
    assert stats_of(_stats_dict(st)).policy == st.policy  # an attached console gets the same figures


async def test_the_charts_show_only_the_current_stage(live):
    from mdm_console.api.health import series

    e, m = await live(mode="off")
    await e.rollout.advance("storage", override="canary drill")
    began(e, "storage", 100)
    now = time.time()
    put(m, "storage", "new", now - 250, 140, 200, 40)  # the stage before: dated before this stage began
    put(m, "storage", "new", now - 90, 80, 200, 0)
    await m.tick()  # the monitor opens the stage's evidence period
    xs, err, _ = series(m, "storage", e.now())["new path"]
    assert min(xs) >= -100 and max(err) == 0  # none of the earlier stage's errors drawn as this stage's


async def test_the_dashboard_shows_the_level_the_engine_judged_not_the_raw_figures(tmp_path):
    """Three errors in five operations at a fresh stage: 60 % by the figures, but too little evidence for an alert.
    The row says OK (with its figures) until the engine raises one; then CRITICAL."""
    from mdm_console.ui.app import ConsoleApp
    from mdm_console.ui.widgets.health_table import HealthTable
    from tests.ui_helpers import until

    e, m = await open_monitored(tmp_path, plan_text(mode="off"))
    try:
        await e.rollout.advance("storage", override="canary drill")
        began(e, "storage", 60)
        now = time.time()
        put(m, "storage", "new", now - 20, 10, 5, 3)
        put(m, "storage", "old", now - 20, 10, 300)
        app = ConsoleApp(e, monitor=m, keymap={}, tick_seconds=None)
        async with app.run_test(size=(160, 48)) as pilot:
            await m.tick()
            table = app.screen.query_one(HealthTable)

            def status() -> str:
                return str(table.get_row("storage")[table.shown.index("status")])

            await until(pilot, lambda: "60.00%" in str(table.get_row("storage")[table.shown.index("new_err")]))
            assert "OK" in status() and "error_rate:storage" not in e.state.alerts
            put(m, "storage", "new", now - 9, 8, 40, 20)  # now enough operations: the engine raises it
            await m.tick()
            assert e.state.alerts["error_rate:storage"]["level"] == "critical"
            await until(pilot, lambda: "CRITICAL" in status())
    finally:
        await e.close()
