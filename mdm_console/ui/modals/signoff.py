"""Sign off: pick a role, see what it still needs, type your name and a comment."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static
from mdm_console.ui.safe import escape, plain


class SignoffModal(ModalScreen[tuple[str, str, str] | None]):
    """Returns (role, name, comment) or None.

    BINDINGS:
    - escape: cancel
    """

    DEFAULT_CSS = """
    SignoffModal { align: center middle; }
    SignoffModal > Vertical { width: 100%; max-width: 90; height: auto; max-height: 100%; border: thick $accent;
                              background: $surface; padding: 0 2; }
    SignoffModal #unmet-scroll { height: auto; max-height: 30vh; margin: 1 0; }
    SignoffModal #unmet { height: auto; }
    SignoffModal #error { color: $error; height: auto; }
    SignoffModal Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    """
    AUTO_FOCUS = "#role"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, checklist, default_name: str):
        super().__init__()
        self.checklist = checklist
        self.default_name = default_name

    def compose(self) -> ComposeResult:
        roles = [(plain(s.role), s.role) for s in self.checklist.signoffs()]
        with Vertical():
            yield Label("[b]Sign off[/b]")
            yield Select(roles, prompt="role", id="role", allow_blank=True)
            with VerticalScroll(id="unmet-scroll"):
                yield Static("", id="unmet")
            yield Input(value=self.default_name, placeholder="your name, typed", id="name")
            yield Input(placeholder="comment (optional)", id="comment")
            yield Static("", id="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Sign", id="ok", variant="success")

    @on(Select.Changed, "#role")
    def _show_unmet(self, event: Select.Changed) -> None:
        if event.value is Select.NULL:
            self.query_one("#unmet", Static).update("")
            return
        view = next(s for s in self.checklist.signoffs() if s.role == event.value)
        if view.signed and view.current:
            text = f"[$text-warning]already signed by {escape(view.name)} for the current state[/]"
        elif view.unmet:
            text = "[$text-error]not yet:[/]\n" + "\n".join(f"  • {escape(u)}" for u in view.unmet)
        else:
            text = "[$text-success]every prerequisite holds[/]" + (
                f" (renews {escape(view.name)}'s signature of an earlier state)" if view.signed else "")
        self.query_one("#unmet", Static).update(text)

    @on(Button.Pressed, "#ok")
    @on(Input.Submitted)
    def _ok(self) -> None:
        role = self.query_one("#role", Select).value
        name = self.query_one("#name", Input).value.strip()
        if role is Select.NULL:
            self.query_one("#error", Static).update("Pick a role.")
            return
        if not name:
            self.query_one("#error", Static).update("Type your name.")
            return
        self.dismiss((role, name, self.query_one("#comment", Input).value.strip()))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
