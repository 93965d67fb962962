"""Every screen flow through Textual's pilot, on the real engine and real files."""

from __future__ import annotations

import json

import pytest

from textual.widgets import DataTable, Input, Select

from mdm_console.ui.app import ConsoleApp
from mdm_console.ui.modals.confirm import ConfirmModal
from mdm_console.ui.modals.export import ExportModal
from mdm_console.ui.modals.help import HelpModal
from mdm_console.ui.modals.reason import ReasonModal
from mdm_console.ui.modals.rollback_wizard import RollbackWizard
from mdm_console.ui.modals.signoff import SignoffModal
from tests.conftest import run_cli
from tests.ui_helpers import open_engine, until

SIZE = (150, 45)


def app_for(engine) -> ConsoleApp:
    return ConsoleApp(engine, keymap={})


async def test_keys_switch_screens_and_help_lists_the_screen_keys(tmp_path):
    e = await open_engine(tmp_path)
    app = app_for(e)
    async with app.run_test(size=SIZE) as pilot:
        for key, name in [("2", "RolloutScreen"), ("3", "ValidationScreen"), ("4", "ChecklistScreen"),
                          ("5", "SessionLogScreen"), ("1", "DashboardScreen")]:
            await pilot.press(key)
            await until(pilot, lambda n=name: type(app.screen).__name__ == n)
        await pilot.press("2", "question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpModal))
        text = str(app.screen.query_one("Static").render())
        assert "Advance" in text and "Step back" in text and "Pause" in text
        await pilot.press("escape")
    await e.close()


async def test_a_screen_shown_before_paints_as_soon_as_it_has_redrawn(tmp_path):
    """Textual holds every repaint for 50 ms after a screen switch; a console screen already built lets the frame
    go once it has redrawn from the session. The hold is made a minute long here: only that early end lets the
    switch paint, and what the screen shows by then is current."""
    e = await open_engine(tmp_path, min_stage=0)
    app = app_for(e)
    app.SWITCH_HOLD_S = 60
    async with app.run_test(size=SIZE) as pilot:
        for key, name in [("2", "RolloutScreen"), ("1", "DashboardScreen")]:  # each built on its first visit
            await pilot.press(key)
            await until(pilot, lambda n=name: type(app.screen).__name__ == n and app.screen.is_mounted)
        await e.rollout.advance("storage", override="pilot")  # while the rollout screen is not shown
        await pilot.press("2")
        await until(pilot, lambda: type(app.screen).__name__ == "RolloutScreen" and not app.switch_holds)
        stage = app.screen.query_one("#components", DataTable).get_row("storage")[1]
        assert "canary" in str(stage)
    await e.close()


async def test_a_theme_chosen_while_a_screen_was_hidden_colours_it_when_shown_again(tmp_path):
    """Showing a screen again skips Textual's restyle of every node (ui/screens/base.py), relying on Textual to
    restyle a screen switched to after a theme or CSS change: a theme chosen while it was hidden must still colour
    it, as it colours a screen first built under that theme."""
    e = await open_engine(tmp_path)
    app = app_for(e)

    def colours(table: DataTable) -> tuple:
        return table.styles.background, table.styles.color, table.get_component_styles("datatable--header").color

    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await until(pilot, lambda: type(app.screen).__name__ == "RolloutScreen" and app.screen.is_mounted)
        table = app.screen.query_one("#components", DataTable)
        dark = colours(table)
        await pilot.press("1")
        await until(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
        app.theme = "mdm-light"
        await pilot.press("3")  # built under the light theme
        await until(pilot, lambda: type(app.screen).__name__ == "ValidationScreen" and app.screen.query(DataTable))
        fresh = colours(app.screen.query_one(DataTable))
        assert fresh != dark
        await pilot.press("2")
        await until(pilot, lambda: type(app.screen).__name__ == "RolloutScreen" and not app.switch_holds)
        assert colours(table) == fresh
    await e.close()


async def test_advance_with_gates_holding_asks_first_and_shows_the_change(tmp_path):
    e = await open_engine(tmp_path, min_stage=0)
    app = app_for(e)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "a")
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))  # no key moves traffic silently
        assert e.state.components["storage"].stage == "testing"
        assert "testing (0 %) -> canary (5 %)" in app.screen.title_text
        assert "✔ feed: live" in app.screen.detail and "✔ stage_time" in app.screen.detail
        app.screen.query_one(Input).value = "wave 1 as planned"
        await pilot.press("enter")
        await until(pilot, lambda: e.state.components["storage"].stage == "canary")
        flags = json.loads(e.loaded.flag_file.read_text())["flags"]["mdm.new_backend"]
        assert flags["metadata"]["stage"] == "canary"
    changed = [ev for ev in await e.events() if ev.kind == "stage.changed"][-1]
    assert changed.payload["reason"] == "wave 1 as planned" and "override" not in changed.payload
    await e.close()


