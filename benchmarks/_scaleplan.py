"""A generated plan of N components, as a team with a large service would write one (benchmarks/scale.py).

N components (each its own flag), N `command` validators (`true`, no shell), 10 N checklist items in 10
sections (one in ten critical, one in five needing its component's validator, one in ten depending on the
item before), five sign-off roles over two sections each (the last also needing the first four), and a JSONL
feed with per-operation lines for every component on both paths, timestamps spread over the last 5 minutes.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path

SECTIONS = [f"Section {i:02d}" for i in range(10)]
ROLES = ["Development Lead", "QA Lead", "Operations Lead", "Product Owner", "Final Approval"]


def cid(i: int) -> str:
    return f"svc{i:04d}"


def write_scale_plan(directory: Path, n: int, lines_per_component: int = 40, seed: int = 7) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "metrics").mkdir(exist_ok=True)
    out = ["version = 1", "[cutover]", f'name = "scale {n}"', 'flag_file = "state/flags.flagd.json"',
           'session_db = "state/session.duckdb"', "", "[gate]", "min_operations = 10", "min_stage_seconds = 0", ""]
    for i in range(n):
        out += ["[[components]]", f'id = "{cid(i)}"', f'title = "Service {i}"', f'flag_key = "mdm.{cid(i)}"', ""]
    out += ["[metrics]", 'source = "jsonl"', 'path = "metrics/ops.jsonl"', "window_seconds = 300", ""]
    for i in range(n):
        out += ["[[validators]]", f'id = "check.{cid(i)}"', 'kind = "command"', f'title = "{cid(i)} answers"',
                'phases = ["preflight", "post"]', "critical = false", "timeout_seconds = 10",
                f'batch = "b{i % 4}"', 'params = { argv = ["true"] }', ""]
    for r, role in enumerate(ROLES):
        out += ["[[signoffs]]", f'role = "{role}"',
                f'requires_sections = ["{SECTIONS[2 * r]}", "{SECTIONS[2 * r + 1]}"]']
        if r == len(ROLES) - 1:
            out.append(f"requires_roles = {json.dumps(ROLES[:-1])}")
        out.append("")
    out += ["[access]", "one_os_user_for_rehearsal = true", ""]
    for k in range(10 * n):
        comp, section = k // 10, SECTIONS[k % 10]
        out += ["[[checklist]]", f'id = "i{k:05d}"', f'section = "{section}"',
                f'title = "{cid(comp)}: step {k % 10} of its cutover"']
        if k % 10 == 3:
            out.append("critical = true")
        if k % 10 == 5:
            out.append(f'requires_validators = ["check.{cid(comp)}"]')
        if k % 10 == 7:
            out.append(f'depends_on = ["i{k - 1:05d}"]')
        out.append("")
    plan = directory / "mdm-plan.toml"
    plan.write_text("\n".join(out))
    write_feed(directory / "metrics" / "ops.jsonl", n, lines_per_component, seed)
    return plan


def write_feed(path: Path, n: int, lines_per_component: int, seed: int) -> None:
    """Per-operation lines, both paths, times spread over the last 5 minutes in time order."""
    rng = random.Random(seed)
    now = time.time()
    rows = []
    for i in range(n):
        for j in range(lines_per_component):
            ts = now - 295 + rng.random() * 290
            rows.append((ts, cid(i), "new" if j % 4 == 0 else "old"))
    rows.sort()
    with path.open("w") as f:
        for ts, comp, variant in rows:
            f.write(json.dumps({"ts": datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds"),
                                "component": comp, "outcome": "error" if rng.random() < 0.002 else "success",
                                "latency_ms": round(rng.lognormvariate(3, 0.5), 2), "variant": variant}) + "\n")
