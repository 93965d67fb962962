"""One event of the session log in full: in words (who, what, why, when), then its raw JSON."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from mdm_console.api.describe import raw
from mdm_console.ui.safe import escape, plain
from mdm_console.ui.widgets.event_words import words_markup


class EventDetailModal(ModalScreen[None]):
    """An event in words and as recorded.

    BINDINGS:
    - escape, enter: close
    """

    DEFAULT_CSS = """
    EventDetailModal { align: center middle; }
    EventDetailModal > Vertical { width: 100%; max-width: 120; height: 100%; max-height: 50;
                                  border: thick $primary; background: $surface; }
    EventDetailModal VerticalScroll { height: 1fr; padding: 0 1; }
    EventDetailModal #raw-title { margin-top: 1; text-style: bold; }
    EventDetailModal #close { dock: bottom; width: 100%; }
    """
    BINDINGS = [Binding("escape,enter", "close", "Close", id="event.close")]

    def __init__(self, event) -> None:
        super().__init__()
        self.event = event

    def compose(self) -> ComposeResult:
        ev = self.event
        with Vertical() as box:
            box.border_title = escape(f"seq {ev.seq} · {ev.kind}")
            yield Button("Close (esc)", id="close")
            with VerticalScroll():
                yield Static(words_markup(ev), id="words")
                yield Static("raw JSON (as recorded)", id="raw-title")
                yield Static(plain(raw(ev)), id="raw")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def on_button_pressed(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
