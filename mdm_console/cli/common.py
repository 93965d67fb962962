"""What every subcommand shares: global options, plan loading, opening the engine, exit codes."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mdm_console.exits import EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_USAGE, CliExit  # noqa: F401 (re-exported)
from mdm_console.textsafe import visible

if TYPE_CHECKING:
    from mdm_console.plan.load import LoadedPlan

T = TypeVar("T")


def global_options() -> argparse.ArgumentParser:
    """--plan/--db/--operator, accepted before or after the subcommand's name."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("session")
    g.add_argument("--plan", metavar="P", default=argparse.SUPPRESS,
                   help="plan file (default: ./mdm-plan.toml, else the built-in demo)")
    g.add_argument("--db", metavar="D", default=argparse.SUPPRESS,
                   help="session database (default: the plan's cutover.session_db)")
    g.add_argument("--operator", metavar="NAME", default=argparse.SUPPRESS,
                   help="your name in the log (default: $MDM_OPERATOR, else the OS user)")
    g.add_argument("--timeout", metavar="S", type=float, default=argparse.SUPPRESS,
                   help="seconds to wait for the session's owner (a console or `serve`) to answer (default 15); "
                        "a request that reaches it later is not carried out")
    g.add_argument("--remove-component", metavar="C", action="append", default=argparse.SUPPRESS,
                   help="confirm that C, which the plan no longer has but the log rolled out, is removed "
                        "(a rollback point is taken and the removal recorded)")
    return p


def load(args: argparse.Namespace) -> LoadedPlan:
    """Find and load the plan; a plan error ends the command with exit 2 before anything is written."""
    # Imported here: pydantic and the models are the first heavy import, and the console paints first.
    from mdm_console.plan.load import PlanError, find_plan, load_plan

    explicit = getattr(args, "plan", None)
    path, is_demo = find_plan(explicit)
    try:
        if is_demo:
            from mdm_console.plan.demo_setup import prepare_demo, source_plan

            # Validate the packaged plan before anything is copied or created.
            load_plan(source_plan(), is_demo=True)
            path = prepare_demo()
        loaded = load_plan(path, is_demo=is_demo)
    except PlanError as exc:
        raise CliExit(EXIT_USAGE, str(exc)) from None
    # The plan and the modules live as long as the command: out of every later collection, which otherwise
    # scanned them again each time (a 4 000-item plan: docs/investigations.md, the collector in a command).
    gc.freeze()
    return loaded


def db_path(args: argparse.Namespace) -> Path | None:
    db = getattr(args, "db", None)
    return Path(db).expanduser() if db else None


def run_async(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())


