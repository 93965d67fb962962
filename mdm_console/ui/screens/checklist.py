"""4 Checklist: sections and items with why each waits, and the sign-offs."""

from __future__ import annotations

from mdm_console.ui.safe import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Header, Static

from mdm_console.ui.screens.base import ConsoleScreen, refill, selected_key, set_text
from mdm_console.ui.widgets.footer import ConsoleFooter
from mdm_console.ui.widgets.status_line import StatusLine

MARK = {"pending": "[ ]", "in_progress": "[~]", "completed": "[green][x][/]", "failed": "[red][!][/]",
        "blocked": "[yellow][#][/]"}


class ChecklistScreen(ConsoleScreen):
    """Checklist and sign-offs.

    BINDINGS:
    - space: complete the selected item
    - f: mark it failed (asks for the reason)
    - n: add a note
    - o: reopen a completed or failed item
    - s: sign off (role, typed name, comment)
    """

    TITLE_TEXT = "Checklist"
    BINDINGS = [
        Binding("space", "complete", "Complete", id="checklist.complete"),
        Binding("f", "fail", "Failed", id="checklist.fail"),
        Binding("n", "note", "Note", id="checklist.note"),
        Binding("o", "reopen", "Reopen", id="checklist.reopen"),
        Binding("s", "sign", "Sign off", id="checklist.sign"),
    ]
    DEFAULT_CSS = """
    ChecklistScreen #items { height: 2fr; border: round $primary; }
    ChecklistScreen #signoffs { height: auto; max-height: 12; border: round $accent; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine()
        with Vertical():
            yield DataTable(id="items", cursor_type="row")
            yield Static(id="signoffs")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        t = self.query_one("#items", DataTable)
        t.border_title = "Checklist" + (" (observing: read-only)" if self.session.observe else
                                        " (space complete · f failed · n note · o reopen · s sign off)")
        t.add_columns("", "!", "section", "id", "title", "why not yet / notes")
        self.query_one("#signoffs").border_title = "Sign-offs"
        self.refresh_view()

    @property
    def selected(self) -> str | None:
        return selected_key(self.query_one("#items", DataTable))

    def refresh_view(self) -> None:
        e = self.session
        self.query_one(StatusLine).render_from(e, e.now())
        rows = []
        for i in e.checklist.items():
            why = "; ".join(i.why_not) if i.status != "completed" else ""
            if i.status == "failed" and i.reason:
                why = f"failed: {i.reason}"
            if i.notes:
                why = (why + " · " if why else "") + f"{len(i.notes)} note(s), last: {i.notes[-1]['text'][:40]}"
            rows.append((i.id, (MARK[i.status], "!" if i.critical else "", escape(i.section), i.id, escape(i.title),
                                escape(why))))
        refill(self.query_one("#items", DataTable), rows)
        lines = [f"checklist state sha256 {e.checklist.state_hash()[:16]}…"]
        for s in e.checklist.signoffs():
            if not s.signed:
                lines.append(f"  {escape(s.role)}: not signed" + (f" — unmet: {escape('; '.join(s.unmet))}" if s.unmet else
                                                          " — [green]ready to sign[/]"))
            elif s.current:
                lines.append(f"  {escape(s.role)}: [green]signed by {escape(s.name)}[/] at {s.ts[11:19]} UTC (current state)")
            else:
                lines.append(f"  {escape(s.role)}: signed by {escape(s.name)} at {s.ts[11:19]} UTC — [yellow]signed an earlier "
                             f"state[/]; changed since: {escape(', '.join(s.changed_since))}")
        set_text(self.query_one("#signoffs", Static), "\n".join(lines))

    def action_complete(self) -> None:
        if self.selected:
            self.app.checklist_action("complete", self.selected)

    def action_fail(self) -> None:
        if self.selected:
            self.app.checklist_action("fail", self.selected)

    def action_note(self) -> None:
        if self.selected:
            self.app.checklist_action("note", self.selected)

    def action_reopen(self) -> None:
        if self.selected:
            self.app.checklist_action("reopen", self.selected)

    def action_sign(self) -> None:
        self.app.sign_off()
