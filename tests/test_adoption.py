"""The canary's signals are the new path's, loud and honest (a team adopting the console for its service):
alerts and the auto-rollback policy judge the new path over a stated window, an automatic rollback is
loud and holds the component, operations without a variant are counted apart, signatures cover the stages."""

from __future__ import annotations

import textwrap
from pathlib import Path
import time

import pytest

from mdm_console.engine.core import POLICY, Engine
from mdm_console.engine.live import LiveMonitor
from mdm_console.engine.rollback import RollbackRequest
from mdm_console.engine.rollout import RolloutError
from mdm_console.plan.load import load_plan
from tests.stage_helpers import began, monitored
from tests.test_checklist import PLAN as CHECKLIST_PLAN


def plan_text(*, mode: str = "auto", for_seconds: float = 0, policy_window: float = 30, window: float = 300,
              host: bool = False) -> str:
    host_levels = "cpu_percent = { warning = 80, critical = 90 }\n" if host else ""
    return textwrap.dedent(f"""\
        version = 1
        [cutover]
        name = "orders"
        flag_file = "state/flags.json"
        [gate]
        min_stage_seconds = 0
        min_operations = 10
        [[components]]
        id = "storage"
        flag_key = "orders.new_storage"
        [[components]]
        id = "api"
        flag_key = "orders.new_api"
        [metrics]
        source = "jsonl"
        path = "metrics/ops.jsonl"
        window_seconds = {window}
        [alerts]
        {host_levels}[alerts.auto_rollback]
        mode = "{mode}"
        error_rate_above = 0.05
        for_seconds = {for_seconds}
        window_seconds = {policy_window}
    """)


live = monitored(plan_text)


def ops(m: LiveMonitor, comp: str, variant: str, n: int, errors: int, *, ago: float = 0.0, spread: float = 10.0,
        latency: float = 20.0) -> None:
    """n operations (the first `errors` of them failing) spread over `spread` seconds ending `ago` s back."""
    now = time.time() - ago
    for i in range(n):
        m.windows.add_op(now - spread * i / max(n, 1), comp, i >= errors, latency, variant)


async def test_alerts_judge_the_new_path_which_the_blend_would_hide(live):
    e, m = await live(mode="off")
    ops(m, "storage", "old", 1900, 2)  # 0.1 % on the old path
    ops(m, "storage", "new", 100, 10)  # 10 % on the new path: blended 0.6 %, under the 2 % warning
    st = m.stats("storage")
    assert st.error_rate < 0.02 and st.new.error_rate == pytest.approx(0.10) and st.old.ops == 1900
    await m.tick()
    alert = e.state.alerts["error_rate:storage"]
    assert alert["level"] == "critical"
    assert "storage new path error_rate 10.00 %" in alert["message"] and "last 300 s, 100 ops" in alert["message"]
    assert "old:error_rate:storage" not in e.state.alerts  # the old path is judged on its own, and it is fine


async def test_the_old_path_has_alerts_of_its_own(live):
    e, m = await live(mode="off")
    ops(m, "storage", "old", 200, 20)
    ops(m, "storage", "new", 200, 0)
    await m.tick()
    assert e.state.alerts["old:error_rate:storage"]["level"] == "critical"
    assert "storage old path" in e.state.alerts["old:error_rate:storage"]["message"]
    assert "error_rate:storage" not in e.state.alerts


