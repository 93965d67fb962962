"""Resilience: a plan that drops a component still rolled out is refused until its removal is confirmed."""

from __future__ import annotations

import json

from tests.conftest import run_cli


def _drop_features(plan_file) -> None:
    text = plan_file.read_text()
    start = text.index('[[components]]\nid = "features"')
    end = text.index("[[validators]]")
    plan_file.write_text(text[:start] + text[end:])


def test_a_dropped_component_at_25_percent_is_refused_then_removed_on_confirmation(plan_file, tmp_path):
    p = ["--plan", str(plan_file)]
    assert run_cli("advance", "features", "--override", "t", *p).returncode == 0
    flag = plan_file.parent / "state" / "flags.flagd.json"
    before = flag.read_bytes()
    _drop_features(plan_file)
    r = run_cli("advance", "storage", "--override", "t", *p)
    assert r.returncode == 2
    assert "components: the plan no longer has 'features' (at canary, 5 %)" in r.stderr
    assert "--remove-component features" in r.stderr
    assert flag.read_bytes() == before  # the flag is still in the file: apps keep their 5 %
    status = run_cli("status", *p)
    assert status.returncode == 0 and "no longer has 'features'" in status.stderr
    r = run_cli("advance", "storage", "--override", "t", "--remove-component", "features", *p)
    assert r.returncode == 0, r.stderr
    assert "mdm.new_features" not in json.loads(flag.read_text())["flags"]
    out = tmp_path / "log.jsonl"
    assert run_cli("export", "--format", "jsonl", "--output", str(out), *p).returncode == 0
    removed = [json.loads(line) for line in out.read_text().splitlines() if '"component.removed"' in line]
    assert len(removed) == 1 and removed[0]["component"] == "features" and removed[0]["payload"]["percent"] == 5
    assert run_cli("advance", "storage", "--override", "t", *p).returncode == 0  # confirmed once is enough


def test_a_dropped_component_at_zero_needs_nothing(plan_file):
    p = ["--plan", str(plan_file)]
    assert run_cli("points", "--take", "x", *p).returncode == 0
    _drop_features(plan_file)
    assert run_cli("advance", "storage", "--override", "t", *p).returncode == 0


async def test_a_running_console_says_when_the_plan_file_changes(plan_file):
    from mdm_console.engine.core import Engine
    from mdm_console.engine.live import LiveMonitor
    from mdm_console.plan.load import load_plan

    e = await Engine.open(load_plan(plan_file), record_start="test")
    m = LiveMonitor(e, system=False)
    m.plan_check_every = 0
    await m.tick()
    assert "plan.file" not in e.state.alerts
    original = plan_file.read_text()
    plan_file.write_text(original.replace('name = "Test cutover"', 'name = "Edited"'))
    await m.tick()
    assert "changed on disk" in e.state.alerts["plan.file"]["message"]
    plan_file.write_text(original)
    await m.tick()
    assert "plan.file" not in e.state.alerts
    await e.close()
