"""Helpers for the pilot and snapshot tests: a plan, an engine, waiting on events (not sleeps)."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

from mdm_console.engine.core import Engine
from mdm_console.plan.load import load_plan

PLAN = textwrap.dedent("""\
    version = 1
    [cutover]
    name = "Pilot cutover"
    flag_file = "state/flags.json"
    snapshot_files = ["config/app.toml"]
    [gate]
    min_stage_seconds = {min_stage}
    [[components]]
    id = "storage"
    title = "Storage"
    flag_key = "mdm.new_backend"
    [[components]]
    id = "features"
    title = "Features"
    flag_key = "mdm.new_features"
    [metrics]
    source = "jsonl"
    path = "metrics/ops.jsonl"
    [[validators]]
    id = "cfg"
    kind = "file"
    phases = ["preflight", "rollback"]
    critical = true
    params = {{ path = "config/app.toml", parse = "toml" }}
    [[validators]]
    id = "slow"
    kind = "command"
    phases = ["post"]
    params = {{ argv = ["sleep", "30"] }}
    [[checklist]]
    id = "pre.backup"
    section = "Pre-Cutover"
    title = "Final backup"
    critical = true
    [[checklist]]
    id = "pre.config"
    section = "Pre-Cutover"
    title = "Config validated"
    requires_validators = ["cfg"]
    [[signoffs]]
    role = "Ops"
    requires_sections = ["Pre-Cutover"]
    [[signoffs]]
    role = "Final Approval"
    requires_roles = ["Ops"]
""")


def write_plan(tmp_path: Path, min_stage: int = 0) -> Path:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "app.toml").write_text('[app]\nname = "pilot"\n')
    p = tmp_path / "mdm-plan.toml"
    p.write_text(PLAN.format(min_stage=min_stage))
    return p


class LiveOldPath:
    """A HealthView for pilots that run no feed: the feed is live and has seen only the old path (so leaving 0 %
    passes its feed gate; the traffic gates above 0 % see no new-path operations)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def stage_counters(self, component, since):
        from mdm_console.feeds.base import StageCounters

        return StageCounters(0, 0, 0, self.engine.now())


async def open_engine(tmp_path: Path, min_stage: int = 0) -> Engine:
    e = await Engine.open(load_plan(write_plan(tmp_path, min_stage)), record_start="test")
    await e.rollout.ensure_flag_file()
    e.health = LiveOldPath(e)  # a LiveMonitor started later takes its place
    return e


async def until(pilot, predicate, timeout: float = 10.0) -> None:
    """Let the app run until `predicate()` holds (checked after each pause)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)