async def test_a_plan_that_requires_a_reason_refuses_an_advance_without_one(tmp_path):
    from tests.ui_helpers import write_plan

    plan = write_plan(tmp_path)
    plan.write_text(plan.read_text().replace("[gate]\n", "[gate]\nrequire_reason = true\n"))
    r = run_cli("advance", "storage", "--plan", str(plan))
    assert r.returncode == 1 and "the plan requires a reason for every advance" in r.stderr
    from mdm_console.engine.core import Engine
    from mdm_console.plan.load import load_plan
    from tests.ui_helpers import LiveOldPath

    e = await Engine.open(load_plan(plan), record_start="test")
    e.health = LiveOldPath(e)
    app = app_for(e)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "a")
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        await pilot.press("enter")  # blank: the modal itself refuses
        assert isinstance(app.screen, ReasonModal) and "required" in str(app.screen.query_one("#error").render())
        app.screen.query_one(Input).value = "change 4711 approved"
        await pilot.press("enter")
        await until(pilot, lambda: e.state.components["storage"].stage == "canary")
        await pilot.press("p")  # pause/resume says what it will do, too
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        assert "will advance by itself" in app.screen.detail
        await pilot.press("enter")
        await until(pilot, lambda: e.state.components["storage"].auto_advance)
    changed = [ev for ev in await e.events() if ev.kind == "stage.changed"][-1]
    assert changed.payload["reason"] == "change 4711 approved"
    await e.close()


async def test_blocked_advance_asks_for_a_reason_and_records_the_override(tmp_path):
    e = await open_engine(tmp_path, min_stage=3600)
    app = app_for(e)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "down", "a")
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        await pilot.press("enter")  # blank: refused by the modal itself
        assert isinstance(app.screen, ReasonModal)
        app.screen.query_one(Input).value = "change board approved early canary"
        await pilot.press("enter")
        await until(pilot, lambda: e.state.components["features"].stage == "canary")
    overrides = [ev for ev in await e.events() if ev.kind == "gate.override"]
    assert overrides[0].payload["reason"] == "change board approved early canary"
    assert overrides[0].component == "features"
    await e.close()


async def test_step_back_needs_the_typed_word(tmp_path):
    e = await open_engine(tmp_path)
    await e.rollout.advance("storage")
    app = app_for(e)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        app.screen.query_one(Input).value = "back"
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmModal)  # wrong word: still asking
        app.screen.query_one(Input).value = "BACK"
        await pilot.press("enter")
        await until(pilot, lambda: e.state.components["storage"].stage == "testing")
    await e.close()


async def test_rollback_wizard_end_to_end_on_real_files(tmp_path):
    e = await open_engine(tmp_path)
    await e.rollout.advance("storage")
    await e.rollout.advance("storage", override="no metrics feed in this test")
    cfg = e.loaded.snapshot_files[0]
    original = cfg.read_text()
    cfg.write_text(original + "broken = [\n")
    app = app_for(e)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RollbackWizard))
        wizard = app.screen
        wizard.query_one("#kind", Select).value = "full"
        await until(pilot, lambda: wizard.plan is not None)
        preview = str(wizard.query_one("#preview-text").render())
        assert "  storage: early_adopters 25 % -> testing 0 %" in wizard.plan.lines and "broken = [" in preview
        assert e.state.components["storage"].stage == "early_adopters"  # the preview changed nothing
        wizard.query_one("#word", Input).value = "ROLLBACK"
        await pilot.click("#run")
        await until(pilot, lambda: "Done in" in str(wizard.query_one("#state").render()), 20)
        result = str(wizard.query_one("#state").render())
        assert "target 300 s: met" in result and "verification passed" in result
    assert e.state.components["storage"].stage == "testing" and cfg.read_text() == original
    await e.close()


