"""`command`: argv without a shell (or an explicit `shell` string); exit code and stdout regex."""

from __future__ import annotations

import re

from mdm_console.plan.validator_params import CommandParams
from mdm_console.validators import proc
from mdm_console.validators.base import Context, Outcome, error


async def check(p: CommandParams, ctx: Context) -> Outcome:
    cwd = str(ctx.path(p.cwd)) if p.cwd else str(ctx.base_dir)
    try:
        r = await proc.run(p.argv, shell=p.shell, cwd=cwd, env=p.env, timeout=ctx.timeout)
    except FileNotFoundError as exc:
        what = p.argv[0] if p.argv else "the shell"
        return error(f"command not found: {what}" if exc.filename in (None, what) else f"not found: {exc.filename}")
    except PermissionError:
        return error(f"not executable: {p.argv[0] if p.argv else 'shell'}")
    except NotADirectoryError:
        return error(f"cwd is not a directory: {cwd}")
    if r.timed_out:
        return Outcome("timeout", f"no exit within {ctx.timeout:g} s; it and every process it started were killed", {}, r.output)
    measured = {"exit_code": r.exit_code, "output_bytes_dropped": r.truncated_bytes}
    if r.exit_code != p.expect_exit:
        return Outcome("failed", f"exit code {r.exit_code} (expected {p.expect_exit})", measured, r.output)
    if p.expect_stdout_regex:
        try:
            found = re.search(p.expect_stdout_regex, r.output, re.M)
        except re.error as exc:
            return error(f"bad expect_stdout_regex: {exc}")
        if not found:
            return Outcome("failed", f"output does not match /{p.expect_stdout_regex}/", measured, r.output)
        measured["match"] = found.group(0)[:200]
    return Outcome("passed", f"exit code {r.exit_code} as expected"
                   + (f", output matches /{p.expect_stdout_regex}/" if p.expect_stdout_regex else ""),
                   measured, r.output)
