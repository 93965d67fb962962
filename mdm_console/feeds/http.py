"""A small HTTP GET for the scraping feeds and the `http` validator (http.client, run in a thread).

- A total deadline, enforced on the socket: a server that trickles one byte a second is cut off when the
  deadline passes (a per-read timeout alone would wait for ever), so the thread is freed.
- Redirects are followed only to the same scheme, host and port (at most 3).
- The body is read up to a cap; URLs in messages have their credentials masked.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.parse

from mdm_console.redact import mask_url

MAX_BODY = 8 * 1024 * 1024
MAX_REDIRECTS = 3


class FetchError(Exception):
    pass


def request(url: str, timeout: float, *, method: str = "GET", headers: dict[str, str] | None = None,
            max_body: int = MAX_BODY) -> tuple[int, bytes]:
    """(status, body) of one request, redirects within the same origin followed; FetchError otherwise."""
    deadline = time.monotonic() + timeout
    origin = urllib.parse.urlsplit(url)[:2]
    for _ in range(MAX_REDIRECTS + 1):
        status, body, location = _once(url, method, headers or {}, deadline, max_body)
        if location is None:
            return status, body
        nxt = urllib.parse.urljoin(url, location)
        if urllib.parse.urlsplit(nxt)[:2] != origin:
            raise FetchError(f"HTTP {status} redirect to another host ({mask_url(nxt)}) not followed")
        url = nxt
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


def get(url: str, timeout: float) -> str:
    status, body = request(url, timeout)
    if status != 200:
        raise FetchError(f"HTTP {status}")
    return body.decode("utf-8", errors="replace")


def _once(url: str, method: str, headers: dict[str, str], deadline: float,
          max_body: int) -> tuple[int, bytes, str | None]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {mask_url(url)}")
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError("no answer within the deadline")
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, parts.port, timeout=remaining)
    cutoff = threading.Timer(remaining, _cut, (conn,))
    cutoff.daemon = True
    try:
        conn.connect()
        cutoff.start()
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        conn.request(method, path, headers={"Host": parts.netloc.rpartition("@")[2], **headers})
        resp = conn.getresponse()
        if resp.status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
            return resp.status, b"", resp.getheader("Location")
        body = resp.read(max_body)
        if time.monotonic() >= deadline:
            raise FetchError("the answer did not complete within the deadline")
        return resp.status, body, None
    except FetchError:
        raise
    except (OSError, http.client.HTTPException) as exc:
        if time.monotonic() >= deadline:
            raise FetchError("no complete answer within the deadline") from None
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise FetchError(reason) from None
    finally:
        cutoff.cancel()
        conn.close()


def _cut(conn: http.client.HTTPConnection) -> None:
    """The deadline passed: shut the socket so the blocked read returns at once."""
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