async def test_an_automatic_rollback_is_loud_held_and_done_by_the_policy(live):
    e, m = await live(mode="auto")
    await e.rollout.advance("storage", override="canary drill", reason="start the canary")
    began(e, "storage", 20)
    ops(m, "storage", "new", 60, 30)
    await m.tick()
    st = e.state.components["storage"]
    assert st.percent == 0 and st.held is not None
    assert st.held["reason"].startswith("error_rate 50.00 % (above 5.00 %) held 0 s; policy window 30 s: new path 60 ops")
    events = await e.events()
    started = next(ev for ev in events if ev.kind == "rollback.started")
    assert started.actor.operator == POLICY and started.payload["present"] == "tester"
    assert [ev.actor.operator for ev in events if ev.kind == "stage.changed"][-1] == POLICY
    alert = e.state.alerts["auto_rollback:storage"]
    assert alert["level"] == "critical" and alert["ack"] and "ROLLED BACK" in alert["message"]

    # Held: the hold is a gate; auto-advance never passes it, a plain advance is refused.
    hold = next(g for g in e.rollout.gates("storage") if g.name == "hold")
    assert not hold.ok and "automatic rollback" in hold.reason
    with pytest.raises(RolloutError, match="say why auto-advance may move it again"):
        await e.rollout.set_auto_advance("storage", True)  # resuming a held component needs a reason
    assert not e.state.components["storage"].auto_advance and await e.rollout.auto_tick() == []
    refused = await e.rollout.advance("storage")
    assert refused.blocked and [g.name for g in refused.failing][:1] == ["hold"]

    # A person acknowledges the alert (recorded under their name); the component stays held.
    await e.record("alert.raised", None, {"alert": "latency_p99_ms:api", "level": "warning", "message": "slow"})
    with pytest.raises(ValueError, match="clears by itself"):
        await e.acknowledge("latency_p99_ms:api")  # only a person's alert is acknowledged
    with pytest.raises(KeyError):
        await e.acknowledge("auto_rollback:api")
    ack = await e.acknowledge("auto_rollback:storage", "looking at the new path's errors")
    assert ack.actor.operator == "tester" and "auto_rollback:storage" not in e.state.alerts
    assert e.state.components["storage"].held is not None

    # The retry: an advance with a person's reason releases the hold.
    done = await e.rollout.advance("storage", override="fixed the bad index, retrying")
    assert done.done and e.state.components["storage"].held is None
    released = [ev for ev in await e.events() if ev.kind == "hold.released"]
    assert released[-1].payload["reason"] == "fixed the bad index, retrying" and released[-1].actor.operator == "tester"


async def test_the_policy_judges_its_own_short_window_not_the_diluted_one(live):
    e, m = await live(mode="off", policy_window=30)
    ops(m, "storage", "new", 2700, 3, ago=30, spread=270)  # 270 s of healthy new-path traffic
    ops(m, "storage", "new", 300, 30, spread=25)  # then 10 % errors for the last 25 s
    now = e.now()
    assert m.stats("storage").new.error_rate < 0.05  # the 300 s window dilutes the fault under the threshold
    hit = m.criterion("storage", now)
    assert hit is not None and hit[0] == "error_rate" and hit[1] > 0.05
    assert hit[3].startswith("new path 3") and hit[3].endswith("last 30 s")

    e2, m2 = await live(mode="off", policy_window=300)
    ops(m2, "storage", "new", 2700, 3, ago=30, spread=270)
    ops(m2, "storage", "new", 300, 30, spread=25)
    assert m2.criterion("storage", e2.now()) is None  # the same fault over 300 s: not yet


async def test_operations_without_a_variant_are_counted_apart_and_the_gates_say_so(live):
    e, m = await live(mode="off")
    await e.rollout.advance("storage", override="canary drill")
    ops(m, "storage", "all", 500, 0, spread=0)  # a feed whose lines carry no "variant"
    gates = {g.name: g for g in e.rollout.gates("storage")}
    assert not gates["operations"].ok and "500 came without a variant" in gates["operations"].reason
    st = m.stats("storage")
    assert st.primary.path == "unknown" and st.unknown.ops == 500 and st.new.ops == 0
    await m.store_aggregates()  # the headless gates (the stored aggregates, caught up) say the same
    headless = LiveMonitor(e, system=False)
    await headless.catch_up()
    counters = headless.stage_counters("storage", e.rollout.stage_since("storage"))
    assert (counters.operations, counters.unknown) == (0, 500)
    e.health = m
    ops(m, "storage", "new", 20, 0, spread=0)
    gates = {g.name: g for g in e.rollout.gates("storage")}
    assert gates["operations"].value == 20 and "500 more without a variant, not counted" in gates["operations"].reason


