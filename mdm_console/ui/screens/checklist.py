"""4 Checklist: sections and items with why each waits, the highlighted item in full, and the sign-offs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Header, Static

from mdm_console.ui.safe import escape, plain
from mdm_console.ui.screens.base import ConsoleScreen, refill, selected_key, set_text
from mdm_console.ui.tones import toned
from mdm_console.ui.widgets.footer import ConsoleFooter
from mdm_console.ui.widgets.status_line import StatusLine

# status -> (glyph and word, tone): every status legible without colour, coloured by the theme.
STATUS = {"pending": ("○ pending", None), "in_progress": ("◐ doing", "busy"), "completed": ("✔ done", "ok"),
          "failed": ("✘ failed", "bad"), "blocked": ("⊘ blocked", "warn"), "contradicted": ("⚠ contradicted", "warn")}


def shown_status(item) -> str:
    """The status as the console shows it: a completed item the log contradicted since says so."""
    return "contradicted" if item.status == "completed" and item.contradicted else item.status


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
    ChecklistScreen #items { height: 1fr; min-height: 6; border: round $primary; }
    ChecklistScreen #item { height: 25%; min-height: 4; max-height: 14; border: round $secondary; padding: 0 1; }
    ChecklistScreen #signoffs { height: auto; max-height: 25%; border: round $accent; padding: 0 1;
                                text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine()
        yield DataTable(id="items", cursor_type="row")
        with VerticalScroll(id="item"):
            yield Static(id="item-text")
        yield Static(id="signoffs")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        t = self.query_one("#items", DataTable)
        t.border_title = "Checklist" + (" (observing: read-only)" if self.session.observe else
                                        " (space complete · f failed · n note · o reopen · s sign off)")
        t.add_columns("status", "!", "id", "title", "why not yet / notes", "section")
        self.query_one("#item").border_title = "item"
        self.query_one("#signoffs").border_title = "Sign-offs"
        self.refresh_view()

    @property
    def selected(self) -> str | None:
        return selected_key(self.query_one("#items", DataTable))

    def refresh_view(self) -> None:
        e = self.session
        self.query_one(StatusLine).render_from(e, e.now())
        rows = []
        self.views = {i.id: i for i in e.checklist.items()}
        for i in self.views.values():
            word, tone = STATUS[shown_status(i)]
            why = "; ".join(i.why_not) if i.status != "completed" else "; ".join(i.contradicted)
            if i.status == "failed" and i.reason:
                why = f"failed: {i.reason}"
            if i.notes:
                why = (why + " · " if why else "") + f"{len(i.notes)} note(s)"
            rows.append((i.id, (toned(self.app, word, tone), "!" if i.critical else "", plain(i.id),
                                plain(i.title), plain(why), plain(i.section))))
        refill(self.query_one("#items", DataTable), rows)
        self._show_item()
        set_text(self.query_one("#signoffs", Static), "\n".join(self._signoff_lines()))

    def _signoff_lines(self) -> list[str]:
        e = self.session
        lines = []
        self.query_one("#signoffs").border_title = (f"Sign-offs (s: sign; checklist state sha256 "
                                                    f"{e.checklist.state_hash()[:16]}…)")
        for s in e.checklist.signoffs():
            role = escape(s.role)
            if not s.signed:
                lines.append(f"{role}: not signed — " + (
                    f"[$text-warning]{len(s.unmet)} prerequisite(s) unmet[/]: {escape(s.unmet[0])}"
                    + (" …" if len(s.unmet) > 1 else "") if s.unmet else "[$text-success]ready to sign[/]"))
            elif s.current:
                lines.append(f"{role}: [$text-success]✔ signed by {escape(s.name)}[/] at {s.ts[11:19]} UTC "
                             "(current state)")
            else:
                lines.append(f"{role}: signed by {escape(s.name)} at {s.ts[11:19]} UTC — [$text-warning]⚠ signed "
                             f"an earlier state[/]; changed since: {escape(', '.join(s.changed_since))}")
        return lines

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        if self.app.ready:
            self._show_item()

    def _show_item(self) -> None:
        """The highlighted item in full: every reason it waits, the evidence it states and what contradicts it,
        who completed or failed it, and its notes."""
        i = getattr(self, "views", {}).get(self.selected or "")
        if i is None:
            set_text(self.query_one("#item-text", Static), "no item")
            return
        word, _ = STATUS[shown_status(i)]
        lines = [f"[b]{escape(i.id)}[/b] {escape(word)}{' · critical' if i.critical else ''} · section "
                 f"{escape(i.section)}", escape(i.title)]
        if i.by and i.status in ("completed", "failed", "in_progress"):
            lines.append(f"{escape(i.status)} by {escape(i.by)}" + (f": {escape(i.reason)}" if i.reason else ""))
        for why in i.why_not if i.status != "completed" else []:
            lines.append(f"[$text-warning]not yet:[/] {escape(why)}")
        if i.status == "completed":
            lines += [f"[$text-warning]contradicted since:[/] {escape(c)}" for c in i.contradicted]
        if i.evidence:
            lines.append("evidence: " + escape("; ".join(i.evidence)))
        if i.requires_validators:
            lines.append("needs passed: " + escape(", ".join(i.requires_validators)))
        for n in i.notes[-5:]:
            lines.append(f"note {n['ts'][11:19]} {escape(n['by'])}: {escape(n['text'])}")
        set_text(self.query_one("#item-text", Static), "\n".join(lines))

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
