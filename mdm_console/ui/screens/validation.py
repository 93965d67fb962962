"""3 Validation: validators by phase and batch, their last result, and the output tail."""

from __future__ import annotations

from mdm_console.ui.safe import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Header, Static

from mdm_console.ui.screens.base import ConsoleScreen, refill, selected_key, set_text, set_titles
from mdm_console.ui.tones import toned
from mdm_console.ui.widgets.footer import ConsoleFooter
from mdm_console.ui.widgets.status_line import StatusLine

PHASES = ("preflight", "post", "rollback")
# status -> (glyph and word, tone of the theme): legible without colour, coloured by the theme
STATUS = {"passed": ("✔ passed", "ok"), "failed": ("✘ failed", "bad"), "error": ("✘ error", "bad"),
          "timeout": ("✘ timeout", "bad"), "cancelled": ("⊘ cancelled", "warn"), "skipped": ("- skipped", "quiet"),
          "running": ("◐ running", "busy"), "not run": ("○ not run", None)}


class ValidationScreen(ConsoleScreen):
    """Readiness validators.

    BINDINGS:
    - v: run all validators of the shown phase
    - enter: run the selected validator
    - x: cancel the selected validator if it runs, else every running one
    - tab: show the next phase
    """

    TITLE_TEXT = "Validation"
    BINDINGS = [
        Binding("v", "run_phase", "Run phase", id="validation.run_phase"),
        Binding("enter", "run_selected", "Run selected", id="validation.run_selected"),
        Binding("x", "cancel", "Cancel", id="validation.cancel"),
        Binding("tab", "next_phase", "Next phase", id="validation.next_phase"),
    ]
    DEFAULT_CSS = """
    ValidationScreen #validators { height: 2fr; border: round $primary; }
    ValidationScreen #detail { height: 1fr; border: round $secondary; padding: 0 1; overflow-y: auto; }
    """

    phase = "preflight"  # what is on display (UI state, not domain state)

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine()
        with Vertical():
            yield DataTable(id="validators", cursor_type="row")
            yield Static(id="detail")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        t = self.query_one("#validators", DataTable)
        t.add_columns("batch", "id", "kind", "crit", "status", "ms", "detail")
        self.refresh_view()

    @property
    def selected(self) -> str | None:
        return selected_key(self.query_one("#validators", DataTable))

    def refresh_view(self) -> None:
        e = self.session
        self.query_one(StatusLine).render_from(e, e.now())
        t = self.query_one("#validators", DataTable)
        keys = "tab: next phase" + ("" if e.observe else " · v run · enter run selected · x cancel")
        set_titles(t, f"Validators of phase '{self.phase}' ({keys})")
        rows = []
        chosen = [v for v in e.plan.validators if self.phase in v.phases]
        running = e.running_validators
        for batch, members in e.validator_batches(chosen):
            for v in members:
                r = e.state.validators.get(v.id)
                status = "running" if v.id in running else (r.status if r else "not run")
                ms = "" if not r or r.duration_ms is None else f"{r.duration_ms:.0f}"
                detail = "" if not r else r.detail[:90]
                word, tone = STATUS.get(status, (status, None))
                shown = toned(self.app, word, tone, bold=tone == "bad")
                rows.append((v.id, (f"{batch} ({v.risk})", v.id, v.kind, "!" if v.critical else "", shown, ms,
                                    escape(detail))))
        refill(t, rows)
        self._show_detail()

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._show_detail()

    @work(exclusive=True, group="validation-detail")
    async def _show_detail(self) -> None:
        vid = self.selected
        if vid is None:
            set_text(self.query_one("#detail", Static), "this phase has no validators")
            return
        v = next(x for x in self.session.plan.validators if x.id == vid)
        r = self.session.state.validators.get(vid)
        tail = await self.app.last_result_output(vid) if r else ""
        lines = [f"[b]{v.id}[/b] {escape(v.title)}", f"kind {v.kind} · phases {escape(', '.join(v.phases))} · timeout "
                 f"{v.timeout_seconds:g} s" + (f" · baseline {v.max_ms:g} ms" if v.max_ms else "")]
        if r:
            lines.append(f"last result: {r.status} at {r.ts[11:19]} (seq {r.seq})"
                         + (f" in {r.duration_ms:.1f} ms" if r.duration_ms is not None else ""))
            lines.append(r.detail)
        if tail:
            lines += ["", "[dim]output tail:[/]", tail[-1500:]]
        set_text(self.query_one("#detail", Static), "\n".join(lines[:3]) + "\n" + escape("\n".join(lines[3:])))

    def action_next_phase(self) -> None:
        phases = list(dict.fromkeys([*PHASES, *(p for v in self.session.plan.validators for p in v.phases)]))
        self.phase = phases[(phases.index(self.phase) + 1) % len(phases)]
        self.refresh_view()

    def action_run_phase(self) -> None:
        self.app.run_validators(self.phase, None)

    def action_run_selected(self) -> None:
        if self.selected:
            self.app.run_validators(self.phase, [self.selected])

    def action_cancel(self) -> None:
        self.app.cancel_validators(self.selected)