async def test_host_levels_are_judged_only_when_the_plan_sets_them(live):
    e, m = await live(mode="off")
    assert m.system_rules == []
    e2, m2 = await live(mode="off", host=True)
    assert [r.metric for r in m2.system_rules] == ["cpu_percent"]


async def test_a_host_alert_left_by_a_plan_with_host_levels_is_cleared(tmp_path, live):
    e, m = await live(mode="off", host=True)
    await e.record("alert.raised", None, {"alert": "cpu_percent:host", "level": "warning", "message": "cpu"})
    await e.close()
    (tmp_path / "mdm-plan.toml").write_text(plan_text(mode="off"))
    e = await Engine.open(load_plan(tmp_path / "mdm-plan.toml"), record_start="test")
    m = LiveMonitor(e, system=False)
    await m.start()
    await m.stop()
    assert "cpu_percent:host" not in e.state.alerts
    await e.close()


async def test_a_signature_names_the_rollout_it_approved(plan_file):
    plan_file.write_text(CHECKLIST_PLAN)
    e = await Engine.open(load_plan(plan_file), record_start="test")
    try:
        await e.checklist.complete("a")
        assert (await e.checklist.sign("QA", "Quinn")).current
        await e.rollout.advance("storage", override="no metrics in this plan")
        [qa] = [s for s in e.checklist.signoffs() if s.role == "QA"]
        assert not qa.current and qa.changed_since == ["stages (storage testing 0 % -> canary 5 %)"]
        renewed = await e.checklist.sign("QA", "Quinn", "re-checked at the canary")
        assert renewed.current
        await e.rollback.run(RollbackRequest("component", component="storage", reason="drill"))
        [qa] = [s for s in e.checklist.signoffs() if s.role == "QA"]
        assert not qa.current and "storage canary 5 % -> testing 0 %" in qa.changed_since[0]
    finally:
        await e.close()