async def test_run_and_cancel_validators(tmp_path):
    e = await open_engine(tmp_path)
    app = app_for(e)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "v")
        await until(pilot, lambda: e.state.validators.get("cfg") is not None)
        assert e.state.validators["cfg"].status == "passed"
        await pilot.press("tab", "v")  # the post phase: a 30 s validator
        await until(pilot, lambda: "slow" in e.validation.running)
        await pilot.press("x")
        await until(pilot, lambda: e.state.validators.get("slow") is not None)
        assert e.state.validators["slow"].status == "cancelled"
    await e.close()


async def test_complete_an_item_sign_off_and_a_refused_sign_off(tmp_path):
    e = await open_engine(tmp_path)
    app = app_for(e)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("4", "s")
        await until(pilot, lambda: isinstance(app.screen, SignoffModal))
        app.screen.query_one("#role", Select).value = "Ops"
        await pilot.pause()
        assert "critical items not completed: pre.backup" in str(app.screen.query_one("#unmet").render())
        app.screen.query_one("#name", Input).value = "Olga"
        await pilot.click("#ok")
        await until(pilot, lambda: any("refused" in (n.title or "") for n in app._notifications))
        assert "Ops" not in e.state.signoffs
        await pilot.press("space")  # the first item: pre.backup
        await until(pilot, lambda: e.state.checklist["pre.backup"].status == "completed")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SignoffModal))
        app.screen.query_one("#role", Select).value = "Ops"
        app.screen.query_one("#name", Input).value = "Olga"
        await pilot.click("#ok")
        await until(pilot, lambda: "Ops" in e.state.signoffs)
    assert e.state.signoffs["Ops"].name == "Olga"
    await e.close()


async def test_fail_and_note_items_from_the_keys(tmp_path):
    e = await open_engine(tmp_path)
    app = app_for(e)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "n")
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        app.screen.query_one(Input).value = "tape library slow"
        await pilot.press("enter")
        await until(pilot, lambda: bool(e.state.checklist["pre.backup"].notes))
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        app.screen.query_one(Input).value = "tape unreadable"
        await pilot.press("enter")
        await until(pilot, lambda: e.state.checklist["pre.backup"].status == "failed")
    await e.close()


async def test_export_from_the_key(tmp_path):
    e = await open_engine(tmp_path)
    app = app_for(e)
    out = tmp_path / "report.html"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ExportModal))
        app.screen.query_one("#path", Input).value = str(out)
        await pilot.click("#go")
        await until(pilot, lambda: out.exists())
        await until(pilot, lambda: "wrote" in str(app.screen.query_one("#result").render()))
        assert "Hash chain verified" in out.read_text()
        # Again to the same file: the dialog asks (no CLI flag named), and replaces it only once confirmed.
        out.write_text("an older report")
        modal = app.screen
        modal.query_one("#path", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "--force" not in str(app.screen.query_one("#detail").render())
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is modal and "not exported" in str(modal.query_one("#result").render()))
        assert out.read_text() == "an older report"
        modal.query_one("#path", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        app.screen.query_one(Input).value = "REPLACE"
        await pilot.press("enter")
        await until(pilot, lambda: "Hash chain verified" in out.read_text())
    await e.close()


async def test_quit_asks_first_while_an_operation_runs(tmp_path):
    e = await open_engine(tmp_path)
    app = app_for(e)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "tab", "v")
        await until(pilot, lambda: "slow" in e.validation.running)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmModal))
        assert app.is_running
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        app.screen.query_one(Input).value = "QUIT"
        await pilot.press("enter")
        await until(pilot, lambda: not app.is_running)
    assert e.state.validators["slow"].status == "cancelled"
    await e.close()


