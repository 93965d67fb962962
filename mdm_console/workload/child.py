"""Start and stop the demo workload as a child of the console (no orphan left behind)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mdm_console.plan.load import LoadedPlan

DEMO_RATE = 200
DEMO_PROMETHEUS_PORT = 9464  # the demo plan's workload.metrics validator reads it


def start(loaded: LoadedPlan, *extra: str) -> subprocess.Popen:
    metrics = loaded.resolve(loaded.plan.metrics.path or "metrics/ops.jsonl")
    log = Path(loaded.base_dir) / "state" / "demo-workload.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "mdm_console", "demo-workload", "--flags", str(loaded.flag_file),
            "--metrics", str(metrics), "--rate", str(DEMO_RATE), "--prometheus-port", str(DEMO_PROMETHEUS_PORT),
            *extra]
    with open(log, "ab") as fh:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=fh, stdin=subprocess.DEVNULL)


def stop(proc: subprocess.Popen, grace: float = 3.0) -> int | None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
