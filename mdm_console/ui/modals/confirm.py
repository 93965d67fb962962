"""A destructive confirmation: the operator types a given word. Returns True or False."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static
from mdm_console.ui.safe import escape


class ConfirmModal(ModalScreen[bool]):
    """Type WORD to confirm.

    BINDINGS:
    - escape: cancel
    """

    DEFAULT_CSS = """
    ConfirmModal { align: center middle; }
    ConfirmModal > Vertical { width: 100%; max-width: 84; height: auto; max-height: 100%; border: thick $error;
                              background: $surface; padding: 1 2; }
    ConfirmModal #detail { margin-bottom: 1; }
    ConfirmModal #error { color: $error; height: auto; }
    ConfirmModal Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, title: str, detail: str, word: str):
        super().__init__()
        self.title_text, self.detail, self.word = title, detail, word

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]{escape(self.title_text)}[/b]", id="title")
            yield Static(escape(self.detail), id="detail")
            yield Input(placeholder=f"type {self.word} to confirm", id="word")
            yield Static("", id="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Confirm", id="ok", variant="error")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        if self.query_one("#word", Input).value.strip() != self.word:
            self.query_one("#error", Static).update(f"Type exactly: {self.word}")
            return
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
