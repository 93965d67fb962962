"""Loading a plan file into a `LoadedPlan`, with one-line errors.

Every error is `PlanError`, whose str() is `<plan file>: <key path>: <message>`; the CLI
prints it and exits 2 before anything is created.
"""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path

import tomli
from pydantic import ValidationError

from mdm_console import fsguard
from mdm_console.plan.find import PLAN_FILENAME, find_plan  # noqa: F401 (re-exported)
from mdm_console.plan.models import Plan, PlanRefError


class PlanError(Exception):
    def __init__(self, file: Path | str, key_path: str, message: str):
        self.file = str(file)
        self.key_path = key_path
        self.message = message
        super().__init__(f"{self.file}: {key_path}: {message}")


@dataclass(frozen=True)
class LoadedPlan:
    plan: Plan
    path: Path  # the plan file, absolute
    sha256: str  # of the file's bytes, recorded when a session starts
    is_demo: bool = False

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, p: Path | str) -> Path:
        """Paths in a plan are relative to the plan file."""
        p = Path(p).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def flag_file(self) -> Path:
        return self.resolve(self.plan.cutover.flag_file)

    @property
    def session_db(self) -> Path:
        if self.plan.cutover.session_db is not None:
            return self.resolve(self.plan.cutover.session_db)
        return self.base_dir / "session.duckdb"

    @property
    def snapshot_files(self) -> list[Path]:
        return [self.resolve(p) for p in self.plan.cutover.snapshot_files]


def load_plan(path: Path | str, *, is_demo: bool = False) -> LoadedPlan:
    path = Path(path).expanduser().absolute()
    try:
        raw = path.read_bytes()
        st = path.stat()
    except FileNotFoundError:
        raise PlanError(path, "(file)", "no such file") from None
    except OSError as exc:
        raise PlanError(path, "(file)", exc.strerror or str(exc)) from None
    if st.st_mode & stat.S_IWOTH:
        raise PlanError(path, "(file)", f"world-writable (mode {stat.S_IMODE(st.st_mode):04o}); run chmod o-w on it")
    try:
        data = tomli.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PlanError(path, "(file)", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomli.TOMLDecodeError as exc:
        raise PlanError(path, "(toml)", str(exc)) from None
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        key_path, message = _first_error(exc)
        raise PlanError(path, key_path, message) from None
    loaded = LoadedPlan(plan=plan, path=path, sha256=hashlib.sha256(raw).hexdigest(), is_demo=is_demo)
    check_paths(loaded)
    return loaded


def check_paths(loaded: LoadedPlan, db: Path | None = None) -> None:
    """The files a session writes: in directories only root or we can change, and no two the same file.

    Anyone who can write the flag file's directory can swap the file the fleet reads; one path
    named twice (the flag file is the session db, or the plan itself) would destroy one of them.
    """
    db_key = "--db" if db is not None else "cutover.session_db"
    db_path = db if db is not None else loaded.session_db
    for key, path in (("cutover.flag_file", loaded.flag_file), (db_key, db_path)):
        why = fsguard.unsafe_directory(path)
        if why:
            raise PlanError(loaded.path, key, why)
    named = [("the plan file", loaded.path), (db_key, db_path), ("cutover.flag_file", loaded.flag_file)]
    named += [(f"cutover.snapshot_files[{i}]", p) for i, p in enumerate(loaded.snapshot_files)]
    if loaded.plan.metrics.source == "jsonl" and loaded.plan.metrics.path is not None:
        named.append(("metrics.path", loaded.resolve(loaded.plan.metrics.path)))
    clash = fsguard.first_clash(named)
    if clash:
        key, other, path = clash
        raise PlanError(loaded.path, key if key != "the plan file" else other,
                        f"{path} is also {other}: each must be a file of its own")


def _first_error(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors(include_url=False)[0]
    loc = list(err["loc"])
    message = err["msg"]
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, PlanRefError):
        loc += cause.path.split(".")
        message = cause.message
    elif message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    return format_key_path(loc) or "(top level)", message


def format_key_path(loc: list) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
            out += f"[{part}]"
        elif isinstance(part, str) and "[" in part:
            out += ("." if out else "") + part  # already formatted by PlanRefError
        else:
            out += ("." if out else "") + str(part)
    return out
