"""The socket client: aiohttp over the Unix socket beside the session db (the same library as the server)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from mdm_console.api import models as m, paths
from mdm_console.api.ops import OPS, OpFailed
from mdm_console.exits import EXIT_FAILED

BASE = "http://mdm-console"  # the host is ignored on a Unix socket; it names the service in errors
DEFAULT_TIMEOUT = 15.0  # seconds a client waits for the owner's answer (CLI: --timeout)
EXPORT_WAIT_S = 600.0  # an export's answer comes once the owner has written it all


class NoService(Exception):
    """Nobody serves this session's socket (missing, stale, or we may not connect: `reason` says). `unresponsive`:
    something accepts on it but does not answer (a stopped or overloaded owner)."""

    def __init__(self, reason: str, denied: bool = False, unresponsive: bool = False, untrusted: bool = False):
        super().__init__(reason)
        self.reason, self.denied, self.unresponsive, self.untrusted = reason, denied, unresponsive, untrusted


def pid_alive(pid: int) -> bool:
    """The process runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except OSError:
        pass  # no /proc: ask the kernel
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's, and there
    return True


def ended(pid: int, within: float = 1.0) -> bool:
    """The process is gone, or goes within `within` s (a connection reset comes while a killed process exits)."""
    end = time.monotonic() + within
    while pid_alive(pid):
        if time.monotonic() >= end:
            return False
        time.sleep(0.05)
    return True


class ServiceClient:
    def __init__(self, socket_path: Path, *, operator: str | None = None, timeout: float = DEFAULT_TIMEOUT):
        self.socket_path = socket_path
        self.operator = operator
        self.timeout = timeout
        # No answer within `timeout` (between two reads: a streamed validate sends a keep-alive line while it runs)
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(5.0, timeout), sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None
        self.hello: m.Hello | None = None

    @classmethod
    async def connect(cls, db: Path, *, operator: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> ServiceClient:
        """The service that owns `db`, or NoService."""
        sock = paths.locate(db)
        if sock is None:
            raise NoService(f"no socket for {db}")
        problem = await asyncio.to_thread(paths.trust_problem, sock, db)
        if problem:  # nothing is sent to it: not the operator's name, not a request
            raise NoService(f"refusing to talk to {sock}: {problem}", untrusted=True)
        client = cls(sock, operator=operator, timeout=timeout)
        try:
            client.hello = await client._get(m.Hello, "/v1/hello")
        except PermissionError as exc:
            await client.close()
            raise NoService(f"the socket {sock} does not let you connect ({exc.strerror or exc})", denied=True) \
                from None
        except TimeoutError:
            await client.close()
            raise NoService(f"something accepts on {sock} but has not answered for {timeout:g} s (a stopped or "
                            "overloaded owner)", unresponsive=True) from None
        except (aiohttp.ClientError, OSError) as exc:
            await client.close()
            raise NoService(f"nobody answers on {sock} ({_words(exc)})") from None
        except OpFailed as exc:  # it answered, and said no (too many connections)
            await client.close()
            raise NoService(f"the owner on {sock} refused: {exc.message}", unresponsive=True) from None
        return client

    @property
    def owner(self) -> str:
        h = self.hello
        return f"{h.mode} PID {h.pid}, OS user {h.os_user}" if h is not None else str(self.socket_path)

    async def plain(self, exc: BaseException, what: str = "it") -> OpFailed:
        """A library's exception in words a person can act on (never the raw aiohttp text)."""
        if isinstance(exc, TimeoutError):
            return OpFailed(EXIT_FAILED, f"the session's owner ({self.owner}) has not answered for {self.timeout:g} s; "
                            f"if it had not read {what} by then it will never carry it out (its deadline has passed); "
                            "`mdm-console log` shows what it did. The owner may be stopped or overloaded: check it "
                            "(or give it longer with --timeout)")
        h = self.hello
        if h is not None and await asyncio.to_thread(ended, h.pid):
            return OpFailed(EXIT_FAILED, f"the session's owner ({self.owner}) ended unexpectedly before {what} was "
                            f"answered; it must be restarted by OS user {h.os_user} (`mdm-console serve`). Whether "
                            "it was carried out shows in `mdm-console log` once it runs again")
        return OpFailed(EXIT_FAILED, f"the session's owner ({self.owner}) closed the connection before {what} was "
                        f"answered ({_words(exc)}); look at `mdm-console status` before trying again")

    async def __aenter__(self) -> ServiceClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(self.socket_path)),
                                                  timeout=self._timeout)
        return self._session

    async def _get(self, model: type[m.Body], path: str) -> Any:
        try:
            async with self._http().get(BASE + path) as resp:
                return _answer(model, resp.status, await resp.read())
        except aiohttp.ClientConnectorError as exc:
            raise (exc.os_error if isinstance(exc.os_error, PermissionError) else exc) from None

    async def call(self, name: str, req: m.Request, on_progress: Callable[[dict[str, Any]], Awaitable[None] | None]
                   | None = None) -> m.Body:
        """Run operation `name` on the owner; its refusal or failure is an OpFailed with the CLI's exit code."""
        if req.operator is None and self.operator is not None:
            req = req.model_copy(update={"operator": self.operator})
        # Not carried out if it reaches the owner after this: a stopped owner that resumes acts on nothing stale.
        req = req.model_copy(update={"deadline": time.time() + self.timeout})
        try:
            return await self.send(name, req, on_progress)
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            raise await self.plain(exc, f"the request '{name}'") from None

    async def send(self, name: str, req: m.Request, on_progress=None) -> m.Body:
        """The request exactly as given (`call` adds the operator and the deadline); library errors unworded."""
        op = OPS[name]
        async with self._http().post(f"{BASE}/v1/ops/{name}", data=req.model_dump_json(),
                                     headers={"Content-Type": "application/json"}) as resp:
            if not op.streams or resp.status != 200:
                return _answer(op.response, resp.status, await resp.read())
            async for raw in resp.content:
                line = json.loads(raw)
                if "alive" in line:
                    continue  # the owner is working on it
                if "progress" in line:
                    if on_progress is not None:
                        r = on_progress(line["progress"])
                        if r is not None:
                            await r
                elif "error" in line:
                    raise OpFailed(line["error"]["code"], line["error"]["message"])
                else:
                    return op.response.model_validate(line["result"])
        raise OpFailed(EXIT_FAILED, f"{name}: the service closed the answer before its end")

    async def events(self, after: int = 0, *, health: bool = False) -> AsyncIterator[m.StreamLine]:
        """Every event after `after`, then live ones (and health snapshots with `health`), until the service ends."""
        url = f"{BASE}/v1/events?after={after}" + ("&health=1" if health else "")
        if self.operator:
            url += "&operator=" + aiohttp.helpers.quote(self.operator, safe="")
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=30)
        async with self._http().get(url, timeout=timeout) as resp:
            if resp.status != 200:
                _answer(m.ErrorBody, resp.status, await resp.read())
            async for raw in resp.content:
                yield m.StreamLine.model_validate_json(raw)

    async def export(self, req: m.ExportRequest) -> m.ExportResponse:
        # The owner writes the whole export before it answers (millions of events take a while): a longer wait.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout.sock_connect,
                                        sock_read=max(self.timeout, EXPORT_WAIT_S))
        async with self._http().post(f"{BASE}/v1/export", data=req.model_dump_json(), timeout=timeout,
                                     headers={"Content-Type": "application/json"}) as resp:
            answer = _answer(m.ExportResponse, resp.status, await resp.read())
        return answer

    async def export_file(self, ticket: str, index: int, sink: Callable[[bytes], None]) -> None:
        async with self._http().get(f"{BASE}/v1/export/{ticket}/{index}") as resp:
            if resp.status != 200:
                _answer(m.ErrorBody, resp.status, await resp.read())
            async for chunk in resp.content.iter_chunked(1 << 20):
                sink(chunk)


