"""Ask for a typed text (a reason, a note, a name); Escape cancels. Returns the text or None."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static
from mdm_console.ui.safe import escape


class ReasonModal(ModalScreen[str | None]):
    """A question, an explanation, and a text field that must not be blank (unless `required=False`).

    BINDINGS:
    - escape: cancel
    """

    DEFAULT_CSS = """
    ReasonModal { align: center middle; }
    ReasonModal > Vertical { width: 100%; max-width: 84; height: auto; max-height: 100%; border: thick $warning;
                             background: $surface; padding: 1 2; }
    ReasonModal #detail-scroll { height: auto; max-height: 45vh; margin-bottom: 1; }
    ReasonModal #detail { color: $text-muted; }
    ReasonModal #error { color: $error; height: auto; }
    ReasonModal Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    """
    AUTO_FOCUS = "#text"  # the reason field, not the scrolling detail above it
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, title: str, detail: str = "", placeholder: str = "reason", confirm: str = "OK",
                 value: str = "", required: bool = True):
        super().__init__()
        self.required = required
        self.title_text, self.detail, self.placeholder, self.confirm, self.value = (
            title, detail, placeholder, confirm, value)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]{escape(self.title_text)}[/b]")
            with VerticalScroll(id="detail-scroll"):  # long gate lists scroll; the buttons stay in view
                yield Static(escape(self.detail), id="detail")
            yield Input(value=self.value, placeholder=self.placeholder, id="text")
            yield Static("", id="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button(self.confirm, id="ok", variant="warning")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        text = self.query_one("#text", Input).value.strip()
        if not text and self.required:
            self.query_one("#error", Static).update(f"A {self.placeholder} is required.")
            return
        self.dismiss(text)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
