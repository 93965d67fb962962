"""The console as an operator lives in it (issue: the log says why, screens live behind dialogs, the rollback
wizard finishes on screen, the checklist knows the facts): pilots on the real engine and real files."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Static

from mdm_console.ui.app import ConsoleApp
from mdm_console.ui.modals.event_detail import EventDetailModal
from mdm_console.ui.modals.quit import QuitModal
from tests.ui_helpers import open_engine, until

SIZE = (150, 45)


def text_of(widget) -> str:
    return str(widget.render())


async def test_the_log_says_who_what_why_and_when_and_searches_and_follows(tmp_path):
    e = await open_engine(tmp_path)
    await e.rollout.advance("storage", reason="wave 1 as planned [b]not markup[/b]")
    app = ConsoleApp(e, keymap={})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        screen = app.screen
        await until(pilot, lambda: "stage.changed" in [str(r[3]) for r in map(
            screen.query_one("#log", DataTable).get_row_at, range(screen.query_one("#log", DataTable).row_count))])
        screen.query_one("#kind", Input).value = "stage."
        table = screen.query_one("#log", DataTable)
        await until(pilot, lambda: table.row_count == 1 and "matching" in str(table.border_title))
        table.focus()
        words = screen.query_one("#words", Static)
        await until(pilot, lambda: "reason: wave 1" in text_of(words))
        shown = text_of(words)
        assert "stage: testing -> canary (0 % -> 5 %)" in shown
        assert "reason: wave 1 as planned [b]not markup[/b]" in shown  # text, never markup
        assert "OS user:" in shown and "typed name:" in shown and "seq " in shown
        assert "gate: ok feed" in shown  # the gates it was judged on
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EventDetailModal))
        raw = text_of(app.screen.query_one("#raw", Static))
        assert '"kind": "stage.changed"' in raw and '"prev_hash"' in raw
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        # Search: the text of any field.
        screen.query_one("#kind", Input).value = ""
        await pilot.press("slash")
        assert app.focused is screen.query_one("#text", Input)
        await pilot.press(*"WAVE 1")
        # Only the events whose text holds it, in any case: the stage change, its intent and its point.
        await until(pilot, lambda: "matching" in str(table.border_title)
                    and {str(table.get_row_at(i)[3]) for i in range(table.row_count)} == {"stage.changed", "intent", "point.created"})
        # Follow off: new events are counted, not shown, until follow is on again.
        screen.query_one("#text", Input).value = ""
        await until(pilot, lambda: "matching" not in str(table.border_title))
        table.focus()
        rows = table.row_count
        await pilot.press("f")
        await e.record("checklist.note", None, {"item": "pre.backup", "text": "taken"})
        await until(pilot, lambda: "paused, 1 new" in str(table.border_title))
        assert table.row_count == rows
        await pilot.press("f")
        await until(pilot, lambda: table.row_count == rows + 1 and "following" in str(table.border_title))
        assert str(table.get_row_at(0)[3]) == "checklist.note"
    await e.close()


async def test_screens_behind_a_dialog_stay_current_and_the_quit_dialog_follows_the_work(tmp_path):
    e = await open_engine(tmp_path)
    app = ConsoleApp(e, keymap={})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        validation = app.screen
        await pilot.press("tab", "v")
        await until(pilot, lambda: "slow" in e.validation.running)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitModal))
        dialog = app.screen
        assert "An operation is running" in text_of(dialog.query_one("#title"))
        assert "slow" in text_of(dialog.query_one("#detail"))
        # The run ends while the dialog is open: its words and the screen behind it follow.
        e.validation.cancel_all()
        await until(pilot, lambda: not e.validation.running)
        await until(pilot, lambda: "Nothing is running any more" in text_of(dialog.query_one("#title")))
        table = validation.query_one(DataTable)
        statuses = [str(table.get_row_at(i)) for i in range(table.row_count)]
        assert not any("running" in s for s in statuses), statuses
        assert any("cancelled" in s for s in statuses)
        # Coalesced: the burst of events of the run reached the screens in fewer deliveries than events.
        events = len(await e.events())
        assert 0 < app.deliveries < events
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is validation)
        await pilot.press("q")  # nothing runs, nothing is out: quits at once
        await until(pilot, lambda: not app.is_running)
    await e.close()


def on_screen(widget, size=(80, 24)) -> bool:
    """The widget is drawn inside the terminal, not cut off or scrolled away."""
    r = widget.region
    return r.width > 0 and r.height > 0 and r.right <= size[0] and r.bottom <= size[1]


async def test_the_rollback_wizard_finishes_on_screen_at_80x24(tmp_path):
    from mdm_console.ui.modals.rollback_wizard import RollbackWizard

    e = await open_engine(tmp_path)
    await e.rollout.advance("storage", reason="wave 1")
    app = ConsoleApp(e, keymap={})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RollbackWizard))
        wizard = app.screen
        for wid in ("#kind", "#component", "#point", "#reason", "#word", "#run", "#close", "#state"):
            assert on_screen(wizard.query_one(wid)), wid
        # A component rollback without a component: said in the console's words, no CLI flag, no "None".
        from textual.widgets import Select

        wizard.query_one("#kind", Select).value = "component"
        await until(pilot, lambda: "needs a component" in text_of(wizard.query_one("#state")))
        assert "--" not in text_of(wizard.query_one("#state"))
        await pilot.click("#run")
        await until(pilot, lambda: "Nothing to run yet" in text_of(wizard.query_one("#error")))
        wizard.query_one("#kind", Select).value = "flags"
        await until(pilot, lambda: wizard.plan is not None)
        assert text_of(wizard.query_one("#error")) == ""  # the stale message went
        assert app.focused is wizard.query_one("#word")  # focus goes to the confirm field
        await pilot.press(*"ROLLBACX", "enter")  # a typo: asked again
        await until(pilot, lambda: "Type ROLLBACK" in text_of(wizard.query_one("#error")))
        await pilot.press("backspace", "K")
        assert text_of(wizard.query_one("#error")) == ""  # typing clears it
        await pilot.press("enter")
        await until(pilot, lambda: "Done in" in text_of(wizard.query_one("#state")), 20)
        state = wizard.query_one("#state")
        assert on_screen(state) and "target" in text_of(state)
        progress = text_of(wizard.query_one("#preview-text"))
        assert "rollback.finished" in progress and "None" not in progress and "ROLLBACK" not in progress
        assert e.state.components["storage"].percent == 0
        assert app.focused is wizard.query_one("#close")
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, RollbackWizard))
    await e.close()
