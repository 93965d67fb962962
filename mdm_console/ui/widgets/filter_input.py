"""A one-line filter for a long table: shown by `/`, enter keeps it and goes back to the table, escape clears it."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class FilterInput(Input):
    """Hidden until the screen calls `open()`; hides itself again when left empty."""

    BINDINGS = [Binding("escape", "clear_filter", "Clear filter", id="filter.clear")]
    DEFAULT_CSS = """
    FilterInput { display: none; height: 1; border: none; padding: 0 1; background: $boost; }
    FilterInput.shown { display: block; }
    FilterInput:focus { background: $primary 30%; }
    """

    class Left(Message):
        """The operator is done with the filter (enter or escape): the screen gives the focus back."""

    def open(self) -> None:
        self.add_class("shown")
        self.focus()

    def action_clear_filter(self) -> None:
        self.value = ""  # Input.Changed follows: the table shows everything again
        self._leave()

    async def action_submit(self) -> None:
        await super().action_submit()
        self._leave()

    def _leave(self) -> None:
        self.set_class(bool(self.value.strip()), "shown")
        self.post_message(self.Left())