def _words(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _answer(model: type[m.Body], status: int, body: bytes) -> Any:
    if status == 200:
        return model.model_validate_json(body)
    try:
        err = m.ErrorBody.model_validate_json(body)
    except ValueError:
        raise OpFailed(EXIT_FAILED, f"the service answered {status}: {body[:200]!r}") from None
    raise OpFailed(err.code, err.message)


async def export_to(client: ServiceClient, fmt: str, output: Path, *, since: int = 0, force: bool = False):
    """The owner writes the export on its side; its files come over the socket and are written here with the same
    care as a local export (never replacing a file without `force`, never a partial file)."""
    from mdm_console.export import data
    from mdm_console.export.files import ExportError, atomic_targets, check_target
    from mdm_console.export.run import ExportResult

    path = check_target(Path(output), force)
    targets = [path] + ([check_target(data.metrics_path(path), force)] if fmt in ("csv", "parquet") else [])
    try:
        answer = await client.export(m.ExportRequest(format=fmt, since=since))
        if len(answer.files) != len(targets):
            raise ExportError(f"the service sent {len(answer.files)} file(s) for a {fmt} export, not {len(targets)}")
        with atomic_targets(targets) as tmps:  # a file cut short by a lost owner is never left in place
            for info, tmp in zip(answer.files, tmps, strict=True):
                with open(tmp, "wb") as fh:
                    await client.export_file(answer.ticket, info["index"], fh.write)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise await client.plain(exc, "the export") from None
    return ExportResult(path, answer.events, targets[1:], answer.chain_ok)