async def test_command_palette_offers_actions_built_from_state(tmp_path):
    from mdm_console.ui.palette import ConsoleCommands

    e = await open_engine(tmp_path, min_stage=3600)
    app = app_for(e)
    async with app.run_test(size=SIZE) as pilot:
        provider = ConsoleCommands(app.screen)
        texts = [t for t, _, _ in provider.commands()]
        assert "Advance storage to canary (gates: 5 of 6 hold)" in texts
        assert "Run preflight validators (1)" in texts and "Rollback wizard" in texts
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert type(app.screen).__name__ == "CommandPalette"
    await e.close()


async def test_a_prompt_policy_proposal_opens_the_prefilled_wizard(tmp_path):
    from mdm_console.ui.palette import ConsoleCommands
    from mdm_console.ui.widgets.status_line import StatusLine

    e = await open_engine(tmp_path)
    await e.rollout.advance("storage")
    app = app_for(e)
    async with app.run_test(size=SIZE) as pilot:
        await e.record("rollback.proposed", "storage", {
            "component": "storage", "mode": "prompt", "reason": "error_rate 0.31 > 0.05 for 60 s",
            "criterion": "error_rate", "value": 0.31, "threshold": 0.05, "held_s": 60.0, "window_s": 30.0,
            "present": "tester"})
        await until(pilot, lambda: isinstance(app.screen, RollbackWizard))
        w = app.screen
        await until(pilot, lambda: w.plan is not None)
        assert w.query_one("#kind", Select).value == "component"
        assert w.query_one("#component", Select).value == "storage"
        assert "  storage: canary 5 % -> testing 0 %" in w.plan.lines
        seq = e.state.components["storage"].proposal["seq"]

        # Esc: the proposal stays, on every screen, and the palette answers it.
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RollbackWizard))
        await until(pilot, lambda: "ROLLBACK PROPOSED: storage" in (getattr(app.screen.query_one(StatusLine),
                                                                           "shown_text", "") or ""))
        texts = [t for t, _, _ in ConsoleCommands(app.screen).commands()]
        assert "Accept the proposed rollback of storage" in texts
        assert "Decline the proposed rollback of storage (needs a reason)" in texts
        accept = next(cmd for t, cmd, _ in ConsoleCommands(app.screen).commands()
                      if t == "Accept the proposed rollback of storage")
        accept()
        await until(pilot, lambda: isinstance(app.screen, RollbackWizard))
        w = app.screen
        await until(pilot, lambda: w.plan is not None)
        w.query_one("#word", Input).value = "ROLLBACK"
        await pilot.click("#run")
        await until(pilot, lambda: "Done in" in str(w.query_one("#state").render()), 20)
    started = next(ev for ev in await e.events() if ev.kind == "rollback.started")
    assert started.payload["answers"] == seq and e.state.components["storage"].proposal is None
    answered = next(ev for ev in await e.events() if ev.kind == "proposal.answered")
    assert answered.payload["answer"] == "accepted" and answered.payload["answers"] == seq
    await e.close()


async def test_a_proposal_declined_from_the_palette_records_the_reason(tmp_path):
    e = await open_engine(tmp_path)
    await e.rollout.advance("storage")
    proposed = await e.record("rollback.proposed", "storage", {
        "component": "storage", "mode": "prompt", "reason": "error_rate 31.00 % (above 5.00 %) held 60 s",
        "criterion": "error_rate", "value": 0.31, "threshold": 0.05, "held_s": 60.0, "window_s": 30.0,
        "present": "tester"})
    app = app_for(e)
    async with app.run_test(size=SIZE) as pilot:
        app.decline_proposal("storage")
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        await pilot.press("enter")  # no reason: refused by the dialog, nothing recorded
        assert isinstance(app.screen, ReasonModal) and e.state.components["storage"].proposal is not None
        await pilot.press(*"a known bad client")
        await pilot.press("enter")
        await until(pilot, lambda: e.state.components["storage"].proposal is None)
    answered = next(ev for ev in await e.events() if ev.kind == "proposal.answered")
    assert answered.payload == {"component": "storage", "answers": proposed.seq, "answer": "declined",
                                "reason": "a known bad client"}
    assert e.state.components["storage"].percent == 5
    await e.close()


