"""Strings from outside (plans, operators, notes, reasons, validator output, metric lines) shown as text.

`visible()` turns every control character a terminal would act on (C0 but tab and newline, DEL, C1,
and so every ESC sequence) into a visible escape such as `\\x1b`, so a name like ``ESC ] 0 ; x BEL``
cannot set the window title or clear the screen. A leaf module: the CLI, the exports and the UI use it.
"""

from __future__ import annotations

import re

# Invisible and direction-changing characters too (zero-width, soft hyphen, word joiners, bidi marks, the BOM,
# tag characters, Hangul fillers): two names that print the same must not be two different people.
_INVISIBLE = ("\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e"
              "\u2060-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e007f")
_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_INVISIBLE}]")
_CONTROL_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_INVISIBLE}]")


def _show(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" if c < 0x10000 else f"\\U{c:08x}"


def visible(text: object, *, one_line: bool = False) -> str:
    """The text with control characters (and bidi overrides) as visible escapes; `one_line` escapes newlines and tabs too."""
    s = text if isinstance(text, str) else str(text)
    return (_CONTROL_LINE if one_line else _CONTROL).sub(_show, s)
