"""Delivery through Apprise: one worker thread and one bounded queue per target, so a target that hangs
delays neither the engine nor the other targets; a timeout per attempt, retries with backoff, and every
outcome handed back (to be recorded as `notify.sent` / `notify.failed`).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mdm_console.notify.messages import Message
from mdm_console.textsafe import visible

QUEUE_SIZE = 200
FILE_SCHEMA = "mdmfile"  # a local JSON-lines file, for the demo and for tests: mdmfile://relative/or/absolute


@dataclass(frozen=True)
class Outcome:
    target: str
    seq: int
    topic: str
    ok: bool
    attempt: int
    latency_ms: float
    error: str | None
    final: bool  # no more attempts will follow


class Target:
    """One `[[notify]]` entry made ready: its resolved URL (a secret: never logged) and its Apprise object."""

    def __init__(self, name: str, url: str, *, timeout: float, retries: int, base_dir: Path | None = None):
        self.name, self.timeout, self.retries = name, timeout, retries
        self.url = _resolved(url, base_dir)
        self.secrets = _secret_parts(self.url)
        self._apprise = None  # built on the first send, in the target's own thread, and kept

    def mask(self, text: str) -> str:
        for s in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(s, "***")
        return visible(text, one_line=True)[:300]

    def send(self, message: Message) -> tuple[bool, str | None]:
        """One attempt, in the calling thread: (ok, error)."""
        import apprise

        register_file_target()
        if self._apprise is None:
            a = apprise.Apprise()
            if not a.add(_with_timeouts(self.url, self.timeout)):
                return False, "the URL is not one Apprise knows (see docs/notifications.md)"
            self._apprise = a
        service = self._apprise[0]  # its one service, called in this thread (Apprise's own dispatch may use a pool)
        with _ThreadLog() as log:  # this thread's lines only: another target's failure is not this one's
            result = service.notify(body=message.body, title=message.title, notify_type=message.severity)
        if bool(result):
            return True, None
        return False, self.mask("; ".join(log.lines[-3:]) or "the target did not accept the message")


class _ThreadLog(logging.Handler):
    """Apprise's warnings logged by the calling thread while in the block (Apprise's own LogCapture takes every
    thread's: with a thread per target, a hanging target's failure was recorded with another target's words)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())

    def __enter__(self) -> _ThreadLog:
        logging.getLogger("apprise").addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger("apprise").removeHandler(self)


class Dispatcher:
    """The targets' queues and worker threads. `submit` never blocks: a full queue drops the message and says
    so. `report(outcome)` is called from the worker threads."""

    def __init__(self, targets: list[Target], report: Callable[[Outcome], None], backoff: float = 1.0):
        self.targets = targets
        self.report = report
        self.backoff = backoff
        self._queues = {t.name: queue.Queue(QUEUE_SIZE) for t in targets}
        self._stop = threading.Event()
        self._loaded = threading.Semaphore(0)
        self._threads = [threading.Thread(target=self._work, args=(t,), name=f"notify-{t.name}", daemon=True)
                         for t in targets]
        for th in self._threads:
            th.start()

    def submit(self, target: Target, message: Message) -> None:
        try:
            self._queues[target.name].put_nowait(message)
        except queue.Full:
            self.report(Outcome(target.name, message.seq, message.topic, False, 0, 0.0,
                                f"dropped: {QUEUE_SIZE} messages already wait for this target", True))

    def pending(self) -> dict[tuple[str, int, str], int]:
        """(target, seq, topic) -> messages handed over and not finished (sent, or failed for good)."""
        with self._lock:
            return dict(self._pending)

    def wait_loaded(self, timeout: float) -> bool:
        """True once every worker has loaded Apprise (its first message then pays no import)."""
        deadline = time.monotonic() + timeout
        return all(self._loaded.acquire(timeout=max(0.0, deadline - time.monotonic())) for _ in self._threads)

    def stop(self) -> None:
        self._stop.set()
        for q in self._queues.values():
            try:
                q.put_nowait(None)
            except queue.Full:
                pass

    def _work(self, target: Target) -> None:
        q = self._queues[target.name]
        try:  # Apprise and its plugins load here, before the first message (about 0.25 s), not on it
            import apprise  # noqa: F401

            register_file_target()
        except Exception:  # noqa: BLE001 - the send reports it, with the message it concerns
            pass
        self._loaded.release()
        while not self._stop.is_set():
            message = q.get()
            if message is None:
                return
            for attempt in range(1, target.retries + 2):
                t0 = time.perf_counter()
                try:
                    ok, error = target.send(message)
                except Exception as exc:  # noqa: BLE001 - a plugin's own failure is this target's failure
                    ok, error = False, target.mask(f"{type(exc).__name__}: {exc}")
                final = ok or attempt == target.retries + 1 or self._stop.is_set()
                self.report(Outcome(target.name, message.seq, message.topic, ok, attempt,
                                    round((time.perf_counter() - t0) * 1000, 1), error, final))
                if final:
                    break
                if self._stop.wait(self.backoff * 2 ** (attempt - 1)):
                    return


