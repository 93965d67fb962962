"""The console app: renders engine state and events; holds no domain state of its own."""

from __future__ import annotations

from datetime import UTC, datetime

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Footer, Header, Static

from mdm_console.engine.core import Engine
from mdm_console.store.chain import Event
from mdm_console.ui.themes import DEFAULT_THEME, load_themes
from mdm_console.ui.widgets.components_table import ComponentsTable
from mdm_console.ui.widgets.event_log import TAIL, EventLog


class ConsoleApp(App):
    """mdm-console.

    BINDINGS:
    - q: quit
    """

    TITLE = "mdm-console"
    CSS = """
    #status { height: auto; padding: 0 1; background: $panel; }
    #notes { height: auto; padding: 0 1; color: $warning; }
    """
    BINDINGS = [Binding("q", "quit", "Quit", id="quit")]

    class EngineEvent(Message):
        def __init__(self, event: Event) -> None:
            super().__init__()
            self.event = event

    def __init__(self, engine: Engine, monitor=None, theme: str | None = None, clock=None):
        super().__init__()
        self.engine = engine
        self.monitor = monitor
        self._clock = clock or (lambda: datetime.now(UTC))
        self._theme_name = theme or DEFAULT_THEME

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status")
        yield Static(id="notes")
        yield ComponentsTable()
        yield EventLog()
        yield Footer()

    async def on_mount(self) -> None:
        for theme in load_themes():
            self.register_theme(theme)
        self.theme = self._theme_name
        loaded = self.engine.loaded
        self.title = ("DEMO · " if loaded.is_demo else "") + loaded.plan.cutover.name
        notes = list(self.engine.report.notes)
        if self.engine.report.plan_changed:
            old, new = self.engine.report.plan_changed
            notes.append(f"The plan changed since the last session: sha256 {old[:12]}… -> {new[:12]}…")
        self.query_one("#notes", Static).update("\n".join(notes))
        self._render_state()
        self.query_one(EventLog).add_events(await self.engine.events(max(0, self.engine.state.head_seq - TAIL)))
        self.set_interval(1.0, self._render_state)
        self._follow_engine()

    @work(exclusive=True, group="engine-events")
    async def _follow_engine(self) -> None:
        async with self.engine.subscribe() as queue:
            while True:
                self.post_message(self.EngineEvent(await queue.get()))

    @on(EngineEvent)
    def _on_engine_event(self, message: EngineEvent) -> None:
        self.query_one(EventLog).add_events([message.event])
        self._render_state()

    def _render_state(self) -> None:
        e = self.engine
        self.sub_title = f"phase: {e.phase} · operator: {e.store.actor.operator}"
        chain = "chain BROKEN, read-only" if e.read_only and e.store.sealed else f"events {e.state.head_seq}"
        self.query_one("#status", Static).update(
            f"[b]{'DEMO' if e.loaded.is_demo else 'LIVE'}[/b]  phase [b]{e.phase}[/b]  ·  {chain}  ·  "
            f"head {e.state.head_hash[:16]}  ·  db {e.store.path}"
        )
        self.query_one(ComponentsTable).refresh_from(e, self._clock())