def console_args(plan, db=None):
    import argparse

    ns = argparse.Namespace(plan=str(plan), theme=None, metrics_port=None)
    if db:
        ns.db = str(db)
    return ns


async def test_the_frame_paints_before_the_session_opens_and_fills_when_it_does(tmp_path, monkeypatch):
    """... and the session's socket comes up once the first figures are painted (not before)."""
    import asyncio

    from mdm_console.cli import owner
    from mdm_console.cli.owner import Owner as Parts
    from tests.ui_helpers import write_plan

    monkeypatch.setattr(owner, "SERVE_AFTER_S", 600)  # only the painted figures can bring the socket up
    plan, parts, go = write_plan(tmp_path), Parts(), asyncio.Event()

    async def opener():
        await go.wait()  # the session is still opening while we look
        return await parts.open(console_args(plan), None)

    app = ConsoleApp(opener=opener, opening=str(plan), keymap={}, tick_seconds=None,
                     figures_shown=parts.figures_shown)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "opening" in str(app.screen.query_one("StatusLine").render()))
        assert str(plan) in str(app.screen.query_one("StatusLine").render())
        assert app.screen.query_one("HealthTable").row_count == 0
        await pilot.press("2", "ctrl+p")  # other screens and the palette wait for the engine
        await pilot.pause()
        assert type(app.screen).__name__ == "DashboardScreen"
        await until(pilot, lambda: footer_key(app, "show('rollout')") is not None)
        assert footer_key(app, "show('rollout')").has_class("-disabled")  # shown dimmed
        go.set()
        await until(pilot, lambda: app.screen.query_one("HealthTable").row_count == 2)
        await until(pilot, lambda: parts.server is not None)
        await until(pilot, lambda: (k := footer_key(app, "show('rollout')")) and not k.has_class("-disabled"))
        assert "phase" in str(app.screen.query_one("StatusLine").render())
        assert app.title == "Pilot cutover"
        await pilot.press("2")
        await until(pilot, lambda: type(app.screen).__name__ == "RolloutScreen")
        await pilot.press("q")
    await parts.close()
    assert app.return_code == 0


async def test_plan_error_screen_shows_the_one_line_error_and_ends_with_exit_2(tmp_path):
    from mdm_console.cli.owner import Owner as Parts

    plan = tmp_path / "mdm-plan.toml"
    plan.write_text('version = 1\n[cutover]\nname = "x"\nflag_file = "f.json"\n[[components]]\nid = "a"\n'
                    'flag_key = "k"\n[[components]]\nid = "a"\nflag_key = "k2"\n')
    parts = Parts()
    app = ConsoleApp(opener=lambda: parts.open(console_args(plan), None), keymap={}, tick_seconds=None)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: type(app.screen).__name__ == "PlanErrorScreen")
        text = " ".join(str(s.render()) for s in app.screen.query("Static"))
        assert "components[1].id" in text and "nothing was started" in text
        await pilot.press("q")
    await parts.close()
    assert app.return_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mdm-plan.toml"]  # nothing written


async def test_a_held_session_db_ends_the_console_with_exit_3_naming_the_holder(tmp_path):
    from mdm_console.cli.owner import Owner as Parts
    from tests.conftest import holding
    from tests.ui_helpers import write_plan

    plan, parts, raised = write_plan(tmp_path), Parts(), []

    async def opener():
        try:
            return await parts.open(console_args(plan), None)
        except Exception as exc:
            raised.append(exc)
            raise

    with holding(plan) as holder:
        app = ConsoleApp(opener=opener, keymap={}, tick_seconds=None)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.return_code is not None)
        await parts.close()
    assert app.return_code == 3
    assert f"held by PID {holder.pid}" in raised[0].message


def test_themes_ship_inside_the_wheel(tmp_path):
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(root)],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        import pytest

        pytest.skip(f"could not build a wheel here: {r.stderr.strip()[-200:]}")
    [wheel] = list(tmp_path.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"mdm_console/themes/mdm-dark.toml", "mdm_console/themes/mdm-light.toml",
            "mdm_console/themes/mdm-high-contrast.toml", "mdm_console/plan/demo/mdm-plan.toml",
            "mdm_console/plan/example/mdm-plan.toml"} <= names


