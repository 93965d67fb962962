"""What the five console screens share: access to the engine, and three refresh hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen
from textual.widgets import DataTable

if TYPE_CHECKING:
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
        if self.app.ready:
            self.refresh_view()

    def refresh_view(self) -> None:
        """Redraw from the engine's state."""

    def on_engine_event(self, event: Event) -> None:
        """An event was recorded (called only on the active screen)."""
        self.refresh_view()

    def tick(self) -> None:
        """Once a second: figures age, feeds move."""


def selected_key(table: DataTable) -> str | None:
    """The row key under the cursor (None for an empty table)."""
    if not table.row_count:
        return None
    return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value


def refill(table: DataTable, rows: list[tuple[str, tuple]]) -> None:
    """Replace the rows (key, cells), keeping the cursor where it was."""
    keep = table.cursor_row
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if table.row_count:
        table.move_cursor(row=min(keep, table.row_count - 1))
