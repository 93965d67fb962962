"""5 Session log: the events, newest first, a page at a time (the session's `log` operation), with filters
and the chain's verification status and head hash."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Header, Input, Static

from mdm_console.exits import OpFailed
from mdm_console.ui.screens.base import ConsoleScreen, set_text
from mdm_console.ui.widgets.footer import ConsoleFooter
from mdm_console.ui.widgets.status_line import StatusLine

PAGE = 200


class SessionLogScreen(ConsoleScreen):
    """The tamper-evident log.

    BINDINGS:
    - ]: older page
    - [: newer page (back to the live tail)
    - /: filter by kind
    """

    TITLE_TEXT = "Session log"
    BINDINGS = [
        Binding("right_square_bracket", "older", "Older page", id="log.older"),
        Binding("left_square_bracket", "newer", "Newer page", id="log.newer"),
        Binding("slash", "focus_filter", "Filter", id="log.filter"),
    ]
    DEFAULT_CSS = """
    SessionLogScreen #filters { height: 3; }
    SessionLogScreen #filters Input { width: 1fr; }
    SessionLogScreen #chain { height: auto; padding: 0 1; background: $panel; }
    SessionLogScreen #log { height: 1fr; border: round $secondary; }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine()
        yield Static("chain: verifying…", id="chain")
        with Vertical():
            with Horizontal(id="filters"):
                yield Input(placeholder="kind (e.g. stage. or alert.*)", id="kind")
                yield Input(placeholder="component", id="component")
            yield DataTable(id="log", cursor_type="row")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        t = self.query_one("#log", DataTable)
        t.add_columns("seq", "time", "who", "kind", "component", "details", "hash")
        self.pages: list[int | None] = [None]  # the `before` seq of each page shown (UI navigation only)
        t.focus()  # digits switch screens; `/` goes to the filter
        self._load()
        self._verify()

    def on_screen_resume(self) -> None:
        if self.is_mounted:  # a first visit loads in on_mount
            self._load()

    @work(exclusive=True, group="log-verify")
    async def _verify(self) -> None:
        from mdm_console.api.models import VerifyRequest
        from mdm_console.ui.safe import escape

        try:
            v = await self.session.call("verify", VerifyRequest())
        except OpFailed as exc:
            set_text(self.query_one("#chain", Static), f"[b red]chain not verified: {escape(exc.message)}[/]")
            return
        set_text(self.query_one("#chain", Static),
                 f"chain [green]verified[/]: {v.events} events, head seq {v.head_seq}, head hash {v.head_hash}"
                 if v.ok else f"[b red]chain BROKEN at seq {v.bad_seq}: {escape(v.reason or '')}[/]")

    @work(exclusive=True, group="log-page")
    async def _load(self) -> None:
        kind = self.query_one("#kind", Input).value.strip()
        comp = self.query_one("#component", Input).value.strip()
        import json

        from mdm_console.api.models import LogRequest
        from mdm_console.ui.safe import escape

        try:
            page = await self.session.call("log", LogRequest(kind=kind, component=comp, before=self.pages[-1],
                                                              limit=PAGE))
        except OpFailed as exc:
            self.notify(exc.message, title="the log could not be read", severity="error")
            return
        rows, total = page.events, page.total
        t = self.query_one("#log", DataTable)
        t.clear()
        for ev in rows:
            payload = json.dumps(ev.payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            t.add_row(str(ev.seq), f"{ev.ts:%H:%M:%S}", escape(ev.operator), ev.kind, ev.component or "",
                      escape(payload[:100]), ev.hash[:12], key=str(ev.seq))
        where = "live tail" if self.pages[-1] is None else f"page {len(self.pages)}"
        t.border_title = f"{total} event(s){' matching' if kind or comp else ''} · {where} · ] older · [ newer"

    @on(Input.Changed)
    def _filter(self) -> None:
        self.pages = [None]
        self._load()

    @on(Input.Submitted)
    def _done_filtering(self) -> None:
        self.query_one("#log", DataTable).focus()

    def on_engine_event(self, event) -> None:
        if self.pages[-1] is None:  # on the live tail: show it
            self._load()

    def refresh_view(self) -> None:
        self.query_one(StatusLine).render_from(self.session, self.session.now())

    def action_older(self) -> None:
        t = self.query_one("#log", DataTable)
        if t.row_count == PAGE:
            last = int(t.coordinate_to_cell_key((t.row_count - 1, 0)).row_key.value)
            self.pages.append(last)
            self._load()

    def action_newer(self) -> None:
        if len(self.pages) > 1:
            self.pages.pop()
            self._load()

    def action_focus_filter(self) -> None:
        self.query_one("#kind", Input).focus()

