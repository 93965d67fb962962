"""5 Session log: the events, newest first, a page at a time from DuckDB, with filters and
the chain's verification status and head hash."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Header, Input, Static

from mdm_console.store.chain import Event
from mdm_console.ui.screens.base import ConsoleScreen, set_text
from mdm_console.ui.widgets.footer import ConsoleFooter
from mdm_console.ui.widgets.status_line import StatusLine

PAGE = 200


def page_query(kind: str, component: str, before_seq: int | None):
    """Newest-first page of the event log (runs on the store thread)."""

    def run(con):
        where, args = [], []
        if kind:
            where.append("kind LIKE ?")
            args.append(kind.replace("*", "%") + ("%" if "*" not in kind else ""))
        if component:
            where.append("component = ?")
            args.append(component)
        if before_seq is not None:
            where.append("seq < ?")
            args.append(before_seq)
        sql = ("SELECT seq, strftime(ts, '%H:%M:%S'), operator, kind, component, CAST(payload AS VARCHAR), hash "
               "FROM event_log" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq DESC LIMIT ?")
        rows = con.execute(sql, [*args, PAGE]).fetchall()
        total = con.execute("SELECT count(*) FROM event_log" + (" WHERE " + " AND ".join(
            w for w in where if not w.startswith("seq")) if [w for w in where if not w.startswith("seq")] else ""),
            [a for w, a in zip(where, args) if not w.startswith("seq")]).fetchone()[0]
        return rows, total

    return run


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
        v = await self.engine.verify()
        set_text(self.query_one("#chain", Static),
                 f"chain [green]verified[/]: {v.events} events, head seq {v.head_seq}, head hash {v.head_hash}"
                 if v.ok else f"[b red]chain BROKEN at seq {v.bad_seq}: {v.reason}[/]")

    @work(exclusive=True, group="log-page")
    async def _load(self) -> None:
        kind = self.query_one("#kind", Input).value.strip()
        comp = self.query_one("#component", Input).value.strip()
        rows, total = await self.engine.store.acall(page_query(kind, comp, self.pages[-1]))
        t = self.query_one("#log", DataTable)
        t.clear()
        from mdm_console.ui.safe import escape

        for seq, ts, who, k, c, payload, h in rows:
            t.add_row(str(seq), ts, escape(who), k, c or "", escape((payload or "")[:100]), h[:12], key=str(seq))
        where = "live tail" if self.pages[-1] is None else f"page {len(self.pages)}"
        t.border_title = f"{total} event(s){' matching' if kind or comp else ''} · {where} · ] older · [ newer"

    @on(Input.Changed)
    def _filter(self) -> None:
        self.pages = [None]
        self._load()

    @on(Input.Submitted)
    def _done_filtering(self) -> None:
        self.query_one("#log", DataTable).focus()

    def on_engine_event(self, event: Event) -> None:
        if self.pages[-1] is None:  # on the live tail: show it
            self._load()

    def refresh_view(self) -> None:
        self.query_one(StatusLine).render_from(self.engine, self.engine.now())

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

