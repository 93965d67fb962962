"""Trust: hostile strings are shown as text, never interpreted; crashes show no secrets."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from mdm_console.textsafe import visible
from tests.conftest import run_cli

HOSTILE = [
    "[@click=app.quit]x[/]",
    "[/foo]",
    "[link=https://evil.example]t[/link]",
    "\x1b]0;pwned\x07",
    "\x1b[2J\x1b[H",
    "a\x9bb\x85c",
    "<b onmouseover=alert(1)>hi</b>",
    "right\u202eleft",
    "x" * 5000,
]


def test_visible_escapes_every_control_character_and_keeps_the_rest():
    assert visible("\x1b]0;t\x07") == "\\x1b]0;t\\x07"
    assert visible("tab\tand\nnewline") == "tab\tand\nnewline"
    assert visible("tab\tand\nnewline", one_line=True) == "tab\\x09and\\x0anewline"
    assert visible("a\x9bb\x7f") == "a\\x9bb\\x7f"
    assert visible("ünïcode [b]") == "ünïcode [b]"
    for s in HOSTILE:
        out = visible(s)
        assert not any(ord(c) < 32 and c not in "\t\n" or 0x7f <= ord(c) <= 0x9f for c in out)


def test_invisible_characters_are_shown_so_two_names_never_look_the_same(plan_file):
    assert visible("Quinn\u200bQA") == "Quinn\\u200bQA"  # zero-width space
    assert visible("x\U000e0041y") == "x\\U000e0041y"  # a tag character
    assert visible("\ufeffroot\u00ad") == "\\ufeffroot\\xad"  # BOM, soft hyphen
    assert visible("\u202eevil") == "\\u202eevil" and visible("日本 é 🙂") == "日本 é 🙂"
    r = run_cli("note", "a", "signed by Quinn\u200bQA", "--plan", str(plan_file))
    assert r.returncode == 0, r.stderr
    out = run_cli("log", "--plan", str(plan_file)).stdout
    assert "Quinn\\u200bQA" in out and "\u200b" not in out


def test_a_console_crash_prints_no_local_variables(tmp_path):
    script = textwrap.dedent("""
        from textual.app import App
        import mdm_console.ui.app  # installs the crash report without locals

        class Crashing(App):
            def on_mount(self):
                api_token = "tok-SECRET-1234"
                db_password = "pw-SECRET-5678"
                raise RuntimeError("boom while connecting")

        Crashing().run(headless=True)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert "boom while connecting" in out  # the crash is reported
    assert "SECRET" not in out


HOSTILE_PLAN = '''\
version = 1
[cutover]
name = "Cut [@click=app.quit]over[/] \\u001b]0;pwned\\u0007"
flag_file = "state/flags.json"
[gate]
min_stage_seconds = 0
[[components]]
id = "storage"
title = "[/foo] \\u001b[2J"
flag_key = "mdm.new_backend"
[metrics]
source = "jsonl"
path = "metrics/ops.jsonl"
[[validators]]
id = "cfg"
kind = "command"
title = "[link=https://evil.example]t[/link] \\u001b[2J"
params = { argv = ["printf", "out [b]x[/b] \\u001b]0;t\\u0007"] }
[[checklist]]
id = "pre.a"
section = "Pre [/]"
title = "[@click=app.quit]item[/]"
[[signoffs]]
role = "Ops [red]lead"
requires_sections = ["Pre [/]"]
'''


async def test_hostile_strings_show_literally_on_every_screen(tmp_path):
    from mdm_console.engine.core import Engine
    from mdm_console.plan.load import load_plan
    from mdm_console.ui.app import ConsoleApp
    from tests.ui_helpers import until

    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "ops.jsonl").write_text('{"ts": "x\\u001b[2J", "component": "[/x]"}\n')
    plan = tmp_path / "mdm-plan.toml"
    plan.write_text(HOSTILE_PLAN)
    e = await Engine.open(load_plan(plan), operator="[/foo] [@click=app.quit]me[/] \x1b]0;t\x07",
                          record_start="test")
    await e.rollout.ensure_flag_file()
    await e.checklist.note("pre.a", "[/b] note \x1b[2J")
    app = ConsoleApp(e, keymap={})
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.ready)
        status = str(app.screen.query_one("StatusLine").render())
        assert "[@click=app.quit]me[/]" in status and "\\x1b]0;t\\x07" in status and "\x1b" not in status
        assert "\x1b" not in app.title + app.sub_title and "\\x1b]0;pwned\\x07" in app.title
        await pilot.press("3")
        await until(pilot, lambda: type(app.screen).__name__ == "ValidationScreen")
        await pilot.press("v")
        await until(pilot, lambda: "cfg" in e.state.validators)
        await pilot.press("enter")
        for key, name in [("2", "RolloutScreen"), ("4", "ChecklistScreen"), ("5", "SessionLogScreen"),
                          ("1", "DashboardScreen")]:
            await pilot.press(key)
            await until(pilot, lambda n=name: type(app.screen).__name__ == n)
            await pilot.pause()
        await pilot.press("4")
        await until(pilot, lambda: type(app.screen).__name__ == "ChecklistScreen")
        signoffs = str(app.screen.query_one("#signoffs").render())
        assert "Ops [red]lead" in signoffs
        await pilot.press("ctrl+p")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await pilot.press("escape")
        app.notify("[/bad] \x1b[2J toast")
        await pilot.pause()
        assert app.is_running  # nothing above crashed it or quit it
    await e.close()


async def test_both_reports_are_inert_and_the_cli_prints_no_escape_byte(tmp_path):
    from mdm_console.export.run import export_session
    from tests.conftest import run_cli
    from tests.test_export import scripted_session

    evil = "<b onmouseover=alert(1)>Eve</b> [x](javascript:alert(1)) \x1b]0;pwned\x07"
    e = await scripted_session(tmp_path, operator=evil)
    await e.checklist.note("pre.backup", "*bold* <script>alert(2)</script> \x1b[2J")
    await export_session(e, "md", tmp_path / "r.md")
    await export_session(e, "html", tmp_path / "r.html")
    plan = str(e.loaded.path)
    await e.close()
    md, page = (tmp_path / "r.md").read_text(), (tmp_path / "r.html").read_text()
    for text in (md, page):
        assert "<b onmouseover" not in text and "<script>" not in text and "\x1b" not in text
    assert "x](javascript" not in md and "\\[x\\](javascript:alert(1))" in md
    assert "&lt;b onmouseover=alert(1)&gt;Eve&lt;/b&gt;" in page
    for args in (("status",), ("points",), ("checklist",), ("status", "--json")):
        r = run_cli(*args, "--plan", plan)
        assert r.returncode == 0, r.stderr
        assert "\x1b" not in r.stdout + r.stderr and "\x07" not in r.stdout + r.stderr
    r = run_cli("points", "--plan", plan)
    assert "\\x1b]0;pwned\\x07" in r.stdout  # the operator who took the points, shown with a visible escape