def test_check_metrics_says_what_the_console_makes_of_each_line(tmp_path):
    from tests.conftest import run_cli

    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sample = tmp_path / "ops.jsonl"
    sample.write_text("\n".join([
        f'{{"ts": "{now}", "component": "storage", "outcome": "success", "latency_ms": 12.5, "variant": "new"}}',
        f'{{"ts": "{now}", "component": "storage", "outcome": "error", "latency_ms": 30}}',
        f'{{"ts": "{now[:-1]}", "component": "storage", "outcome": "error", "variant": "old"}}',
        f'{{"ts": "{now}", "component": "storage", "success": 120, "error": 3, "variant": "old"}}',
    ]) + "\n")
    r = run_cli("check-metrics", str(sample), cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("ok   line 1: one operation of storage, success, 12.5 ms, on the new path")
    assert lines[1].startswith("WARN line 2:") and "variant unknown" in lines[1]
    assert lines[2] == "BAD  line 3: ts has no time zone (use Z or +00:00)"
    assert "storage: 123 operations on the old path" in r.stdout
    assert "1 without a variant, 1 refused" in r.stdout

    sample.write_text(f'{{"ts": "{now}", "component": "storage", "outcome": "success", "variant": "old"}}\n')
    r = run_cli("check-metrics", str(sample), "--json", cwd=tmp_path)
    assert r.returncode == 0
    doc = __import__("json").loads(r.stdout)
    assert doc["ok"] and doc["operations"] == [{"component": "storage", "path": "old", "operations": 1}]

    # Against a plan, a component it does not have is refused, as the feed would.
    (tmp_path / "mdm-plan.toml").write_text(plan_text(mode="off"))
    sample.write_text(f'{{"ts": "{now}", "component": "orders", "outcome": "success", "variant": "new"}}\n')
    r = run_cli("check-metrics", str(sample), cwd=tmp_path)
    assert r.returncode == 1 and "BAD  line 1: unknown component 'orders'" in r.stdout


def test_check_metrics_reads_a_prometheus_endpoint(tmp_path):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tests.conftest import run_cli

    body = (
        "# TYPE orders_operations_total counter\n"
        'orders_operations_total{component="storage",outcome="success",variant="new"} 40\n'
        'orders_operations_total{component="storage",outcome="error",variant="new"} 2\n'
        'orders_operations_total{component="storage",outcome="success"} 900\n'
        "# TYPE orders_operation_duration_seconds histogram\n"
        'orders_operation_duration_seconds_bucket{component="storage",variant="new",le="0.1"} 40\n'
        'orders_operation_duration_seconds_bucket{component="storage",variant="new",le="+Inf"} 42\n'
        'orders_operation_duration_seconds_count{component="storage",variant="new"} 42\n'
        'orders_operation_duration_seconds_sum{component="storage",variant="new"} 1.5\n')

    class Target(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        r = run_cli("check-metrics", f"http://127.0.0.1:{srv.server_address[1]}/metrics", "--prefix", "orders",
                    cwd=tmp_path)
    finally:
        srv.shutdown()
        srv.server_close()
    assert r.returncode == 1, r.stderr  # one counter has no variant label
    assert "storage: 42 operations on the new path" in r.stdout
    assert "NO variant label" in r.stdout and "2 buckets" in r.stdout
    assert "no latency histogram: p99 will show '-' for this path" in r.stdout  # the unlabelled series


async def test_the_report_claims_only_what_happened_and_plots_both_paths(live, tmp_path):
    from mdm_console.export.run import export_session

    e, m = await live(mode="off")  # this plan has no rollback validators
    await e.rollout.advance("storage", override="canary drill")
    ops(m, "storage", "new", 40, 4)
    ops(m, "storage", "old", 400, 1)
    await m.store_aggregates()
    await e.rollback.run(RollbackRequest("component", component="storage", reason="drill"))
    await export_session(e, "md", tmp_path / "r.md")
    await export_session(e, "html", tmp_path / "r.html")
    md, page = (tmp_path / "r.md").read_text(), (tmp_path / "r.html").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| ") and "drill" in line and "component" in line)
    assert "none: no verification validators in the plan" in row and "passed" not in row
    assert "storage, new path: 40 operations" in md and "storage, old path: 400 operations" in md
    plot = page[page.index("storage: error rate per 5 s"):]
    plot = plot[:plot.index("</svg>")]
    assert plot.count("<polyline") == 2 and "— new path" in plot and "— old path" in plot
    assert "time (UTC)" in plot and ">%<" in plot  # both axes say what they are
    assert "canary 5%" in plot and "testing 0%" in plot and "stroke-dasharray" in plot  # the stage changes


def test_init_shows_every_validator_kind_and_each_example_is_valid(tmp_path):
    import re

    from mdm_console.plan.models import Validator

    text = (Path(__file__).parent.parent / "mdm_console" / "plan" / "example" / "mdm-plan.toml").read_text()
    plan = load_plan_text(tmp_path, text)
    live_kinds = {v.kind for v in plan.validators}
    assert plan.alerts.cpu_percent is None and plan.alerts.memory_percent is None  # no host alerts by default
    # Uncommenting every commented [[validators]] block gives a valid plan, with every kind there is.
    blocks = re.findall(r"^# \[\[validators\]\]\n(?:^# .*\n)+", text, flags=re.M)
    assert blocks
    uncommented = text + "\n" + "\n".join(re.sub(r"^# ", "", b, flags=re.M) for b in blocks)
    plan = load_plan_text(tmp_path, uncommented)
    kinds = {v.kind for v in plan.validators}
    assert kinds == set(Validator.model_fields["kind"].annotation.__args__), kinds - live_kinds
    dsns = [v.params.get("dsn") or v.params.get("v1_dsn") for v in plan.validators if v.kind in ("sql", "compare")]
    assert any(d.startswith("sqlite:") for d in dsns) and any(d.startswith("duckdb:") for d in dsns)


def load_plan_text(tmp_path: Path, text: str):
    p = tmp_path / "mdm-plan.toml"
    p.write_text(text)
    return load_plan(p).plan
