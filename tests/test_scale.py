"""A plan of many components: the dashboard puts the worst first, filters with `/` and says which rows of how
many are on screen; the checklist and the sign-offs summarise; the costs that grew with N stay bounded."""

from __future__ import annotations

import json
import textwrap
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from textual.content import Content

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


@asynccontextmanager
async def dashboard_of_many(tmp_path, clock=None):
    """The console on the plan of N components with its live monitor (160x48), once every row is ranked:
    (engine, monitor, app, pilot, the health table)."""
    e = await Engine.open(write_many(tmp_path), record_start="test")
    if clock is not None:
        e.clock = clock
    monitor = LiveMonitor(e)
    await monitor.start()
    app = ConsoleApp(e, monitor=monitor, keymap={})
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            table = app.screen.query_one(HealthTable)
            await until(pilot, lambda: table.row_count == N and table.counts.get("critical") == 2)
            yield e, monitor, app, pilot, table
    finally:
        await monitor.stop()
        await e.close()


async def test_the_dashboard_puts_the_worst_first_says_which_rows_of_how_many_and_filters(tmp_path):
    async with dashboard_of_many(tmp_path) as (e, monitor, app, pilot, table):
        keys = [r.key.value for r in table.ordered_rows]  # as shown (a reorder sorts in place)
        assert keys[:5] == ["svc0007", "svc0042", "svc0003", "svc0031", "svc0050"]  # worst, then plan order
        assert keys[5:] == sorted(keys[5:])
        # which rows are on screen: the title follows the layout once it settles (each tick draws it)
        await until(pilot, lambda: table.border_title.startswith(f"Components 1-9 of {N} worst first"))
        assert table.border_subtitle == f"2 critical · 3 warning · {N - 5} ok"
        assert table.selected == "svc0007"  # the cursor starts on the worst

        # svc0059 (out of view) gets 50 more operations: its row shows them once it scrolls into view
        now = datetime.now(UTC).isoformat()
        with (tmp_path / "ops.jsonl").open("a") as f:
            for _ in range(50):
                f.write(json.dumps({"ts": now, "component": "svc0059", "outcome": "success", "latency_ms": 20,
                                    "variant": "new"}) + "\n")
        await until(pilot, lambda: app.session.stats("svc0059").primary.ops == 150)
        await pilot.press("ctrl+end")  # the last rows: the title follows the scroll
        await until(pilot, lambda: table.border_title.startswith(f"Components {N - 8}-{N} of {N}"))
        await until(pilot, lambda: "150" in [str(c) for c in table.get_row("svc0059")])
        await pilot.press("ctrl+home", "down", "down")  # on svc0003, the first warning
        assert table.selected == "svc0003"

        # svc0020 goes critical: it moves up among the worst, and the cursor stays on its component
        now = datetime.now(UTC).isoformat()
        with (tmp_path / "ops.jsonl").open("a") as f:
            for _ in range(400):
                f.write(json.dumps({"ts": now, "component": "svc0020", "outcome": "error", "latency_ms": 20,
                                    "variant": "new"}) + "\n")
        await until(pilot, lambda: [r.key.value for r in table.ordered_rows][:3] ==
                    ["svc0007", "svc0020", "svc0042"])
        assert table.selected == "svc0003" and table.cursor_row == 3
        assert table.border_subtitle == f"3 critical · 3 warning · {N - 6} ok"

        await pilot.press("slash")
        assert isinstance(app.focused, FilterInput)
        await pilot.press(*"svc001")
        await until(pilot, lambda: table.row_count == 10)
        assert [r.key.value for r in table.ordered_rows] == [f"svc{i:04d}" for i in range(10, 20)]
        assert "1-9 of 10 matching \"svc001\" (60 in all)" in table.border_title
        await pilot.press("enter")  # kept, back to the table: digits switch screens again
        assert app.focused is table and table.row_count == 10

        await pilot.press("slash", "ctrl+u", *"critical", "enter")
        await until(pilot, lambda: [r.key.value for r in table.ordered_rows] == ["svc0007", "svc0020", "svc0042"])
        await pilot.press("slash", "ctrl+u", *"[b]svc", "enter")  # the operator's text is shown as typed
        await until(pilot, lambda: table.row_count == 0)
        assert '0 of 0 matching "[b]svc" (60 in all)' in Content.from_markup(table.border_title).plain
        await pilot.press("slash", "escape")  # cleared: every component again
        await until(pilot, lambda: table.row_count == N)
        assert not app.screen.query_one(FilterInput).has_class("shown") and app.focused is table


