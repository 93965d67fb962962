"""`compare`: shadow mode. The same figures from V1 and V2, joined on key columns; each
numeric column's relative variance against its tolerance ("par30 0.45 %")."""

from __future__ import annotations

import asyncio

from mdm_console import pools
from mdm_console.plan.validator_params import CompareParams
from mdm_console.validators.base import Context, Outcome, error, failed, passed
from mdm_console.validators.db import QueryError, query

MAX_KEYS_SHOWN = 10


def _show(key: tuple) -> str:
    return str(key[0]) if len(key) == 1 else "(" + ", ".join(map(str, key)) + ")"


def _keys_of(frame, keys: list[str]) -> list[tuple]:
    return list(frame[keys].itertuples(index=False, name=None))


def _first_shown(frame, keys: list[str]) -> list[str]:
    """The first MAX_KEYS_SHOWN keys of `frame`, in the order of their text (the rest are only counted)."""
    return [_show(k) for k in sorted(_keys_of(frame, keys), key=str)[:MAX_KEYS_SHOWN]]


def _numbers(s):
    """A column as floats, NaN where a value is not a number (DECIMAL values arrive as Decimal objects)."""
    import pandas as pd

    try:
        return s.astype(float)  # numbers, Decimals and None: one C loop
    except (TypeError, ValueError):
        return pd.to_numeric(s, errors="coerce").astype(float)  # text among them: value by value


def _variances(a, b):
    """Relative variance |b - a| / |a| per row, vectorised: 0 where equal (both null included), inf where a is 0
    and b is not, or where either side is not a number (and they differ)."""
    import numpy as np

    x, y = _numbers(a), _numbers(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (y - x).abs() / x.abs()
    var = var.where(x != y, 0.0)  # equal numbers: 0 (also 0 == 0, where the division gave NaN)
    odd = var.isna()  # not numbers on one side or both: equal values 0, different ones inf
    if odd.any():
        a, b = a[odd], b[odd]
        same = (a.isna() & b.isna()) | (a.astype(object) == b.astype(object))
        var[odd] = np.where(same, 0.0, np.inf)
    return var


def compare(cols1, rows1, cols2, rows2, keys: list[str], tolerance: dict[str, float]) -> Outcome:
    """The two results joined on `keys` (pandas: one merge and column arithmetic, not a loop over rows; a key
    given twice counts its last row, as a lookup would)."""
    import pandas as pd

    missing = [k for k in keys if k not in cols1 or k not in cols2]
    if missing:
        return error(f"key column(s) {', '.join(missing)} not in both results")
    value_cols = [c for c in cols1 if c not in keys and c in cols2]
    f1 = pd.DataFrame.from_records(rows1, columns=cols1).drop_duplicates(keys, keep="last")
    f2 = pd.DataFrame.from_records(rows2, columns=cols2).drop_duplicates(keys, keep="last")
    f1 = f1[keys + value_cols].rename(columns={c: ("v1", c) for c in value_cols})
    f2 = f2[keys + value_cols].rename(columns={c: ("v2", c) for c in value_cols})
    joined = f1.merge(f2, on=keys, how="outer", indicator="_side")
    only1 = joined[joined["_side"] == "left_only"]
    only2 = joined[joined["_side"] == "right_only"]
    both = joined[joined["_side"] == "both"]
    worst: dict[str, float] = {}
    differing: dict[str, list[str]] = {}
    for c in value_cols:
        var = _variances(both[("v1", c)], both[("v2", c)])
        worst[c] = float(var.max()) if len(var) else 0.0
        beyond = both[var > tolerance.get(c, 0.0)]
        differing[c] = _first_shown(beyond, keys) if len(beyond) else []
    return report(value_cols, tolerance, worst, differing, (len(only1), _first_shown(only1, keys)),
                  (len(only2), _first_shown(only2, keys)), len(rows1), len(rows2), len(f1))


def report(value_cols: list[str], tolerance: dict[str, float], worst: dict[str, float],
           differing: dict[str, list[str]], only1: tuple[int, list[str]], only2: tuple[int, list[str]],
           rows1: int, rows2: int, keys1: int) -> Outcome:
    """The outcome in words and figures: each column's worst variance against its tolerance, then what differs
    (the keys only on one side and those beyond tolerance, counted, the first MAX_KEYS_SHOWN named)."""
    parts = []
    for c in value_cols:
        tol = tolerance.get(c, 0.0)
        w = worst[c]
        shown = "inf" if w == float("inf") else f"{w * 100:.2f} %"
        parts.append(f"{c} {shown} (tolerance {tol * 100:g} %)")
    measured = {"variance": {c: (None if w == float("inf") else round(w, 8)) for c, w in worst.items()},
                "rows_v1": rows1, "rows_v2": rows2,
                "differing_keys": {c: [str(k) for k in ks[:MAX_KEYS_SHOWN]] for c, ks in differing.items() if ks}}
    problems = []
    for side, (count, first) in (("V1", only1), ("V2", only2)):
        if count:
            problems.append(f"{count} key(s) only in {side}: {', '.join(map(str, first[:MAX_KEYS_SHOWN]))}")
    for c, ks in differing.items():
        if ks:
            problems.append(f"{c} beyond tolerance for {', '.join(map(str, ks[:MAX_KEYS_SHOWN]))}")
    detail = "; ".join(parts)
    if problems:
        return failed(detail + " — " + "; ".join(problems), **measured)
    return passed(detail + f" — {keys1} keys match", **measured)


async def check(p: CompareParams, ctx: Context) -> Outcome:
    q1 = p.v1_query or p.query
    q2 = p.v2_query or p.query
    try:
        (c1, r1), (c2, r2) = await asyncio.gather(query(p.v1_dsn, q1, ctx.base_dir, ctx.timeout),
                                                 query(p.v2_dsn, q2, ctx.base_dir, ctx.timeout))
    except QueryError as exc:
        return error(str(exc))
    # A million rows take seconds to join: in a worker thread, never on the event loop.
    return await pools.VALIDATORS.run(compare, c1, r1, c2, r2, p.key_columns, p.tolerance)
