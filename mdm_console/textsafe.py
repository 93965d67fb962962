"""Strings from outside (plans, operators, notes, reasons, validator output, metric lines) shown as text.

`visible()` turns every control character a terminal would act on (C0 but tab and newline, DEL, C1,
and so every ESC sequence) into a visible escape such as `\\x1b`, so a name like ``ESC ] 0 ; x BEL``
cannot set the window title or clear the screen. A leaf module: the CLI, the exports and the UI use it.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _show(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def visible(text: object, *, one_line: bool = False) -> str:
    """The text with control characters (and bidi overrides) as visible escapes; `one_line` escapes newlines and tabs too."""
    s = text if isinstance(text, str) else str(text)
    return (_CONTROL_LINE if one_line else _CONTROL).sub(_show, s)
