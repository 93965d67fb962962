"""What the five console screens share: access to the engine, and three refresh hooks."""

from __future__ import annotations

from textual.screen import Screen

from mdm_console.store.chain import Event


class ConsoleScreen(Screen):
    """A screen renders engine state; it keeps none of its own beyond what is on display."""

    TITLE_TEXT = ""

    @property
    def engine(self):
        return self.app.engine

    @property
    def monitor(self):
        return self.app.monitor

    def on_screen_resume(self) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        """Redraw from the engine's state."""

    def on_engine_event(self, event: Event) -> None:
        """An event was recorded (called only on the active screen)."""
        self.refresh_view()

    def tick(self) -> None:
        """Once a second: figures age, feeds move."""