async def test_the_first_figures_drawn_are_the_feeds(tmp_path):
    """The console reads what the feed's file holds before it first draws: the first frame with figures ranks the
    critical components first, not every row NO DATA until the feed's first pass."""
    from mdm_console.cli.owner import Owner
    from tests.test_ui import console_args

    plan = write_many(tmp_path).path
    parts, first = Owner(), []

    async def opener():
        return await parts.open(console_args(plan), None)

    def shown():
        table = app.screen.query_one(HealthTable)
        first.append([str(c) for c in table.get_row_at(0)][:2])

    app = ConsoleApp(opener=opener, keymap={}, tick_seconds=None, figures_shown=shown)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: first)
    finally:
        await parts.close()
    assert first == [["svc0007", "✘ CRITICAL"]]


async def test_a_sign_off_names_a_few_open_items_and_counts_the_rest(tmp_path):
    items = "".join(f'[[checklist]]\nid = "c{i:03d}"\nsection = "Big"\ntitle = "step {i}"\ncritical = true\n'
                    for i in range(40))
    plan = tmp_path / "mdm-plan.toml"
    plan.write_text('version = 1\n[cutover]\nname = "x"\nflag_file = "flags.json"\n[[components]]\nid = "a"\n'
                    'flag_key = "mdm.a"\n' + items + '[[signoffs]]\nrole = "Ops"\nrequires_sections = ["Big"]\n')
    e = await Engine.open(load_plan(plan), record_start="test")
    try:
        await e.checklist.complete("c000")
        (unmet,) = e.checklist.unmet("Ops")
        assert unmet == ("section 'Big' has critical items not completed: c001, c002, c003, c004, c005 "
                         "and 34 more")
    finally:
        await e.close()


def test_a_rollback_points_stages_are_counted_when_there_are_many():
    from mdm_console.ui.screens.rollout import stages_text

    few = {"a": {"stage": "canary"}, "b": {"stage": "testing"}}
    assert stages_text(few) == "a=canary, b=testing"
    many = {f"svc{i}": {"stage": "canary" if i < 2 else "testing"} for i in range(400)}
    assert stages_text(many) == "400 components: 398 testing, 2 canary"


def checklist_plan(tmp_path, extra):
    """A plan of one component and 600 checklist items in 3 sections; `extra(i)` adds TOML lines to item i."""
    items = "".join(f'[[checklist]]\nid = "c{i:03d}"\nsection = "S{i % 3}"\ntitle = "step {i}"\n' + extra(i)
                    for i in range(600))
    plan = tmp_path / "mdm-plan.toml"
    plan.write_text('version = 1\n[cutover]\nname = "x"\nflag_file = "flags.json"\n[[components]]\nid = "a"\n'
                    'flag_key = "mdm.a"\n' + items)
    return load_plan(plan)


async def test_the_checklist_pages_a_long_list_filters_it_and_summarises_it(tmp_path):
    from textual.widgets import DataTable

    e = await Engine.open(checklist_plan(tmp_path, lambda i: "critical = true\n" if i % 50 == 0 else ""),
                          record_start="test")
    app = ConsoleApp(e, keymap={})
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("4")
            await until(pilot, lambda: app.screen.query("#items"))
            table = app.screen.query_one("#items", DataTable)
            await until(pilot, lambda: table.row_count == 100)
            assert table.border_title.startswith("Checklist 1-100 of 600, page 1 of 6 (] next · [ previous)")
            assert table.border_subtitle == "0 of 600 done · 12 critical open"
            await pilot.press("right_square_bracket", "right_square_bracket")
            await until(pilot, lambda: table.border_title.startswith("Checklist 201-300 of 600, page 3 of 6"))
            assert [r.value for r in table.rows][0] == "c200" and table.row_count == 100

            await pilot.press("slash", *"critical", "enter")  # the filter searches every item, from page 1
            await until(pilot, lambda: table.row_count == 12)
            assert "1-12 of 12 matching \"critical\" (600 in all)" in table.border_title
            assert app.focused is table and app.screen.selected == "c000"
            await pilot.press("space")
            await until(pilot, lambda: e.state.checklist["c000"].status == "completed")
            await until(pilot, lambda: table.border_subtitle == "1 of 600 done · 11 critical open")
            assert "done" in str(table.get_row("c000")[0])
            await pilot.press("slash", "escape")
            await until(pilot, lambda: table.row_count == 100)
    finally:
        await e.close()


