"""An event in words as console markup: the headings bold, every value escaped (it comes from outside)."""

from __future__ import annotations

from mdm_console.api.describe import sections
from mdm_console.ui.safe import escape


def words_markup(ev) -> str:
    out = []
    for heading, lines in sections(ev):
        out.append(f"[b]{heading}[/b]")
        out.extend(f"  {escape(line)}" for line in lines)
    return "\n".join(out)
