"""Text from outside, for widgets: never markup, never a terminal control sequence."""

from __future__ import annotations

from rich.markup import escape as _escape_markup
from rich.text import Text

from mdm_console.textsafe import visible


def escape(text: object) -> str:
    """For a string that is put inside markup: its brackets escaped and its control characters made visible."""
    return _escape_markup(visible(text))


def plain(text: object, style: str = "") -> Text:
    """A Text that is shown as it is (no markup), control characters made visible."""
    return Text(visible(text), style=style)
