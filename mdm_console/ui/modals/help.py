"""Every key of the current screen and of the app, with what it does."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from mdm_console.ui.safe import escape


def key_rows(bindings: list[tuple[str, Binding]]) -> list[str]:
    seen, rows = set(), []
    for key, b in bindings:
        if b.description and (b.id or b.action) not in seen:
            seen.add(b.id or b.action)
            rows.append(f"  [b]{escape(f'{key:<10}')}[/b] {escape(b.description)}")
    return rows


class HelpModal(ModalScreen[None]):
    """Help for the screen underneath.

    BINDINGS:
    - escape, ?: close
    """

    DEFAULT_CSS = """
    HelpModal { align: center middle; }
    HelpModal > VerticalScroll { width: 100%; max-width: 80; height: 90%; border: thick $primary; background: $surface; padding: 1 2; }
    """
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, title: str, screen_keys: list[str], app_keys: list[str]):
        super().__init__()
        self.title_text, self.screen_keys, self.app_keys = title, screen_keys, app_keys

    def compose(self) -> ComposeResult:
        text = [f"[b]{self.title_text}[/b]", ""] + self.screen_keys + ["", "[b]Anywhere[/b]", ""] + self.app_keys
        with VerticalScroll():
            yield Static("\n".join(text))

    def action_close(self) -> None:
        self.dismiss(None)
