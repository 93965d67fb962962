"""Keys as people type them, in the help and in docs/keys.md (generated from the code, checked here)."""

from __future__ import annotations

from pathlib import Path

from mdm_console.ui.keydocs import bindings_without_id, render, typed
from mdm_console.ui.modals.help import HelpModal
from mdm_console.ui.app import ConsoleApp
from tests.ui_helpers import open_engine, until


def test_keys_are_shown_as_typed():
    assert [typed(k) for k in ("question_mark", "right_square_bracket", "slash", "ctrl+c,super+c", "space",
                               "escape,question_mark,q", "R")] == \
        ["?", "]", "/", "ctrl+c / super+c", "space", "escape / ? / q", "R"]


def test_docs_keys_md_is_what_the_code_binds():
    doc = (Path(__file__).parent.parent / "docs" / "keys.md").read_text()
    assert doc == render(), "docs/keys.md is out of date: run python docs/keys.py"
    assert "question_mark" not in doc and "square_bracket" not in doc and "`None`" not in doc


def test_every_binding_of_ours_has_an_id():
    assert bindings_without_id() == []


async def test_the_session_log_help_shows_the_keys_as_typed(tmp_path):
    e = await open_engine(tmp_path)
    app = ConsoleApp(e, keymap={})
    try:
        async with app.run_test(size=(150, 45)) as pilot:
            await pilot.press("5", "question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpModal))
            keys = [line.split("[/b]")[0].replace("[b]", "").strip() for line in app.screen.screen_keys]
            assert {"]", "[", "/"} <= set(keys), keys
    finally:
        await e.close()
