"""Secrets never reach the log: values of params/env whose names look secret are masked."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

MASK = "***"
SECRET_NAME = re.compile(r"pass(word|wd)?|token|secret|api[_-]?key|(^|[_-])key$|^key|credential|auth", re.I)
# Free text (command output, URLs, error messages) is masked in time linear in its length. The pattern
# this replaced began with an unbounded run of name characters before the keyword, so it started a scan
# at every position of a long run (a 20 000 character value took 14 s). These begin at the keyword (or
# at "://"), and every run after it is bounded and possessive (no backtracking).
_PAIR = re.compile(r"(?:password|passwd|token|secret|api[_-]?key|credential)[A-Za-z0-9_.-]{0,64}+"
                   r"(?P<sep>\s{0,8}+[=:]\s{0,8}+)(?P<q>[\"']?)(?P<value>[^\s\"'&,;]{1,4096}+)")
# Matched on an ASCII-lowered copy (same length, so positions carry over): faster than re.I, and a text
# without any keyword or "://" (most output) is passed over by `in` alone.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_KEYWORDS = ("pass", "token", "secret", "key", "credential")
_URL_AUTH = re.compile(r"(?<=[A-Za-z0-9+.-])://(?P<user>[^:/@\s]{1,256}+):(?P<pw>[^@/\s]{1,1024}+)@")

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
    """Mask known secret values, `password=...`-style pairs and user:password@ in URLs (linear time)."""
    for value in sorted(known, key=len, reverse=True):
        if len(value) >= 3:
            text = text.replace(value, MASK)
    lowered = text.translate(_ASCII_LOWER)
    if any(k in lowered for k in _KEYWORDS):
        out, last = [], 0
        for m in _PAIR.finditer(lowered):
            out.append(text[last:m.start("value")])
            out.append(MASK)
            last = m.end("value")
        text = "".join(out) + text[last:]
    if "://" in text:
        text = _URL_AUTH.sub(lambda m: f"://{m['user']}:{MASK}@", text)
    return text


def mask_url(url: str) -> str:
    """A URL as it may be shown or stored: the password of its userinfo and the values of secret-looking
    query parameters (token, key, password, signature...) masked."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{MASK}@{host}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        query = "&".join(f"{urllib.parse.quote(k)}={MASK if is_secret_name(k) or k.lower() in SECRET_QUERY else v}"
                         for k, v in pairs)
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


SECRET_QUERY = frozenset({"sig", "signature", "access_token", "code", "jwt", "session", "sid"})
