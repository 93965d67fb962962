"""A plan that does not load, shown full screen when the console was started in a terminal."""

from __future__ import annotations

from mdm_console.ui.safe import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from mdm_console.exits import EXIT_USAGE
from mdm_console.ui.widgets.footer import ConsoleFooter


class PlanErrorScreen(Screen):
    """The plan error, and how to go on.

    BINDINGS:
    - q, escape: quit (exit code 2)
    """

    DEFAULT_CSS = """
    PlanErrorScreen { align: center middle; }
    PlanErrorScreen Vertical { width: 100%; max-width: 100; height: auto; max-height: 100%; border: thick $error;
                               padding: 1 2; }
    PlanErrorScreen VerticalScroll { height: auto; max-height: 1fr; }
    """
    BINDINGS = [Binding("q,escape", "leave", "Quit", id="plan_error.quit")]

    def __init__(self, message: str):
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Center(), Vertical():
            yield Static("[b]The plan does not load; nothing was started or written.[/b]\n")
            with VerticalScroll():  # a long list of errors scrolls; what to do next stays in view
                yield Static(escape(self.message))
            yield Static("\nFix the file and start again. `mdm-console init DIR` writes a commented example.")
        yield ConsoleFooter()

    def action_leave(self) -> None:
        self.app.exit(return_code=EXIT_USAGE, message=Text(self.message))  # and on the terminal after
