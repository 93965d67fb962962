"""`flags`: the flag file on disk gives each component the percentage the log recorded."""

from __future__ import annotations


from mdm_console.flags.flagfile import FlagFileError, effective_percent, read_flags
from mdm_console.plan.validator_params import FlagsParams
from mdm_console.validators.base import Context, Outcome, failed, passed
from mdm_console import pools


def _compare(ctx: Context) -> Outcome:
    try:
        flags = read_flags(ctx.flag_file)
    except FlagFileError as exc:
        return failed(str(exc))
    bad, ok = [], []
    for key, (component, stage, percent) in ctx.recorded.items():
        flag = flags.get(key)
        have = effective_percent(flag) if flag else None
        if flag is None:
            bad.append(f"{key} ({component}) is missing")
        elif have is None:
            bad.append(f"{key} ({component}) is not an on/off flag written by the console")
        elif abs(have - percent) > 1e-9:
            bad.append(f"{key} ({component}) gives {have:g} %, recorded {stage} {percent:g} %")
        else:
            ok.append(f"{component} {percent:g} %")
    if bad:
        return failed("; ".join(bad), mismatched=len(bad), matched=len(ok))
    return passed(f"{len(ok)} flag(s) match the recorded stages: " + ", ".join(ok), matched=len(ok))


async def check(p: FlagsParams, ctx: Context) -> Outcome:
    return await pools.VALIDATORS.run(_compare, ctx)