async def test_every_theme_loads_and_applies(tmp_path):
    from mdm_console.ui.themes import load_themes

    names = [t.name for t in load_themes()]
    assert names == ["mdm-dark", "mdm-high-contrast", "mdm-light"]
    e = await open_engine(tmp_path)
    app = ConsoleApp(e, theme="mdm-high-contrast", keymap={})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "mdm-high-contrast"
    await e.close()


async def test_a_keymap_rebinds_a_key_by_its_binding_id_and_help_shows_it(tmp_path):
    from mdm_console.ui.keymap import load_keymap

    km = tmp_path / "keymap.toml"
    km.write_text('[keys]\n"rollout.advance" = "A"\n')
    keymap = load_keymap(km)
    assert keymap.keys == {"rollout.advance": "A"} and keymap.problems == []
    e = await open_engine(tmp_path, min_stage=0)
    app = ConsoleApp(e, keymap=keymap)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "a")
        await pilot.pause()
        assert e.state.components["storage"].stage == "testing"  # `a` no longer advances
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        await pilot.press("enter")
        await until(pilot, lambda: e.state.components["storage"].stage == "canary")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpModal))
        text = "\n".join(app.screen.screen_keys + app.screen.app_keys)
        assert "A" in [line.split("[/b]")[0].replace("[b]", "").strip() for line in app.screen.screen_keys]
        assert "  [b]?" in text  # keys as typed, not "question_mark"
    await e.close()


@pytest.mark.parametrize("content, words", [
    ('[keys\n"x" = 1', "keymap.toml: Expected"),
    ('[keys]\n"rollout.advanc" = "A"\n', "unknown binding id 'rollout.advanc'"),
    ('[keys]\n"rollout.advance" = "b"\n', "the key b is already rollout.step_back's"),
    ('[keys]\n"rollout.advance" = "1"\n', "the key 1 is already app.dashboard's"),
    ('[keys]\n"rollout.advance" = 5\n', "keys must be a string"),
    ('[keys]\n"rollout.advance" = "down"\n', "down is used by the tables and inputs themselves"),
])
async def test_a_bad_keymap_is_reported_and_the_defaults_stay(tmp_path, content, words):
    from mdm_console.ui.keymap import load_keymap

    km = tmp_path / "keymap.toml"
    km.write_text(content)
    keymap = load_keymap(km)
    assert keymap.keys == {} and any(words in p for p in keymap.problems), keymap.problems
    e = await open_engine(tmp_path, min_stage=0)
    app = ConsoleApp(e, keymap=keymap)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.ready)
        await pilot.press("2", "b")  # step back keeps its key: at the first stage it says so
        await pilot.press("a")  # advance keeps its key (it asks first)
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        await pilot.press("enter")
        await until(pilot, lambda: e.state.components["storage"].stage == "canary")
    await e.close()


async def test_an_unknown_theme_falls_back_to_the_default(tmp_path):
    e = await open_engine(tmp_path)
    app = ConsoleApp(e, theme="no-such-theme", keymap={})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "mdm-dark"
    await e.close()


def footer_key(app, action: str):
    return next((k for k in app.screen.query("FooterKey") if k.action == action), None)


async def test_the_footer_keeps_its_keys_while_they_stay_the_same(tmp_path):
    """Rebuilding the footer on every switch made most of the console's garbage; its keys stay until
    they change (a key dimmed or enabled is a change)."""
    e = await open_engine(tmp_path)
    app = app_for(e)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await until(pilot, lambda: type(app.screen).__name__ == "RolloutScreen")
        await pilot.pause()
        keys = list(app.screen.query("FooterKey"))
        assert any(k.action == "advance" for k in keys)
        await pilot.press("1", "2")
        await until(pilot, lambda: type(app.screen).__name__ == "RolloutScreen")
        await pilot.pause()
        assert list(app.screen.query("FooterKey")) == keys  # the same widgets, not rebuilt
    await e.close()


