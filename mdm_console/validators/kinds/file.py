"""`file`: exists, no looser than a mode, parses as JSON or TOML, has a given sha256."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tomllib

from mdm_console.plan.validator_params import FileParams
from mdm_console.validators.base import Context, Outcome, failed, passed
from mdm_console import pools


def _inspect(p: FileParams, ctx: Context) -> Outcome:
    path = ctx.path(p.path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if p.must_exist:
            return failed(f"{path} does not exist")
        return passed(f"{path} does not exist (allowed)")
    mode = stat.S_IMODE(st.st_mode)
    measured = {"mode": f"{mode:04o}", "bytes": st.st_size}
    parts = [f"exists ({st.st_size} bytes)"]
    if p.max_mode is not None:
        allowed = int(p.max_mode, 8)
        extra = mode & ~allowed
        if extra:
            return failed(f"mode {mode:04o} is looser than {allowed:04o} (extra bits {extra:04o})", **measured)
        parts.append(f"mode {mode:04o} within {allowed:04o}")
    data = path.read_bytes() if (p.parse or p.sha256) else b""
    if p.parse:
        try:
            if p.parse == "json":
                json.loads(data)
            else:
                tomllib.loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            return failed(f"does not parse as {p.parse}: {exc}", **measured)
        parts.append(f"parses as {p.parse}")
    if p.sha256:
        digest = hashlib.sha256(data).hexdigest()
        measured["sha256"] = digest
        if digest != p.sha256.lower():
            return failed(f"sha256 {digest[:16]}… differs from the expected {p.sha256[:16]}…", **measured)
        parts.append("sha256 as expected")
    return passed(", ".join(parts), **measured)


async def check(p: FileParams, ctx: Context) -> Outcome:
    return await pools.VALIDATORS.run(_inspect, p, ctx)
