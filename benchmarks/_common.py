"""Helpers the benchmark scripts share: a temporary plan and percentiles."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parse_args(**defaults: float) -> "argparse.Namespace":
    """`--json` plus one option per keyword (`runs=5` -> `--runs N`, typed like its default)."""
    import argparse

    ap = argparse.ArgumentParser()
    for name, default in defaults.items():
        ap.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    ap.add_argument("--json", action="store_true")
    return ap.parse_args()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[idx]


def write_plan(directory: Path, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    plan = directory / "mdm-plan.toml"
    plan.write_text(textwrap.dedent("""\
        version = 1
        [cutover]
        name = "benchmark"
        flag_file = "flags.json"
        [[components]]
        id = "storage"
        flag_key = "mdm.new_backend"
        [[components]]
        id = "features"
        flag_key = "mdm.new_features"
    """) + textwrap.dedent(body))
    return plan


def sleeping_validators(n: int, seconds: int, timeout: int) -> str:
    """Plan TOML for `n` post-phase `command` validators that sleep `seconds` (they stay running: load)."""
    return "".join(f"""
[[validators]]
id = "load{i}"
kind = "command"
phases = ["post"]
timeout_seconds = {timeout}
params = {{ argv = ["sleep", "{seconds}"] }}
""" for i in range(n))


def print_rows(rows: list[dict]) -> None:
    for r in rows:
        extra = f"  (baseline {r['baseline']} {r['unit']}, ratio {r['ratio']})" if r.get("baseline") is not None else ""
        print(f"{r['figure']:<58} {r['value']:>10} {r['unit']:<8} goal {r['goal'] or '-':<12}{extra}")
        print(f"    {r['how']}")


def emit(rows: list[dict], as_json: bool) -> None:
    """Print the figures as a table (or JSON for benchmarks/run.py)."""
    if as_json:
        import json

        print(json.dumps(rows, indent=2))
    else:
        print_rows(rows)
