"""The flagd flag-definition file the console owns (DESIGN section 4).

Each component's flag is boolean (`on`/`off`). 0 % and 100 % have no targeting; other
stages use flagd's `fractional` shorthand, "on" listed first so that raising the
percentage only adds users. Bucketing is flagd-core's, never ours: `in_rollout` calls it.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

SCHEMA_URL = "https://flagd.dev/schema/v0/flags.json"
FILE_MODE = 0o644


class FlagFileError(Exception):
    """The flag file could not be read or written; the previous file is left intact."""


def weights(percent: float) -> tuple[int, int]:
    """Integer weights for `fractional`: whole percents as in DESIGN, else hundredths."""
    if float(percent).is_integer():
        return int(percent), 100 - int(percent)
    on = round(percent * 100)
    return on, 10_000 - on


def flag_definition(component: str, stage: str, percent: float, seq: int) -> dict[str, Any]:
    flag: dict[str, Any] = {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "on" if percent >= 100 else "off",
    }
    if 0 < percent < 100:
        on, off = weights(percent)
        flag["targeting"] = {"fractional": [["on", on], ["off", off]]}
    pct: int | float = int(percent) if float(percent).is_integer() else percent
    flag["metadata"] = {"component": component, "stage": stage, "percent": pct, "seq": seq}
    return flag


def render(entries: list[tuple[str, str, str, float, int]]) -> bytes:
    """entries: (flag_key, component, stage, percent, seq) in plan order -> file bytes."""
    doc = {"$schema": SCHEMA_URL,
           "flags": {key: flag_definition(comp, stage, pct, seq) for key, comp, stage, pct, seq in entries}}
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


UNREADABLE = "unreadable: "


def sha256_file(path: Path) -> str | None:
    """sha256 of a file's bytes, None when it does not exist.

    Something there that cannot be read as a file (a directory, no permission, an I/O error) gives
    "unreadable: <reason>", which equals no sha256: every comparison then sees a change, and callers can
    say what is wrong instead of failing."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return UNREADABLE + (exc.strerror or type(exc).__name__)


def write_atomic(path: Path, data: bytes, mode: int = FILE_MODE) -> str:
    """Temp file in the same directory, fsync, rename, fsync the directory. Returns sha256.

    On any failure the temp file is removed and the previous file stays as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise FlagFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise FlagFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    return sha256_bytes(data)


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Remove the temp files a killed write of `path` left (`.<name>.<random>.tmp`, ours by their name and
    owner). Called once the session is ours (the db lock is held), so no write of ours is under way."""
    path = Path(path)
    removed = []
    try:
        entries = list(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    except OSError:
        return removed
    for p in entries:
        try:
            st = p.lstat()
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                p.unlink()
                removed.append(p)
        except OSError:
            continue
    return removed


def read_flags(path: Path) -> dict[str, dict[str, Any]]:
    """The flags of a flag file: {flag_key: definition}. Raises FlagFileError with the reason."""
    try:
        doc = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise FlagFileError(f"{path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise FlagFileError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("flags"), dict):
        raise FlagFileError(f"{path} has no 'flags' object")
    return doc["flags"]


def effective_percent(flag: dict[str, Any]) -> float | None:
    """The share of users a flag definition sends to "on", as flagd would; None if not ours."""
    if flag.get("state") != "ENABLED" or flag.get("variants") != {"on": True, "off": False}:
        return None
    targeting = flag.get("targeting")
    if not targeting:
        return 100.0 if flag.get("defaultVariant") == "on" else 0.0
    frac = targeting.get("fractional") if isinstance(targeting, dict) else None
    if not (isinstance(frac, list) and len(frac) == 2 and all(isinstance(f, list) and len(f) == 2 for f in frac)):
        return None
    w = dict((str(v), n) for v, n in frac)
    if set(w) != {"on", "off"} or not all(isinstance(n, int | float) for n in w.values()):
        return None
    total = w["on"] + w["off"]
    return 100.0 * w["on"] / total if total else None


def in_rollout(flag_key: str, targeting_key: str, percent: float) -> bool:
    """Would this user get "on"? Asks flagd-core's own `fractional`, never a re-implementation."""
    if percent <= 0:
        return False
    if percent >= 100:
        return True
    from openfeature.contrib.tools.flagd.core.targeting.custom_ops import fractional

    on, off = weights(percent)
    data = {"targetingKey": targeting_key, "$flagd": {"flagKey": flag_key}}
    return fractional(data, ["on", on], ["off", off]) == "on"
