"""Secrets never reach the log: values of params/env whose names look secret are masked."""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
SECRET_NAME = re.compile(r"pass(word|wd)?|token|secret|api[_-]?key|(^|[_-])key$|^key|credential|auth", re.I)
# name=value / name: value pairs in free text (command output, URLs, error messages)
_INLINE = re.compile(
    r"(?P<name>[A-Za-z0-9_.-]*(?:password|passwd|token|secret|api[_-]?key|credential)[A-Za-z0-9_.-]*)"
    r"(?P<sep>\s*[=:]\s*)(?P<q>[\"']?)(?P<value>[^\s\"'&,;]+)",
    re.I,
)
_URL_AUTH = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]+)@", re.I)


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def secret_values(obj: Any, found: set[str] | None = None) -> set[str]:
    """Every value stored under a secret-looking name, at any depth."""
    found = set() if found is None else found
    if isinstance(obj, dict):
        for k, v in obj.items():
            if is_secret_name(str(k)) and isinstance(v, str | int | float) and str(v):
                found.add(str(v))
            else:
                secret_values(v, found)
    elif isinstance(obj, list | tuple):
        for v in obj:
            secret_values(v, found)
    return found


def redact_obj(obj: Any) -> Any:
    """A copy with secret-named values masked (for params and env written to the log)."""
    if isinstance(obj, dict):
        return {k: (MASK if is_secret_name(str(k)) and not isinstance(v, dict | list) else redact_obj(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact_obj(v) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def redact_text(text: str, known: set[str] | frozenset[str] = frozenset()) -> str:
    """Mask known secret values, `password=...`-style pairs and user:password@ in URLs."""
    for value in sorted(known, key=len, reverse=True):
        if len(value) >= 3:
            text = text.replace(value, MASK)
    text = _INLINE.sub(lambda m: f"{m['name']}{m['sep']}{m['q']}{MASK}", text)
    return _URL_AUTH.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
