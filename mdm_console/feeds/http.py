"""A small HTTP GET for the scraping feeds (urllib, run in a thread)."""

from __future__ import annotations

import urllib.error
import urllib.request

MAX_BODY = 8 * 1024 * 1024


class FetchError(Exception):
    pass


def get(url: str, timeout: float) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - plan-defined URL
            if resp.status != 200:
                raise FetchError(f"HTTP {resp.status}")
            return resp.read(MAX_BODY).decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        raise FetchError(f"HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise FetchError(str(getattr(exc.reason, "strerror", None) or exc.reason)) from None
    except (TimeoutError, OSError) as exc:
        raise FetchError(str(exc) or type(exc).__name__) from None
