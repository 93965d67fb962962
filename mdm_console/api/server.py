"""The session's API server: aiohttp, HTTP/1.1 over the Unix socket beside the session db.

Routes (bodies are the models of `api.models`; /v1/schema describes them all):
  GET  /v1/hello                  who owns the session, and who you are as the kernel says
  GET  /v1/schema                 the API's schema document
  POST /v1/ops/{name}             one operation (`api.ops.OPS`); validate answers in JSON Lines, a line per result
  GET  /v1/events?after=SEQ       JSON Lines: every event after SEQ, then live ones; `health=1` adds a health
                                  snapshot at most once a second; a keep-alive line every 5 s
  GET  /v1/export/{ticket}/{i}    the bytes of a file an export op wrote (once; then it is removed)

Every request is served as its caller: the OS user SO_PEERCRED names, with the operator name it typed beside it.
A request the plan's `[access]` refuses is answered 403 with the reason and recorded (`access.refused`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from mdm_console import __version__
from mdm_console.api import access, models as m, paths
from mdm_console.api.ops import OPS, OpFailed, refusals, require_writable
from mdm_console.api.peer import Peer, peer_of
from mdm_console.exits import EXIT_FAILED, EXIT_USAGE

KEEPALIVE_S = 5.0
HEALTH_EVERY_S = 1.0
EXPORT_TTL_S = 600.0
MAX_BODY = 1 << 20
STREAM_BACKLOG = 10_000  # events a stream's reader may fall behind before it is dropped (it resumes by seq)
REFUSAL_EVERY_S = 60.0  # at most one access.refused event per caller and action this often
MAX_STREAMS = 64  # event streams open at once; more are refused (503) so the descriptors stay the safety net's

Log = Callable[..., None]


def _json(model: m.Body, status: int = 200) -> web.Response:
    return web.Response(text=model.model_dump_json(), status=status, content_type="application/json")


def _error(code: int, message: str, status: int) -> web.Response:
    return _json(m.ErrorBody(code=code, message=message), status)


class ApiServer:
    def __init__(self, engine, monitor=None, *, mode: str = "serve", log: Log | None = None):
        self.engine = engine
        self.monitor = monitor
        self.mode = mode
        self.log: Log = log or (lambda *a, **k: None)
        self.socket_path: Path | None = None
        self.pointer: Path | None = None
        self._runner: web.AppRunner | None = None
        self._streams: set[web.StreamResponse] = set()
        self._closing = asyncio.Event()
        self._exports: dict[str, tuple[Path, list[Path], float]] = {}
        self.requests = 0
        self.owner_uid = os.geteuid()  # may do everything: it could open the session db itself
        self._health: tuple[float, dict[str, Any]] | None = None  # (when, snapshot): shared by every stream
        self._bound: tuple[int, int] | None = None  # (dev, inode) of the socket file we made
        self._sites: list[web.SockSite] = []
        self._made_dirs: list[Path] = []  # private runtime directories made beside a squatted one
        self.max_connections = connection_budget()
        # Streams never take more than half the connections: a person's request always finds room.
        self.max_streams = max(1, min(MAX_STREAMS, self.max_connections // 2))
        self.stream_backlog = STREAM_BACKLOG
        self._refusals_said: dict[str, float] = {}  # what -> when a refusal of it was last logged
        self._refusals: dict[tuple[int, str], tuple[float, int]] = {}  # (uid, action) -> (last recorded, since)
        self.refusal_every = REFUSAL_EVERY_S
        self._watch: asyncio.Task | None = None
        self.socket_problem: str | None = None  # why the socket could not be put back, while it cannot

    # ---- lifecycle -----------------------------------------------------------------------------------------
    @web.middleware
    async def _cap(self, request: web.Request, handler):
        """Past `max_connections` open connections a request is answered 503 and its connection closed: the
        descriptors left are the feeds', the flag file's and the store's."""
        server = self._runner.server if self._runner is not None else None
        open_now = len(server.connections) if server is not None else 0
        if open_now > self.max_connections:
            self._say_refused("connections", f"{open_now} connections are open (at most {self.max_connections})")
            resp = _error(EXIT_FAILED, f"refused: {open_now} connections are open, the most this owner serves; "
                          "try again later", 503)
            resp.force_close()
            return resp
        return await handler(request)

    async def start(self) -> Path:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._cap])
        app.add_routes([
            web.get("/v1/hello", self.hello),
            web.get("/v1/schema", self.schema),
            web.post("/v1/ops/{name}", self.op),
            web.get("/v1/events", self.events),
            web.get("/v1/export/{ticket}/{index}", self.export_file),
            web.post("/v1/export", self.export),
        ])
        # An idle kept-alive connection is closed after 5 s (aiohttp's default is 75): idle clients do not hold
        # the connections the cap counts.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0,
                                     keepalive_timeout=5.0)
        await self._runner.setup()
        sock = await asyncio.to_thread(self._bind)
        site = web.SockSite(self._runner, sock)
        await site.start()
        self._sites.append(site)
        self.log("info", "listening", socket=str(self.socket_path), pid=os.getpid(), mode=self.mode)
        self._watch = asyncio.create_task(self._keep_socket())
        return self.socket_path

    def _socket_is_ours(self) -> bool:
        try:
            st = self.socket_path.lstat()
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._bound

    async def _keep_socket(self, every: float = 0.5) -> None:
        """A socket file deleted (a cleanup of /tmp, a hand) or replaced under us: made again at once, said once.
        Without it every client would find no owner while we still hold the session."""
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), every)
            if self._closing.is_set() or await asyncio.to_thread(self._socket_is_ours):
                continue
            try:
                sock = await asyncio.to_thread(self._bind)
                site = web.SockSite(self._runner, sock)
                await site.start()
            except Exception as exc:  # noqa: BLE001 - said once per cause, tried again
                problem = f"{type(exc).__name__}: {exc}"
                if problem != self.socket_problem:
                    self.log("error", "socket lost", socket=str(self.socket_path), error=problem,
                             refused="every client (consoles and CLI commands) until it is back")
                self.socket_problem = problem
                continue
            old, self._sites = self._sites, [site]
            for s in old:
                with contextlib.suppress(Exception):
                    await s.stop()
            self.log("warning", "socket made again", socket=str(self.socket_path),
                     why="the socket file was deleted or replaced" if self.socket_problem is None else
                     f"it could not be made before: {self.socket_problem}")
            self.socket_problem = None

    def _bind(self) -> socket.socket:
        """Bind under a temporary name, set its mode (and group) and only then rename it into place: no moment
        where the socket is open to more than it should be."""
        db = self.engine.store.path
        target, pointer = paths.choose(db)
        acc = self.engine.plan.access
        group = acc.group if acc is not None else None
        if pointer is not None:
            try:
                paths.prepare_runtime_dir(target, shared=group is not None)
            except OSError as exc:  # someone made it first: named, and a fresh one of ours is used instead
                target = paths.private_runtime_dir(target, shared=group is not None)
                self._made_dirs.append(target.parent)
                self.log("warning", "runtime directory not ours", refused=str(exc), using=str(target.parent))
        self._clear_stale(target)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
        if not paths.fits(tmp):
            tmp = target  # no room for a temporary name: bound in place (umask 022 already shuts out others)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(tmp))
            if group is not None:
                import grp

                os.chown(tmp, -1, grp.getgrnam(group).gr_gid)
                os.chmod(tmp, 0o660)
            else:
                os.chmod(tmp, 0o600)
            if tmp != target:
                os.rename(tmp, target)
            st = os.lstat(target)
            self._bound = (st.st_dev, st.st_ino)
            sock.listen(128)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self.socket_path = target
        if pointer is not None:
            from mdm_console.flags.flagfile import write_atomic

            write_atomic(pointer, (str(target) + "\n").encode(), 0o644)
            self.pointer = pointer
        return sock

    @staticmethod
    def _clear_stale(target: Path) -> None:
        """We hold the session db's lock, so a socket already at our path is a dead owner's: removed. Anything
        that is not a socket is someone else's: refused."""
        try:
            st = target.lstat()
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise OSError(f"{target} exists and is not a socket; refusing to replace it")
        if st.st_uid != os.geteuid():
            raise OSError(f"{target} is a socket of uid {st.st_uid}, not ours; refusing to replace it")
        os.unlink(target)

    async def stop(self) -> None:
        self._closing.set()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch
        for resp in list(self._streams):
            with contextlib.suppress(Exception):
                await resp.write_eof()
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await self._runner.cleanup()
        if self.socket_path is not None and self._socket_is_ours():  # never someone else's file at our path
            with contextlib.suppress(OSError):
                os.unlink(self.socket_path)
        if self.pointer is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.pointer)
        for d in self._made_dirs:
            with contextlib.suppress(OSError):
                d.rmdir()
        for ticket in list(self._exports):
            self._drop_export(ticket)
        self.log("info", "socket closed", requests=self.requests)

    # ---- identity and access -------------------------------------------------------------------------------
    def peer(self, request: web.Request) -> Peer:
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is None:
            raise web.HTTPBadRequest(text="no socket")
        return peer_of(sock)

    def actor(self, peer: Peer, operator: str | None):
        from mdm_console.store.chain import Actor
        from mdm_console.textsafe import visible

        name = " ".join((operator or "").split())[:200] or peer.user
        return Actor(operator=visible(name, one_line=True) if name != peer.user else name, os_user=peer.user,
                     host=self.engine.store.actor.host)

    async def refused(self, peer: Peer, operator: str | None, action: str, reason: str) -> web.Response:
        """Answered 403 with the reason; recorded once per caller and action a minute (a flood of refusals is one
        event saying how many, not a full session log)."""
        now, key = time.monotonic(), (peer.uid, action)
        last, held = self._refusals.get(key, (-self.refusal_every, 0))
        if now - last < self.refusal_every:
            self._refusals[key] = (last, held + 1)
            return _error(EXIT_FAILED, f"refused: {reason}", 403)
        self._refusals[key] = (now, 0)
        self.log("warning", "refused", user=peer.user, uid=peer.uid, pid=peer.pid, action=action, reason=reason,
                 refused_since=held)
        if not self.engine.read_only:
            with contextlib.suppress(Exception), self.engine.acting(self.actor(peer, operator)):
                await self.engine.record("access.refused", None, {
                    "action": action, "uid": peer.uid, "pid": peer.pid, "reason": reason, "refused_since": held})
        return _error(EXIT_FAILED, f"refused: {reason}", 403)

    def _refusal(self, peer: Peer, capability: str) -> str | None:
        if capability.startswith(access.SIGN + ":"):
            return access.refusal(self.engine.plan.access, peer, access.SIGN, capability.split(":", 1)[1],
                                  self.owner_uid)
        return access.refusal(self.engine.plan.access, peer, capability, owner_uid=self.owner_uid)

    # ---- routes --------------------------------------------------------------------------------------------
    def _unreadable(self, peer: Peer, what: str) -> web.Response | None:
        """Someone who may not read the session learns nothing from it (no db path, plan, head or owner): one
        line a minute in the log, nothing recorded (a flood of them must not fill the session log)."""
        reason = self._refusal(peer, access.OBSERVE)
        if reason is None:
            return None
        self._say_refused(f"{what} to non-readers", reason)
        return _error(EXIT_FAILED, f"refused: {reason}", 403)

    async def hello(self, request: web.Request) -> web.Response:
        peer = self.peer(request)
        if (refused := self._unreadable(peer, "hello")) is not None:
            return refused
        e = self.engine
        return _json(m.Hello(
            version=__version__, mode=self.mode, pid=os.getpid(), os_user=e.store.actor.os_user,
            session_db=str(e.store.path), plan_path=str(e.loaded.path), plan_name=e.plan.cutover.name,
            plan_sha256=e.loaded.sha256, demo=e.loaded.is_demo, head_seq=e.state.head_seq,
            you={"uid": peer.uid, "pid": peer.pid, "os_user": peer.user, "groups": sorted(peer.groups),
                 "may": access.may(e.plan.access, peer, self.owner_uid)}))

    async def schema(self, request: web.Request) -> web.Response:
        from mdm_console.api.schema import document

        if (refused := self._unreadable(self.peer(request), "schema")) is not None:
            return refused
        return web.json_response(document())

    async def op(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        t0 = time.perf_counter()
        name = request.match_info["name"]
        op = OPS.get(name)
        if op is None:
            return _error(EXIT_USAGE, f"no operation '{name}' (operations: {', '.join(OPS)})", 404)
        peer = self.peer(request)
        try:
            req = op.request.model_validate_json(await request.read())
        except ValidationError as exc:
            return _error(EXIT_USAGE, f"{name}: bad request: {_first_error(exc)}", 400)
        if req.deadline is not None and time.time() > req.deadline:
            late = time.time() - req.deadline
            self._log_op(name, peer, 408, t0)
            return _error(EXIT_FAILED, f"{name}: the request reached the owner {late:.1f} s after its deadline (the "
                          "client had stopped waiting); nothing was done", 408)
        reason = self._refusal(peer, op.capability(req))
        if reason is not None:
            return await self.refused(peer, req.operator, name, reason)
        if op.writes(req):
            try:
                require_writable(self.engine)
            except OpFailed as exc:
                return _error(exc.code, exc.message, 409)
        actor = self.actor(peer, req.operator)
        if op.streams:
            return await self._streamed(request, op, req, actor, peer, t0)
        try:
            with self.engine.acting(actor):
                result = await op.fn(self.engine, req)
        except OpFailed as exc:
            self._log_op(name, peer, 409, t0)
            return _error(exc.code, exc.message, 409)
        except refusals() as exc:
            self._log_op(name, peer, 409, t0)
            return _error(EXIT_FAILED, str(exc), 409)
        self._log_op(name, peer, 200, t0)
        return _json(result)

    async def _streamed(self, request, op, req, actor, peer, t0) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)

        async def emit(progress: dict[str, Any]) -> None:
            await resp.write((json.dumps({"progress": progress}) + "\n").encode())

        async def alive() -> None:  # the client's read deadline holds between lines, however long a validator runs
            while True:
                await asyncio.sleep(KEEPALIVE_S)
                await resp.write((json.dumps({"alive": time.time()}) + "\n").encode())

        beat = asyncio.create_task(alive())
        try:
            with self.engine.acting(actor):
                result = await op.fn(self.engine, req, emit)
            line = {"result": result.model_dump(mode="json")}
        except OpFailed as exc:
            line = {"error": {"code": exc.code, "message": exc.message}}
        except refusals() as exc:
            line = {"error": {"code": EXIT_FAILED, "message": str(exc)}}
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await beat
        with contextlib.suppress(ConnectionError):
            await resp.write((json.dumps(line) + "\n").encode())
            await resp.write_eof()
        self._log_op(op.name, peer, 200 if "result" in line else 409, t0)
        return resp

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def _say_refused(self, what: str, why: str) -> None:
        """One log line per kind of refusal a minute, however many are refused."""
        now = time.monotonic()
        if now - self._refusals_said.get(what, -60.0) >= 60.0:
            self._refusals_said[what] = now
            self.log("warning", "refusing", what=what, why=why, repeats="said at most once a minute")

    def _log_op(self, name: str, peer: Peer, status: int, t0: float) -> None:
        self.log("info", "request", op=name, user=peer.user, uid=peer.uid, pid=peer.pid, status=status,
                 ms=round((time.perf_counter() - t0) * 1000, 1))

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Every event after `after`, then each new one as it is recorded: a client that reconnects with the last
        seq it saw misses nothing (the subscription starts before the catch-up is read)."""
        peer = self.peer(request)
        reason = self._refusal(peer, access.OBSERVE)
        if reason is not None:
            return await self.refused(peer, request.query.get("operator"), "events", reason)
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return _error(EXIT_USAGE, "after must be a seq number", 400)
        health = request.query.get("health") == "1"
        if len(self._streams) >= self.max_streams:
            self._say_refused("streams", f"{len(self._streams)} event streams are open (at most {self.max_streams})")
            resp = _error(EXIT_FAILED, f"refused: {len(self._streams)} event streams are open, the most this owner "
                          "serves; try again later", 503)
            resp.force_close()  # its connection is not kept either
            return resp
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        self._streams.add(resp)
        self.log("info", "stream opened", user=peer.user, pid=peer.pid, after=after)
        try:
            async with self.engine.subscribe(self.stream_backlog) as queue:
                for ev in await self.engine.events(after):
                    await resp.write(_line(m.StreamLine(event=m.wire_event(ev))))
                    after = ev.seq
                last_health = last_write = 0.0
                while not self._closing.is_set():
                    if queue.dropped and queue.empty():
                        self.log("warning", "stream dropped", user=peer.user, pid=peer.pid, at=after,
                                 why=queue.dropped)
                        await resp.write(_line(m.StreamLine(dropped=queue.dropped)))
                        break
                    now = time.monotonic()
                    if health and now - last_health >= HEALTH_EVERY_S:
                        await resp.write(_line(m.StreamLine(health=self.health_snapshot())))
                        last_health = last_write = now
                    elif now - last_write >= KEEPALIVE_S:
                        await resp.write(_line(m.StreamLine(alive=time.time())))
                        last_write = now
                    wait = HEALTH_EVERY_S if health else KEEPALIVE_S
                    try:
                        ev = await asyncio.wait_for(queue.get(), wait - (time.monotonic() - last_write) % wait)
                    except TimeoutError:
                        continue
                    batch = [ev]
                    while not queue.empty():
                        batch.append(queue.get_nowait())
                    data = b"".join(_line(m.StreamLine(event=m.wire_event(x))) for x in batch if x.seq > after)
                    if data:
                        await resp.write(data)
                        after = batch[-1].seq
                        last_write = time.monotonic()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._streams.discard(resp)
            self.log("info", "stream closed", user=peer.user, pid=peer.pid, at=after)
        return resp

    def health_snapshot(self) -> dict[str, Any]:
        """Shared by every stream (computed at most twice a second, however many consoles follow)."""
        from mdm_console.api.health import snapshot

        now = time.monotonic()
        if self._health is None or now - self._health[0] >= HEALTH_EVERY_S / 2:
            self._health = (now, snapshot(self.engine, self.monitor))
        return self._health[1]

    # ---- export: written by the owner, fetched by the client ------------------------------------------------
    async def export(self, request: web.Request) -> web.Response:
        from mdm_console.export.files import ExportError
        from mdm_console.export.run import export_session

        peer = self.peer(request)
        try:
            req = m.ExportRequest.model_validate_json(await request.read())
        except ValidationError as exc:
            return _error(EXIT_USAGE, f"export: bad request: {_first_error(exc)}", 400)
        reason = self._refusal(peer, access.OBSERVE)
        if reason is not None:
            return await self.refused(peer, req.operator, "export", reason)
        self._expire_exports()
        d = Path(tempfile.mkdtemp(prefix="mdm-export-"))  # 0700, ours
        target = d / f"export.{req.format}"
        try:
            r = await export_session(self.engine, req.format, target, since=req.since)
        except ExportError as exc:
            shutil.rmtree(d, ignore_errors=True)
            return _error(EXIT_FAILED, f"export: {exc}", 409)
        files = [r.path, *r.extra]
        ticket = secrets.token_urlsafe(16)
        self._exports[ticket] = (d, files, time.monotonic())
        infos = []
        for n, f in enumerate(files):
            infos.append({"index": n, "role": "events" if n == 0 else "metrics", "size": f.stat().st_size})
        return _json(m.ExportResponse(ticket=ticket, files=infos, events=r.events, chain_ok=r.chain_ok))

    async def export_file(self, request: web.Request) -> web.StreamResponse:
        ticket = request.match_info["ticket"]
        entry = self._exports.get(ticket)
        try:
            index = int(request.match_info["index"])
            path = entry[1][index] if entry else None
        except (ValueError, IndexError):
            path = None
        if path is None or not path.exists():
            return _error(EXIT_FAILED, "no such export file (fetched already, or expired)", 404)
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await resp.prepare(request)
        with open(path, "rb") as fh:
            while chunk := await asyncio.to_thread(fh.read, 1 << 20):
                await resp.write(chunk)
        await resp.write_eof()
        path.unlink(missing_ok=True)
        if not any(p.exists() for p in entry[1]):
            self._drop_export(ticket)
        return resp

    def _expire_exports(self) -> None:
        now = time.monotonic()
        for ticket, (_, _, at) in list(self._exports.items()):
            if now - at > EXPORT_TTL_S:
                self._drop_export(ticket)

    def _drop_export(self, ticket: str) -> None:
        entry = self._exports.pop(ticket, None)
        if entry:
            shutil.rmtree(entry[0], ignore_errors=True)


RESERVED_FDS = 128  # descriptors kept for the feeds, the flag file, the store, validators and notifications


def connection_budget() -> int:
    """How many client connections this process serves at once: its open-file limit less the reserve."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(8, min(512, soft - RESERVED_FDS)) if soft != resource.RLIM_INFINITY else 512


