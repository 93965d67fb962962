"""A plan that does not load, shown full screen when the console was started in a terminal."""

from __future__ import annotations

from rich.markup import escape
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.widgets import Footer, Static


class PlanErrorApp(App):
    """The plan error, and how to go on.

    BINDINGS:
    - q, escape: quit (exit code 2)
    """

    CSS = """
    Screen { align: center middle; }
    Vertical { width: 100; height: auto; border: thick $error; padding: 1 2; }
    """
    BINDINGS = [Binding("q,escape", "quit", "Quit", id="plan_error.quit")]

    def __init__(self, message: str):
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Center(), Vertical():
            yield Static("[b]The plan does not load; nothing was started or written.[/b]\n")
            yield Static(escape(self.message))
            yield Static("\nFix the file and start again. `mdm-console init DIR` writes a commented example.")
        yield Footer()