def _resolved(url: str, base_dir: Path | None) -> str:
    """A relative `mdmfile://` path is relative to the plan's directory."""
    if url.startswith(f"{FILE_SCHEMA}://"):
        path = Path(url[len(FILE_SCHEMA) + 3:])
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return f"{FILE_SCHEMA}://{path}"
    return url


def _with_timeouts(url: str, timeout: float) -> str:
    """Apprise's connect and read timeouts (`cto`, `rto`) for HTTP-based targets, unless the URL sets them."""
    if url.startswith(f"{FILE_SCHEMA}://"):
        return url
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    extra = {k: f"{timeout:g}" for k in ("cto", "rto") if k not in query}
    sep = "&" if parts.query else "?"
    return url + (sep + urllib.parse.urlencode(extra) if extra else "")


def _secret_parts(url: str) -> set[str]:
    """The URL and the pieces of it that may be tokens (user, password, path segments, query values)."""
    out = {url}
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return out
    out |= {p for p in (parts.username, parts.password) if p}
    out |= {seg for seg in parts.path.split("/") if len(seg) >= 8}
    out |= {v for vs in urllib.parse.parse_qs(parts.query).values() for v in vs if len(v) >= 8}
    return out


_registered = False
_lock = threading.Lock()


def register_file_target() -> None:
    """`mdmfile://PATH`: each message appended to PATH as one JSON line (created 0600). Apprise's own plugin
    mechanism (a custom notification), so the demo and the tests need no receiver of their own."""
    global _registered
    with _lock:
        if _registered:
            return
        from apprise.decorators import notify

        @notify(on=FILE_SCHEMA, name="mdm-console JSON-lines file")
        def _append(body, title, notify_type, meta, *args, **kwargs):
            import json
            from datetime import UTC, datetime

            # Apprise parses mdmfile:///var/x/notes.jsonl as host "var" and full path "/x/notes.jsonl" (the URL
            # is always made absolute before it reaches Apprise, see _resolved).
            path = "/" + urllib.parse.unquote(meta.get("host", "")) + urllib.parse.unquote(meta.get("fullpath", ""))
            line = json.dumps({"ts": datetime.now(UTC).isoformat(), "type": str(notify_type), "title": title,
                               "body": body}) + "\n"
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
            return True

        _registered = True


class ProcessDispatcher:
    """The same contract as Dispatcher, with the sending done in a child process (notify/worker.py): the
    console's interpreter lock is never held by a send. A child that ends is started again on the next
    message; the messages it had not sent are reported failed."""

    def __init__(self, targets: list[Target], report: Callable[[Outcome], None], backoff: float = 1.0):
        self.targets = targets
        self.report = report
        self.backoff = backoff
        self._proc = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int, str], int] = {}  # (target, seq, topic) -> messages not finished
        self._start()

    def _start(self) -> None:
        import json
        import subprocess
        import sys

        self._ready.clear()
        proc = subprocess.Popen([sys.executable, "-m", "mdm_console.notify.worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        proc.stdin.write(json.dumps({"backoff": self.backoff, "targets": [
            {"name": t.name, "url": t.url, "timeout": t.timeout, "retries": t.retries} for t in self.targets]})
            + "\n")
        proc.stdin.flush()
        self._proc = proc
        threading.Thread(target=self._read, args=(proc,), name="notify-reader", daemon=True).start()

    def _read(self, proc) -> None:
        import json

        for line in proc.stdout:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("ready"):
                self._ready.set()
            elif "outcome" in doc:
                o = Outcome(**doc["outcome"])
                if o.final:
                    with self._lock:
                        key = (o.target, o.seq, o.topic)
                        left = self._pending.get(key, 1) - 1
                        if left > 0:
                            self._pending[key] = left
                        else:
                            self._pending.pop(key, None)
                self.report(o)
        proc.wait()
        with self._lock:
            lost, self._pending = self._pending, {}
        for (target, seq, topic), n in lost.items():
            for _ in range(n):
                self.report(Outcome(target, seq, topic, False, 0, 0.0,
                                    f"the delivery process ended (exit {proc.returncode}) before sending it", True))

    def pending(self) -> dict[tuple[str, int, str], int]:
        """(target, seq, topic) -> messages handed over and not finished (sent, or failed for good)."""
        with self._lock:
            return dict(self._pending)

    def wait_loaded(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def submit(self, target: Target, message: Message) -> None:
        import json
        from dataclasses import asdict

        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            key = (target.name, message.seq, message.topic)
            self._pending[key] = self._pending.get(key, 0) + 1
            try:
                self._proc.stdin.write(json.dumps({"target": target.name, "message": asdict(message)}) + "\n")
                self._proc.stdin.flush()
            except OSError:
                self._pending[key] -= 1
                self.report(Outcome(target.name, message.seq, message.topic, False, 0, 0.0,
                                    "the delivery process is gone; it is started again for the next message", True))

    def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            proc.stdin.close()  # the worker ends when its input does
        except OSError:
            pass
        try:
            proc.wait(2)
        except Exception:  # noqa: BLE001 - a send still hanging: it does not hold the console up
            proc.kill()