def raise_descriptor_limit() -> tuple[int, int]:
    """The soft open-file limit up to the hard one (at most 65 536), as long-running servers do; (soft, hard)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and want > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class RateLimitedLog:
    """A logging filter for asyncio's own errors (an accept that fails for want of descriptors is logged with a
    traceback at every attempt): one short line per kind a minute through `log`, never the traceback."""

    def __init__(self, log: Log, every: float = 60.0):
        self.log, self.every = log, every
        self.said: dict[str, tuple[float, int]] = {}

    def filter(self, record) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        what = f"{record.getMessage()[:120]}" + (f": {type(exc).__name__}: {exc}" if exc else "")
        key = what[:200]
        now = time.monotonic()
        last, skipped = self.said.get(key, (-self.every, 0))
        if now - last >= self.every:
            self.said[key] = (now, 0)
            self.log("error", "event loop", what=what, skipped_since_last=skipped)
        else:
            self.said[key] = (last, skipped + 1)
        return False  # never the default handler's traceback


def _line(model: m.StreamLine) -> bytes:
    """One JSON line with only the part that is set (an event keeps its own null fields)."""
    top = {k: v for k, v in model.model_dump(mode="json").items() if v is not None}
    return (json.dumps(top, ensure_ascii=False) + "\n").encode()


def _first_error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(x) for x in e.get("loc", ())) or "body"
    return f"{where}: {e.get('msg', 'invalid')}"
