"""The console shell on the real engine (pilot)."""

from __future__ import annotations

from mdm_console.engine.core import Engine
from mdm_console.plan.demo_setup import prepare_demo
from mdm_console.plan.load import load_plan
from mdm_console.ui.app import ConsoleApp
from mdm_console.ui.widgets.components_table import ComponentsTable
from mdm_console.ui.widgets.event_log import EventLog


async def test_demo_console_shows_demo_label_components_and_live_events():
    engine = await Engine.open(load_plan(prepare_demo(), is_demo=True), record_start="console")
    app = ConsoleApp(engine)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        assert app.title.startswith("DEMO · ")
        assert "DEMO" in str(app.query_one("#status").render())
        table = app.query_one(ComponentsTable)
        assert [table.get_row_at(i)[0] for i in range(table.row_count)] == [
            "config", "storage", "features", "registration"]
        log = app.query_one(EventLog)
        assert log.row_count == 1
        await engine.record("stage.changed", "storage", {"from": "testing", "to": "canary",
                                                         "from_percent": 0, "to_percent": 5})
        await pilot.pause()
        await pilot.pause()
        assert log.row_count == 2
        assert table.get_row("storage")[3:5] == ["canary", "5 %"]
        assert "migration" in app.sub_title
        await pilot.press("q")
    await engine.close()