async def test_switching_screens_for_hours_does_not_keep_old_footer_keys(tmp_path):
    """Textual's Footer keeps every key it built (textual#6666); the console's footer lets them go."""
    import gc

    from textual.widget import Widget

    def footer_keys():
        return [o for o in gc.get_objects() if isinstance(o, Widget) and type(o).__name__ == "FooterKey"]

    e = await open_engine(tmp_path)
    app = app_for(e)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(6):
            for key, name in [("2", "RolloutScreen"), ("3", "ValidationScreen"), ("1", "DashboardScreen")]:
                await pilot.press(key)
                await until(pilot, lambda n=name: type(app.screen).__name__ == n)
        await pilot.pause()
        gc.collect()
        dead = [k for k in footer_keys() if not k.is_attached]
        live = [k for k in footer_keys() if k.is_attached]
        # At most each footer's last replaced set waits for its next recompose; without the fix there is
        # one set per switch (485 dead keys against 46 live ones here).
        assert live and len(dead) < 2 * len(live)
    await e.close()


async def test_quitting_while_the_session_opens_still_stops_the_demo_workload(monkeypatch):
    import argparse
    import asyncio
    import threading

    from mdm_console.cli.owner import Owner as Parts
    from mdm_console.workload import child

    real_start, go, started = child.start, threading.Event(), []

    def slow_start(loaded):
        go.wait(30)  # the operator quits while the workload is being started
        started.append(real_start(loaded))
        return started[-1]

    monkeypatch.setattr(child, "start", slow_start)
    parts = Parts()
    opening = asyncio.create_task(parts.open(argparse.Namespace(theme=None, metrics_port=None), None))
    while parts.workload_start is None:
        await asyncio.sleep(0.05)
    opening.cancel()
    go.set()
    await parts.close()
    [proc] = started
    assert proc.poll() is not None  # stopped, not orphaned


async def test_the_host_pane_ages_its_sample_at_the_samplers_own_resolution(tmp_path):
    """A fresh host sample reads "<3s ago" (sampled every 2 s: no redraw a second for nothing); a sampler
    that stopped shows the real age, growing."""
    import dataclasses

    from mdm_console.engine.live import LiveMonitor

    e = await open_engine(tmp_path)
    m = LiveMonitor(e)
    await m.start()
    app = ConsoleApp(e, monitor=m, tick_seconds=None)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: m.system.latest is not None)
            app.screen.refresh_view()
            host = app.screen.query_one("#host")
            assert "measured <3s ago" in host.shown_text
            await m.stop()
            m.system.history.append(dataclasses.replace(m.system.latest, ts=e.now().timestamp() - 10))
            app.screen.refresh_view()
            assert "measured 10s ago" in host.shown_text
    finally:
        await m.stop()
        await e.close()


def test_old_figures_age_in_the_windows_step_all_rows_at_once():
    """Under 20 s an age reads to the second; past it, in the figures' 5-second buckets: every row's age moves at
    the same moment (the table is drawn again once per 5 s, not at each second some row's age moves on), never
    goes back, and stays within 5 s of the exact age."""
    from datetime import UTC, datetime, timedelta

    from mdm_console.ui.widgets.health_table import age_text

    t0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)  # a multiple of 5 s
    assert age_text(t0, t0 + timedelta(seconds=7.9)) == "7s ago"
    assert age_text(t0, t0 + timedelta(seconds=19.9)) == "19s ago"
    samples = [t0 + timedelta(seconds=k * 0.7) for k in range(15)]  # rows whose newest figures differ
    shown_before = [0] * len(samples)
    moved_at = set()
    for tenth in range(150, 1000):  # ages up to 100 s: all read in seconds
        now = t0 + timedelta(seconds=tenth / 10)
        for n, m in enumerate(samples):
            exact = (now - m).total_seconds()
            shown = int(age_text(m, now).removesuffix("s ago"))
            assert abs(shown - exact) < 5 and shown >= shown_before[n]
            if exact >= 20 and shown != shown_before[n] and shown_before[n] >= 20:
                moved_at.add(tenth % 50)
            shown_before[n] = shown
    assert moved_at == {0}  # past 20 s, any row's age moves only as the clock enters a new 5-s step