async def test_the_checklist_is_judged_in_an_idle_moment_before_it_is_first_shown(tmp_path, monkeypatch):
    """A moment after the first figures the console makes every checklist item's view (600 here) while the
    dashboard shows; pressing 4 then judges none of them again."""
    from textual.widgets import DataTable

    from mdm_console.engine.checklist import Checklist
    from mdm_console.ui import app as app_module

    monkeypatch.setattr(app_module, "WARM_AFTER_S", 0.05)
    judged = []
    view = Checklist._view
    monkeypatch.setattr(Checklist, "_view", lambda self, item, *a: judged.append(item.id) or view(self, item, *a))
    e = await Engine.open(checklist_plan(tmp_path, lambda i: 'depends_on = ["c%03d"]\n' % (i - 1) if i % 7 == 1
                                         else ""), record_start="test")
    app = ConsoleApp(e, keymap={})
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: len(judged) == 600)
            assert app.screen.__class__.__name__ == "DashboardScreen"
            await pilot.press("4")
            await until(pilot, lambda: app.screen.query("#items"))
            await until(pilot, lambda: app.screen.query_one("#items", DataTable).row_count == 100)
            assert len(judged) == 600
    finally:
        await e.close()


async def test_rows_kept_between_redraws_take_the_new_themes_colours(tmp_path):
    """Rows are made again only when what they show changes: a theme change is such a change."""
    from textual.widgets import DataTable

    from mdm_console.ui.tones import styles
    from tests.ui_helpers import open_engine

    e = await open_engine(tmp_path)
    await e.checklist.complete("pre.backup")
    app = ConsoleApp(e, keymap={})
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("4")
            await until(pilot, lambda: app.screen.query("#items") and app.screen.query_one("#items").row_count)
            table = app.screen.query_one("#items", DataTable)
            dark = styles(app)["ok"]
            assert table.get_row("pre.backup")[0].style == dark
            app.theme = "mdm-light"
            light = styles(app)["ok"]
            assert light != dark  # the screen redraws with the new theme's colours by itself
            await until(pilot, lambda: table.get_row("pre.backup")[0].style == light)
    finally:
        await e.close()


async def test_the_dashboard_shows_a_line_or_a_stage_change_at_once_though_it_skips_passes_that_nothing_moved(
        tmp_path):
    """The dashboard makes its rows again only when the session's figures, its state or the theme moved. With
    the clock held (the window never moves on a bucket), a new line must still reach its row, and a stage change
    its stage cell, within a tick or two; and a pass that nothing moved reuses the rows it made."""
    held = datetime.now(UTC)
    async with dashboard_of_many(tmp_path, clock=lambda: held) as (e, monitor, app, pilot, table):
        await until(pilot, lambda: str(table.get_row("svc0000")[table.shown.index("new_ops")]) == "100")
        # passes go by with nothing moved: the rows are not made again (two ticks in a row)
        seen = {"rows": object(), "since": 0}  # nothing the table holds: the first look records what it kept

        def settled() -> bool:
            if table._ranked is not seen["rows"]:
                seen.update(rows=table._ranked, since=monitor.ticks)
            return table._ranked is not None and monitor.ticks >= seen["since"] + 2

        await until(pilot, settled)
        with (tmp_path / "ops.jsonl").open("a") as f:
            for _ in range(25):
                f.write(json.dumps({"ts": held.isoformat(), "component": "svc0000", "outcome": "success",
                                    "latency_ms": 20, "variant": "new"}) + "\n")
        await until(pilot, lambda: str(table.get_row("svc0000")[table.shown.index("new_ops")]) == "125",
                    timeout=4)
        # Two stages on: with the clock held both began at the same instant, so the verdict (on the counts since
        # its stage began) is the same after the second as after the first; only the state says it moved.
        for _ in range(2):
            await e.rollout.advance("svc0001", override="drill")
            st = e.state.components["svc0001"]
            await until(pilot, lambda st=st: str(table.get_row("svc0001")[table.shown.index("stage")])
                        == f"{st.stage} {st.percent:g}%", timeout=3)
