"""`sql`: a read-only query; expectations on the row count or on a scalar."""

from __future__ import annotations

from dataclasses import replace

from mdm_console.plan.validator_params import SqlParams
from mdm_console.validators.base import Context, Outcome, error, failed, passed
from mdm_console.validators.db import QueryError, query


async def check(p: SqlParams, ctx: Context) -> Outcome:
    outcome = await _check(p, ctx, timing := {})
    ms = timing["query"].ms if "query" in timing else None
    if ms is None:
        return outcome
    return replace(outcome, measured={**outcome.measured, "query_ms": round(ms, 2)}, timed_ms=ms)


async def _check(p: SqlParams, ctx: Context, timing: dict) -> Outcome:
    try:
        cols, rows = await query(p.dsn, p.query, ctx.base_dir, ctx.timeout, timing)
    except QueryError as exc:
        return error(str(exc))
    measured: dict = {"rows": len(rows)}
    checks: list[str] = []
    if p.expect_rows is not None:
        if len(rows) != p.expect_rows:
            return failed(f"{len(rows)} rows (expected {p.expect_rows})", **measured)
        checks.append(f"{len(rows)} rows as expected")
    wants_scalar = any(x is not None for x in (p.expect_scalar, p.expect_scalar_min, p.expect_scalar_max))
    if wants_scalar:
        if not rows or not rows[0]:
            return failed("no rows: expected a scalar", **measured)
        value = rows[0][0]
        measured["scalar"] = value if isinstance(value, int | float | str | bool) or value is None else str(value)
        if p.expect_scalar is not None and value != p.expect_scalar:
            return failed(f"{cols[0]} = {value!r} (expected {p.expect_scalar!r})", **measured)
        try:
            if p.expect_scalar_min is not None and float(value) < p.expect_scalar_min:
                return failed(f"{cols[0]} = {value} (needs >= {p.expect_scalar_min:g})", **measured)
            if p.expect_scalar_max is not None and float(value) > p.expect_scalar_max:
                return failed(f"{cols[0]} = {value} (needs <= {p.expect_scalar_max:g})", **measured)
        except (TypeError, ValueError):
            return failed(f"{cols[0]} = {value!r} is not a number", **measured)
        bounds = []
        if p.expect_scalar is not None:
            bounds.append(f"== {p.expect_scalar!r}")
        if p.expect_scalar_min is not None:
            bounds.append(f">= {p.expect_scalar_min:g}")
        if p.expect_scalar_max is not None:
            bounds.append(f"<= {p.expect_scalar_max:g}")
        checks.append(f"{cols[0]} = {value} ({', '.join(bounds)})")
    return passed("; ".join(checks) or f"query returned {len(rows)} rows", **measured)
