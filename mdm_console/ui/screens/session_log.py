"""5 Session log: the events, newest first, a page at a time (the session's `log` operation), filtered by
kind, component and text, with the highlighted event in words below, the chain's verification and a
follow-live toggle."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Header, Input, Static

from mdm_console.api.describe import summary
from mdm_console.exits import OpFailed
from mdm_console.ui.safe import escape, plain
from mdm_console.ui.screens.base import ConsoleScreen, set_text, set_titles
from mdm_console.ui.widgets.event_words import words_markup
from mdm_console.ui.widgets.footer import ConsoleFooter
from mdm_console.ui.widgets.status_line import StatusLine

PAGE = 200


class SessionLogScreen(ConsoleScreen):
    """The tamper-evident log.

    BINDINGS:
    - ]: older page
    - [: newer page (back to the live tail)
    - /: search the events' text
    - f: follow live events on or off
    - enter: the highlighted event in full (words and raw JSON)
    """

    TITLE_TEXT = "Session log"
    BINDINGS = [
        Binding("right_square_bracket", "older", "Older page", id="log.older"),
        Binding("left_square_bracket", "newer", "Newer page", id="log.newer"),
        Binding("slash", "focus_search", "Search", id="log.search"),
        Binding("f", "toggle_follow", "Follow", id="log.follow"),
    ]
    DEFAULT_CSS = """
    SessionLogScreen #filters { height: 1; margin: 0 1; }
    SessionLogScreen #filters Input { width: 1fr; height: 1; border: none; padding: 0 1; margin-right: 1;
                                      background: $boost; }
    SessionLogScreen #filters Input:focus { background: $primary 30%; }
    SessionLogScreen #filters #text { width: 2fr; margin-right: 0; }
    SessionLogScreen #chain { height: 1; padding: 0 1; background: $panel; }
    SessionLogScreen #log { height: 1fr; min-height: 5; border: round $secondary; }
    SessionLogScreen #details { height: 35%; min-height: 5; max-height: 18; border: round $secondary;
                                padding: 0 1; }
    """

    follow = True  # new events reload the live tail; off: the page stays put and counts what came

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine()
        yield Static("chain: verifying…", id="chain")
        with Horizontal(id="filters"):
            yield Input(placeholder="kind (stage. or alert.*)", id="kind")
            yield Input(placeholder="component", id="component")
            yield Input(placeholder="/ search: text in the event", id="text")
        yield DataTable(id="log", cursor_type="row")
        with VerticalScroll(id="details"):
            yield Static("", id="words")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        t = self.query_one("#log", DataTable)
        t.add_column("seq", key="seq")
        t.add_column("time", key="time")
        t.add_column("who", key="who")
        t.add_column("kind", key="kind")
        t.add_column("component", key="component")
        t.add_column("what", key="what")
        self.query_one("#details").border_title = "event (enter: in full, raw JSON)"
        self.pages: list[int | None] = [None]  # the `before` seq of each page shown (UI navigation only)
        self.shown: dict[str, object] = {}  # seq -> the event on the page
        self.missed = 0  # events recorded while not following
        t.focus()  # digits switch screens; `/` goes to the search
        self._load()
        self._verify()

    def on_screen_resume(self) -> None:
        if self.is_mounted:  # a first visit loads in on_mount
            self._load()

    @work(exclusive=True, group="log-verify")
    async def _verify(self) -> None:
        from mdm_console.api.models import VerifyRequest

        try:
            v = await self.session.call("verify", VerifyRequest())
        except OpFailed as exc:
            set_text(self.query_one("#chain", Static), f"[b $error]chain not verified: {escape(exc.message)}[/]")
            return
        set_text(self.query_one("#chain", Static),
                 f"chain [$success]verified[/]: {v.events} events, head seq {v.head_seq}, head hash {v.head_hash[:16]}…"
                 if v.ok else f"[b $error]chain BROKEN at seq {v.bad_seq}: {escape(v.reason or '')}[/]")

    def _filters(self) -> tuple[str, str, str]:
        return tuple(self.query_one(f"#{n}", Input).value.strip() for n in ("kind", "component", "text"))

    @work(exclusive=True, group="log-page")
    async def _load(self) -> None:
        from mdm_console.api.models import LogRequest

        kind, comp, text = self._filters()
        try:
            page = await self.session.call("log", LogRequest(kind=kind, component=comp, text=text,
                                                              before=self.pages[-1], limit=PAGE))
        except OpFailed as exc:
            self.notify(exc.message, title="the log could not be read", severity="error")
            return
        t = self.query_one("#log", DataTable)
        keep = t.cursor_row
        t.clear()
        self.shown = {str(ev.seq): ev for ev in page.events}
        for ev in page.events:
            t.add_row(str(ev.seq), f"{ev.ts:%H:%M:%S}", plain(ev.operator), plain(ev.kind), plain(ev.component or ""),
                      plain(summary(ev)), key=str(ev.seq))
        if t.row_count:
            t.move_cursor(row=min(keep, t.row_count - 1))
        self.missed = 0
        self._total = (page.total, bool(kind or comp or text))
        self._title()
        self._show_details()

    def _title(self) -> None:
        total, filtered = getattr(self, "_total", (0, False))
        where = "live tail" if self.pages[-1] is None else f"page {len(self.pages)}"
        follow = "following" if self.follow else f"paused, {self.missed} new (f: follow)"
        set_titles(self.query_one("#log", DataTable),
                   f"{total} event(s){' matching' if filtered else ''} · {where} · {follow} · ] older [ newer")

    def _show_details(self) -> None:
        from mdm_console.ui.screens.base import selected_key

        ev = self.shown.get(selected_key(self.query_one("#log", DataTable)) or "")
        set_text(self.query_one("#words", Static), words_markup(ev) if ev is not None else "no event")

    @on(DataTable.RowHighlighted, "#log")
    def _highlighted(self) -> None:
        self._show_details()

    @on(DataTable.RowSelected, "#log")
    def _selected(self, message: DataTable.RowSelected) -> None:
        from mdm_console.ui.modals.event_detail import EventDetailModal

        ev = self.shown.get(message.row_key.value)
        if ev is not None:
            self.app.push_screen(EventDetailModal(ev))

    @on(Input.Changed)
    def _filter(self) -> None:
        self.pages = [None]
        self._load()

    @on(Input.Submitted)
    def _done_filtering(self) -> None:
        self.query_one("#log", DataTable).focus()

    def on_engine_events(self, events) -> None:
        if not self.follow:
            self.missed += len(events)
            self._title()
        elif self.pages[-1] is None and self.in_view:  # on the live tail: show it (hidden: when shown again)
            self._load()

    def refresh_view(self) -> None:
        self.query_one(StatusLine).render_from(self.session, self.session.now())

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        if self.follow:
            self.pages = [None]
            self._load()
        else:
            self._title()

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

    def action_focus_search(self) -> None:
        self.query_one("#text", Input).focus()
