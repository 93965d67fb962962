"""The live tail of the session log (newest first), paged from the store, never all of it."""

from __future__ import annotations

import json

from textual.widgets import DataTable

from mdm_console.store.chain import Event

TAIL = 500


class EventLog(DataTable):
    DEFAULT_CSS = """
    EventLog { height: 1fr; border: round $secondary; }
    """

    def on_mount(self) -> None:
        self.border_title = "Session log"
        self.cursor_type = "row"
        self.add_columns("seq", "time (UTC)", "who", "kind", "component", "details", "hash")

    def add_events(self, events: list[Event]) -> None:
        for ev in events:
            details = json.dumps(ev.payload, ensure_ascii=False)
            self.add_row(str(ev.seq), ev.ts.strftime("%H:%M:%S"), ev.actor.operator, ev.kind, ev.component or "",
                         details[:80] + ("…" if len(details) > 80 else ""), ev.hash[:12], key=str(ev.seq))
        while self.row_count > TAIL:
            self.remove_row(self.coordinate_to_cell_key((0, 0)).row_key)
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)
