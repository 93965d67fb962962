from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest

BASE_PLAN = """\
version = 1

[cutover]
name = "Test cutover"
flag_file = "state/flags.flagd.json"
session_db = "state/session.duckdb"
snapshot_files = ["config/app.toml"]

[gate]
min_success_rate = 0.99
max_error_rate = 0.05
min_operations = 100
min_stage_seconds = 600

[[components]]
id = "storage"
title = "Storage"
flag_key = "mdm.new_backend"

[[components]]
id = "features"
title = "Features"
flag_key = "mdm.new_features"

[[validators]]
id = "cfg"
kind = "file"
params = { path = "config/app.toml", parse = "toml" }

[[checklist]]
id = "a"
section = "Pre"
title = "First"
critical = true

[[checklist]]
id = "b"
section = "Pre"
title = "Second"
depends_on = ["a"]
requires_validators = ["cfg"]

[[signoffs]]
role = "Ops"
requires_sections = ["Pre"]

[[signoffs]]
role = "Final Approval"
requires_roles = ["Ops"]
"""


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory, monkeypatch):
    """No test touches the real user state directory or depends on the caller's operator."""
    monkeypatch.setenv("MDM_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    monkeypatch.setenv("MDM_OPERATOR", "tester")
    monkeypatch.setenv("MDM_CHECK_EVENTS", "1")  # every recorded payload is checked against engine/events.py
    monkeypatch.setattr("mdm_console.engine.events.CHECK", True)


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "app.toml").write_text('[app]\nname = "x"\n')
    p = tmp_path / "mdm-plan.toml"
    p.write_text(BASE_PLAN)
    return p


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 60):
    """Run the real `mdm-console` entry point in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mdm_console", *args], cwd=cwd, env=full_env, capture_output=True, text=True,
        timeout=timeout,
    )


@contextmanager
def holding(plan_file: Path):
    """Another process holding the plan's session db as its writer (until the block ends)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import asyncio, sys
            from mdm_console.engine.core import Engine
            from mdm_console.plan.load import load_plan
            async def go():
                e = await Engine.open(load_plan({str(plan_file)!r}), record_start="holder")
                print("ready", flush=True)
                await asyncio.to_thread(sys.stdin.readline)
                await e.close()
            asyncio.run(go())
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def pytest_addoption(parser):
    g = parser.getgroup("mdm-console fault suites")
    g.addoption("--fault-trials", type=int, default=3,
                help="kills of a real session process in the kill -9 suite (default 3)")
    g.addoption("--fault-seed", type=int, default=20261123, help="seed for where the kills land")