class VisibleStream:
    """A text stream that writes control characters (ESC, BEL, ...) as visible escapes such as `\\x1b`."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(visible(text))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def err(message: str) -> None:
    print(message, file=sys.stderr)


async def open_engine(args: argparse.Namespace, loaded: LoadedPlan, *, read_only: bool = False,
                      record_start: str | None = None, say: Callable[[str], None] | None = err):
    """Open the engine or end the command: exit 3 when another process holds the db.

    `say` gets the start-up notes (None: the caller shows them itself, as the console's banner does)."""
    from mdm_console.engine.core import DroppedComponents, Engine
    from mdm_console.fsguard import foreign_file
    from mdm_console.plan.load import PlanError, check_paths
    from mdm_console.store.errors import NotOurs, StoreError, StoreLocked, UnsafePath

    if not read_only and not loaded.is_demo:
        # This process will run what the plan names (validators' commands and modules) and write the flags:
        # the plan must be ours or root's and nobody else's to change (a client of an owner checks nothing here).
        why = foreign_file(loaded.path)
        if why:
            raise CliExit(EXIT_USAGE, f"refusing to run the plan: {why}")
    try:
        if db_path(args) is not None:
            check_paths(loaded, db_path(args).absolute())
        engine = await Engine.open(loaded, db=db_path(args), operator=getattr(args, "operator", None),
                                   read_only=read_only, record_start=record_start,
                                   remove_components=tuple(getattr(args, "remove_component", ()) or ()))
    except StoreLocked as exc:
        raise CliExit(EXIT_LOCKED, str(exc)) from None
    except DroppedComponents as exc:
        raise CliExit(EXIT_USAGE, f"{loaded.path}: components: {exc}") from None
    except (NotOurs, PlanError, UnsafePath) as exc:
        raise CliExit(EXIT_USAGE, str(exc)) from None
    except StoreError as exc:
        raise CliExit(EXIT_FAILED, str(exc)) from None
    if not engine.read_only:
        # The console owns the flag file from the session's start (never replacing someone else's).
        drift = await engine.rollout.ensure_flag_file()
        if drift.drifted and say:
            say(f"warning: {drift.detail}")
    if say is None:
        return engine
    for note in engine.report.notes:
        say(f"note: {note}")
    if engine.report.plan_changed:
        old, new = engine.report.plan_changed
        say(f"note: the plan changed since the last session (sha256 {old[:12]}… -> {new[:12]}…)")
    return engine


def timeout_of(args: argparse.Namespace) -> float:
    from mdm_console.client.remote import DEFAULT_TIMEOUT

    t = getattr(args, "timeout", None)
    if t is not None and t <= 0:
        raise CliExit(EXIT_USAGE, "--timeout must be more than 0 seconds")
    return t or DEFAULT_TIMEOUT


async def connect_owner(args: argparse.Namespace, db: Path):
    """A client of the process that owns `db` (a console or `serve`), or None when nothing serves it (no socket, a
    stale one, or one its owner could not have made: said as a warning). One that accepts but does not answer,
    or refuses us, ends the command saying so."""
    from mdm_console.api import paths
    from mdm_console.client.remote import NoService, ServiceClient

    if paths.locate(db) is None:
        return None  # aiohttp is imported only when there is a socket to talk to
    try:
        return await ServiceClient.connect(db, operator=operator_name(args), timeout=timeout_of(args))
    except NoService as exc:
        if exc.denied:
            raise CliExit(EXIT_FAILED, f"the session {db} is served by another process, but {exc.reason}; "
                          "ask its owner for access (the plan's [access] group)") from None
        if exc.unresponsive:
            raise CliExit(EXIT_FAILED, f"the session {db} has an owner, but {exc.reason}; nothing was done") from None
        if exc.untrusted:  # never the owner: the db itself says who holds it (opened here, or exit 3 naming it)
            err(f"warning: {exc.reason}")
        return None  # a stale socket: whoever holds the db lock (if anyone) is found by opening it


async def wait_for_socket(db: Path, seconds: float = 3.0) -> bool:
    from mdm_console.api import paths

    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        if paths.locate(db) is not None:
            return True
        await asyncio.sleep(0.1)
    return False


def operator_name(args: argparse.Namespace) -> str | None:
    return getattr(args, "operator", None) or os.environ.get("MDM_OPERATOR") or None


async def run_op(args: argparse.Namespace, loaded: LoadedPlan, name: str, req, *, on_progress=None):
    """Run one operation (`api.ops`): through the socket of the service or console that owns the session when
    one does (as the OS user the kernel names for us), else in this process on the session opened here.
    A refusal or failure ends the command with its exit code and message."""
    from mdm_console.api.ops import OPS

    async with operations(args, loaded, writes=OPS[name].writes(req)) as call:
        return await call(name, req, on_progress)


@asynccontextmanager
async def operations(args: argparse.Namespace, loaded: LoadedPlan, *, writes: bool):
    """Several operations on one session (`call(name, req, on_progress=None)`): through the owner's socket when
    one holds it, else on one engine opened here (read-only unless `writes`) for all of them."""
    from mdm_console.api.ops import OPS, OpFailed, require_writable

    db = (db_path(args) or loaded.session_db).absolute()
    operator = operator_name(args)
    client = await connect_owner(args, db)
    if client is None:
        try:
            engine = await open_engine(args, loaded, read_only=not writes)
        except CliExit as exc:
            # Held by an owner whose socket is gone this moment (deleted; it makes a new one): ask it instead.
            if exc.code != EXIT_LOCKED:
                raise
            if not await wait_for_socket(db) or (client := await connect_owner(args, db)) is None:
                raise CliExit(EXIT_LOCKED, f"{exc.message}. If it is an mdm-console owner, its socket is gone and "
                              "did not come back within 3 s: it is not answering; restart it") from None
    if client is not None:
        async def remote(name: str, req, on_progress=None):
            try:
                return await client.call(name, req.model_copy(update={"operator": operator}), on_progress)
            except OpFailed as exc:
                raise CliExit(exc.code, exc.message) from None

        async with client:
            yield remote
        return

    async def local(name: str, req, on_progress=None):
        op = OPS[name]
        try:
            if op.writes(req):
                require_writable(engine)  # api.ops': OpFailed, turned into the exit code below
            if op.health and engine.plan.metrics.source != "none":
                # Nobody runs the feeds: read them up to now first, so the gates judge on live data or say why not.
                from mdm_console.engine.live import LiveMonitor

                await LiveMonitor(engine, system=False).catch_up()
            return await op.fn(engine, req.model_copy(update={"operator": operator}), on_progress)
        except OpFailed as exc:
            raise CliExit(exc.code, exc.message) from None

    notifier, stop = None, asyncio.Event()
    if writes and engine.plan.notify and not engine.read_only:
        # Nobody else runs the plan's [[notify]] targets: this command delivers what it records before it exits.
        from mdm_console.notify import Notifier

        notifier = Notifier(engine)
        follow = asyncio.create_task(notifier.run(stop, announce=False))
        await notifier.subscribed.wait()
    try:
        yield local
    finally:
        if notifier is not None:
            stop.set()
            await follow
            await notifier.drain()
            notifier.close()
        await engine.close()

