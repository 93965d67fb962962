"""A plan of many components: the dashboard puts the worst first, filters with `/` and says which rows of how
many are on screen; the checklist and the sign-offs summarise; the costs that grew with N stay bounded."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime

from mdm_console.engine.core import Engine
from mdm_console.engine.live import LiveMonitor
from mdm_console.plan.load import load_plan
from mdm_console.ui.app import ConsoleApp
from mdm_console.ui.widgets.filter_input import FilterInput
from mdm_console.ui.widgets.health_table import HealthTable
from tests.ui_helpers import until

N = 60
CRITICAL = ["svc0042", "svc0007"]  # half their operations fail on the new path
WARNING = ["svc0031", "svc0003", "svc0050"]  # 3 % fail (the warning level is 2 %, critical 5 %)


def write_many(tmp_path, n: int = N) -> object:
    comps = "".join(f'[[components]]\nid = "svc{i:04d}"\ntitle = "Service {i}"\nflag_key = "mdm.svc{i:04d}"\n'
                    for i in range(n))
    plan = tmp_path / "mdm-plan.toml"
    plan.write_text(textwrap.dedent("""\
        version = 1
        [cutover]
        name = "Many"
        flag_file = "state/flags.json"
        [alerts]
        error_rate = { warning = 0.02, critical = 0.05 }
        [metrics]
        source = "jsonl"
        path = "ops.jsonl"
        """) + comps)
    now = datetime.now(UTC).isoformat()
    lines = []
    for i in range(n):
        comp = f"svc{i:04d}"
        bad = 50 if comp in CRITICAL else 3 if comp in WARNING else 0
        for k in range(100):
            lines.append(json.dumps({"ts": now, "component": comp, "outcome": "error" if k < bad else "success",
                                     "latency_ms": 20, "variant": "new"}))
    (tmp_path / "ops.jsonl").write_text("\n".join(lines) + "\n")
    return load_plan(plan)


async def test_the_dashboard_puts_the_worst_first_says_which_rows_of_how_many_and_filters(tmp_path):
    e = await Engine.open(write_many(tmp_path), record_start="test")
    monitor = LiveMonitor(e)
    await monitor.start()
    app = ConsoleApp(e, monitor=monitor, keymap={})
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            table = app.screen.query_one(HealthTable)
            await until(pilot, lambda: table.row_count == N and table.counts.get("critical") == 2)
            keys = [r.value for r in table.rows]
            assert keys[:5] == ["svc0007", "svc0042", "svc0003", "svc0031", "svc0050"]  # worst, then plan order
            assert keys[5:] == sorted(keys[5:])
            # which rows are on screen: the title follows the layout once it settles (each tick draws it)
            await until(pilot, lambda: table.border_title.startswith(f"Components 1-9 of {N} worst first"))
            assert table.border_subtitle == f"2 critical · 3 warning · {N - 5} ok"
            assert table.selected == "svc0007"  # the cursor starts on the worst

            await pilot.press("ctrl+end")  # the last rows: the title follows the scroll
            await until(pilot, lambda: table.border_title.startswith(f"Components {N - 8}-{N} of {N}"))

            await pilot.press("slash")
            assert isinstance(app.focused, FilterInput)
            await pilot.press(*"svc001")
            await until(pilot, lambda: table.row_count == 10)
            assert [r.value for r in table.rows] == [f"svc{i:04d}" for i in range(10, 20)]
            assert "1-9 of 10 matching \"svc001\" (60 in all)" in table.border_title
            await pilot.press("enter")  # kept, back to the table: digits switch screens again
            assert app.focused is table and table.row_count == 10

            await pilot.press("slash", "ctrl+u", *"critical", "enter")
            await until(pilot, lambda: [r.value for r in table.rows] == ["svc0007", "svc0042"])
            await pilot.press("slash", "escape")  # cleared: every component again
            await until(pilot, lambda: table.row_count == N)
            assert not app.screen.query_one(FilterInput).has_class("shown") and app.focused is table
    finally:
        await monitor.stop()
        await e.close()
