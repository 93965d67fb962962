"""Colours from the theme, for the cells of tables (DataTable renders Rich text, which knows no theme
variables). Everything else uses Textual markup with `$variables` (`[$text-error]…[/]`), which the theme resolves.

A tone is a meaning (ok, bad, warn, busy, quiet), never a colour: the theme decides what it looks like, and every
status also carries a word and a glyph, so none depends on colour alone."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from mdm_console.textsafe import visible

# meaning -> the theme variable that colours text with it (Textual's text-* variables are made to be legible on
# the theme's own background)
TONES = {"ok": "text-success", "bad": "text-error", "warn": "text-warning", "busy": "text-primary",
         "accent": "text-accent"}

_cache: dict[str, dict[str, Style]] = {}


def styles(app) -> dict[str, Style]:
    """The tones of the app's current theme (computed once per theme)."""
    theme = app.theme
    got = _cache.get(theme)
    if got is None:
        v = app.get_css_variables()
        got = {name: Style(color=v[var]) for name, var in TONES.items()}
        got["quiet"] = Style(dim=True)
        got["alarm"] = Style(color=v["text-error"], bold=True, reverse=True)
        _cache[theme] = got
    return got


def toned(app, text: object, tone: str | None, *, bold: bool = False) -> Text:
    """`text` (shown as it is, never markup) in a tone of the current theme."""
    style = styles(app).get(tone or "", Style())
    return Text(visible(text), style=style + Style(bold=True) if bold else style)
