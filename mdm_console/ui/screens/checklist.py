"""4 Checklist: sections and items with why each waits, the highlighted item in full, and the sign-offs."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Header, Input, Static

from mdm_console.ui.safe import escape, plain
from mdm_console.ui.screens.base import ConsoleScreen, refill, selected_key, set_text, set_titles
from mdm_console.ui.tones import toned
from mdm_console.ui.widgets.filter_input import FilterInput
from mdm_console.ui.widgets.footer import ConsoleFooter
from mdm_console.ui.widgets.status_line import StatusLine

# status -> (glyph and word, tone): every status legible without colour, coloured by the theme.
STATUS = {"pending": ("○ pending", None), "in_progress": ("◐ doing", "busy"), "completed": ("✔ done", "ok"),
          "failed": ("✘ failed", "bad"), "blocked": ("⊘ blocked", "warn"), "contradicted": ("⚠ contradicted", "warn")}


PAGE = 100  # items in the table at once: a plan of 4 000 took 1.7 s to open and 0.4 s a mark (benchmarks/scale.py)


def shown_status(item) -> str:
    """The status as the console shows it: a completed item the log contradicted since says so."""
    return "contradicted" if item.status == "completed" and item.contradicted else item.status


def summary(views) -> str:
    """The checklist in one line: how many are done, open (critical ones apart), failed, blocked."""
    done = sum(v.status == "completed" for v in views)
    failed = sum(v.status == "failed" for v in views)
    blocked = sum(v.status == "blocked" for v in views)
    critical = sum(v.critical and v.status != "completed" for v in views)
    parts = [f"{done} of {len(views)} done", f"{critical} critical open" if critical else "no critical item open"]
    parts += [f"{failed} failed"] * bool(failed) + [f"{blocked} blocked"] * bool(blocked)
    return " · ".join(parts)


class ChecklistScreen(ConsoleScreen):
    """Checklist and sign-offs.

    BINDINGS:
    - space: complete the selected item
    - f: mark it failed (asks for the reason)
    - n: add a note
    - o: reopen a completed or failed item
    - s: sign off (role, typed name, comment)
    - /: filter the items (id, title, section, status word, "critical"); enter keeps it, escape clears
    - ] / [: next / previous page (a page holds 100 items)
    """

    TITLE_TEXT = "Checklist"
    BINDINGS = [
        Binding("space", "complete", "Complete", id="checklist.complete"),
        Binding("f", "fail", "Failed", id="checklist.fail"),
        Binding("n", "note", "Note", id="checklist.note"),
        Binding("o", "reopen", "Reopen", id="checklist.reopen"),
        Binding("s", "sign", "Sign off", id="checklist.sign"),
        Binding("slash", "filter", "Filter", id="checklist.filter"),
        Binding("right_square_bracket", "page(1)", "Next page", id="checklist.next_page"),
        Binding("left_square_bracket", "page(-1)", "Previous page", id="checklist.previous_page"),
    ]
    AUTO_FOCUS = "#items"
    DEFAULT_CSS = """
    ChecklistScreen #items { height: 1fr; min-height: 6; border: round $primary; }
    ChecklistScreen #item { height: 25%; min-height: 4; max-height: 14; border: round $secondary; padding: 0 1; }
    ChecklistScreen #signoffs { height: auto; max-height: 25%; border: round $accent; padding: 0 1;
                                text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine()
        yield FilterInput(placeholder="filter: id, title, section, status (pending, failed…) or critical; "
                                      "enter keeps it, escape clears", id="filter")
        yield DataTable(id="items", cursor_type="row")
        with VerticalScroll(id="item"):
            yield Static(id="item-text")
        yield Static(id="signoffs")
        yield ConsoleFooter()

    page = 0
    matching = ""

    def on_mount(self) -> None:
        self._rows: dict[str, tuple] = {}  # item -> (its view, the theme, its row): made again when either changes
        t = self.query_one("#items", DataTable)
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
        views = e.checklist.items()
        self.views = {i.id: i for i in views}
        needle = self.matching.casefold()
        chosen = [i for i in views if not needle or needle in self._words(i)]
        pages = max(1, -(-len(chosen) // PAGE))
        self.page = min(self.page, pages - 1)
        first = self.page * PAGE
        rows = [self._row(i) for i in chosen[first:first + PAGE]]
        t = self.query_one("#items", DataTable)
        refill(t, rows)
        what = f"{first + 1}-{first + len(rows)} of {len(chosen)}" if rows else f"0 of {len(chosen)}"
        if self.matching:
            what += f" matching \"{escape(self.matching)}\" ({len(views)} in all)"
        if pages > 1:
            what += f", page {self.page + 1} of {pages} (] next · [ previous)"
        keys = " (observing: read-only)" if e.observe else " · space complete · f failed · n note · o reopen · s sign"
        set_titles(t, f"Checklist {what}{keys}", summary(views))
        self._show_item()
        set_text(self.query_one("#signoffs", Static), "\n".join(self._signoff_lines()))

    @staticmethod
    def _words(i) -> str:
        return " ".join((i.id, i.title, i.section, shown_status(i), STATUS[shown_status(i)][0],
                         "critical" if i.critical else "")).casefold()

    def _row(self, i) -> tuple[str, tuple]:
        kept = self._rows.get(i.id)
        if kept is not None and kept[0] == i and kept[1] == self.app.theme:  # the theme colours its status
            return kept[2]
        word, tone = STATUS[shown_status(i)]
        why = "; ".join(i.why_not) if i.status != "completed" else "; ".join(i.contradicted)
        if i.status == "failed" and i.reason:
            why = f"failed: {i.reason}"
        if i.notes:
            why = (why + " · " if why else "") + f"{len(i.notes)} note(s)"
        row = (i.id, (toned(self.app, word, tone), "!" if i.critical else "", plain(i.id), plain(i.title), plain(why),
                      plain(i.section)))
        self._rows[i.id] = (i, self.app.theme, row)
        return row

    def action_filter(self) -> None:
        self.query_one(FilterInput).open()

    def action_page(self, step: int) -> None:
        self.page = max(0, self.page + step)
        self.refresh_view()
        self.query_one("#items", DataTable).move_cursor(row=0)

    @on(Input.Changed, "#filter")
    def _filter(self, event: Input.Changed) -> None:
        self.matching, self.page = event.value.strip(), 0
        if self.app.ready:
            self.refresh_view()
            self.query_one("#items", DataTable).move_cursor(row=0)

    @on(FilterInput.Left)
    def _filtered(self) -> None:
        self.query_one("#items", DataTable).focus()

    def _signoff_lines(self) -> list[str]:
        e = self.session
        lines = []
        set_titles(self.query_one("#signoffs"), f"Sign-offs (s: sign; checklist state sha256 "
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
