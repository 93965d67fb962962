"""The example service of docs/integrate.md, run for real: it follows the console's flag file through the
OpenFeature SDK and the flagd provider (file mode), and its metric lines reach the console split by path."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from mdm_console.engine.core import Engine
from mdm_console.engine.live import LiveMonitor
from mdm_console.plan.load import load_plan

EXAMPLE = Path(__file__).parent.parent / "examples" / "orders"


def read_ops(path: Path) -> list[tuple[float, str]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue  # the last line may be half written
        out.append((datetime.fromisoformat(d["ts"]).timestamp(), d["variant"]))
    return out


async def ops_after(path: Path, since: float, until: float | None = None, n: int = 200, timeout: float = 20):
    """The app's operations with ts in [since, until), once it has written n of them."""
    deadline = time.monotonic() + timeout
    while True:
        got = [v for t, v in read_ops(path) if t >= since and (until is None or t < until)]
        if len(got) >= n:
            return got
        assert time.monotonic() < deadline, f"the app wrote {len(got)} of {n} operations after {since}"
        await asyncio.sleep(0.05)


async def test_the_example_app_follows_advance_within_a_second_and_the_console_sees_both_paths(tmp_path):
    work = tmp_path / "orders"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("state", "metrics", "__pycache__"))
    e = await Engine.open(load_plan(work / "mdm-plan.toml"), record_start="test")
    await e.rollout.ensure_flag_file()
    m = LiveMonitor(e, system=False)
    await m.start()
    metrics = work / "metrics" / "orders.jsonl"
    app = subprocess.Popen([sys.executable, str(work / "app.py"), "--flags", str(e.loaded.flag_file),
                            "--metrics", str(metrics), "--rate", "400", "--seed", "7"], cwd=work)
    try:
        before = await ops_after(metrics, 0, n=100)
        assert set(before) == {"old"}  # at 0 % every customer takes the old path

        for _ in range(3):  # testing 0 -> canary 5 -> early_adopters 25 -> general_availability 50
            await e.rollout.advance("storage", override="integration test")
        t50 = time.time()
        half = await ops_after(metrics, t50 + 1.0, n=600)  # a second after the flag file changed
        share = half.count("new") / len(half)
        assert 0.42 < share < 0.58, share  # 50 % of customers, by flagd's own bucketing

        for _ in range(2):  # -> full_rollout 100
            await e.rollout.advance("storage", override="integration test")
        t100 = time.time()
        full = await ops_after(metrics, t100 + 1.0, n=200)
        assert set(full) == {"new"}, full.count("old")  # within a second, every order takes the new path

        # The console read the same lines, split by path (counted since the first advance: the live figures
        # show only the current stage, where the old path has no traffic).
        seen = m.windows.since_counts("storage", datetime.fromtimestamp(t50 - 60, UTC))
        assert seen["new"][0] > 0 and seen["old"][0] > 0 and seen["all"][0] == 0
    finally:
        app.terminate()
        app.wait(10)
        await m.stop()
        await e.close()
    assert app.returncode == 0