def test_full_collections_wait_for_a_pause_in_the_keys():
    """The console's full garbage collection runs after keys (what makes the garbage) once they pause,
    at most every `every` seconds; with no keys at all, rarely; never while keys keep coming."""
    from mdm_console.collector import IdleCollector

    now = [0.0]
    passes = []
    c = IdleCollector(every=10, quiet=1, idle_every=300, clock=lambda: now[0], collect=lambda: passes.append(now[0]))
    for t in (5, 11, 299):  # nothing pressed: nothing to collect until idle_every
        now[0] = t
        c.maybe_collect()
    assert passes == []
    for t in range(12, 30):  # a key every second, each within `quiet` of the tick
        now[0] = t
        c.note_input()
        now[0] = t + 0.5
        c.maybe_collect()
    assert passes == []
    now[0] = 31.0  # the keys paused
    c.maybe_collect()
    assert passes == [31.0]
    now[0] = 45.0  # no key since: nothing new to collect
    c.maybe_collect()
    assert passes == [31.0]
    now[0] = 331.0
    c.maybe_collect()
    assert passes == [31.0, 331.0]


async def test_the_console_collects_once_the_keys_pause(tmp_path):
    from mdm_console.collector import IdleCollector

    e = await open_engine(tmp_path)
    app = ConsoleApp(e, tick_seconds=0.1)
    app.collector = IdleCollector(every=0, quiet=0.2)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause(0.5)  # ticking, no keys: nothing to collect
            assert app.collector.passes == 0
            await pilot.press("2", "1")
            await until(pilot, lambda: app.collector.passes >= 1 and not app.collector.pending)
    finally:
        await e.close()


async def test_an_automatic_rollback_is_loud_on_every_screen_and_a_person_retries_it(tmp_path):
    from mdm_console.engine.core import POLICY
    from mdm_console.engine.rollback import RollbackRequest
    from mdm_console.ui.palette import ConsoleCommands
    from mdm_console.ui.widgets.health_table import HealthTable
    from mdm_console.ui.widgets.status_line import StatusLine

    e = await open_engine(tmp_path)
    await e.rollout.advance("storage")
    app = app_for(e)
    toasts, notify = [], app.notify
    app.notify = lambda message, **kw: (toasts.append(message), notify(message, **kw))[1]
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready and e._subscribers)  # the console follows the engine's events
        with e.acting_as(POLICY):  # what the policy does when its criterion holds
            await e.rollback.run(RollbackRequest("component", component="storage", automatic=True,
                                                 reason="error_rate 0.5 > 0.05 (new path, last 30 s, 60 ops)"))
        await until(pilot, lambda: any("ROLLED BACK automatically: storage" in m for m in toasts))
        for key in "12345":
            await pilot.press(key)
            await until(pilot, lambda: "ROLLED BACK: storage" in (getattr(app.screen.query_one(StatusLine),
                                                                          "shown_text", "") or ""))
        await pilot.press("1")
        table = app.screen.query_one(HealthTable)
        await until(pilot, lambda: "ROLLED BACK" in str(table.get_row("storage")[table.shown.index("status")]))
        texts = [t for t, _, _ in ConsoleCommands(app.screen).commands()]
        assert any(t.startswith("Acknowledge: ROLLED BACK automatically: storage") for t in texts)
        assert "Retry storage: advance to canary (held after an automatic rollback; needs a reason)" in texts

        app.acknowledge("auto_rollback:storage")  # the palette's command
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        await pilot.press("enter")  # a note is optional
        await until(pilot, lambda: "auto_rollback:storage" not in e.state.alerts)
        assert e.state.components["storage"].held is not None  # acknowledged, still held

        await pilot.press("2", "a")  # the retry goes through the override, with a person's reason
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        assert "hold" in str(app.screen.query_one("#detail").render())
        app.screen.query_one(Input).value = "index fixed, retrying"
        await pilot.press("enter")
        await until(pilot, lambda: e.state.components["storage"].stage == "canary")
        assert e.state.components["storage"].held is None
    released = [ev for ev in await e.events() if ev.kind == "hold.released"]
    assert released[-1].payload["reason"] == "index fixed, retrying"
    await e.close()
