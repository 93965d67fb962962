"""The shadow `compare` as it was before pandas: a Python loop over every key (a lookup per row and column).

Kept as the baseline of benchmarks/compare.py and as the reference the test suite checks the pandas version
against (tests/test_validators.py): the join and the variances as they were; the words and figures of the
outcome come from the same `report` as the console's. Not used by the console.
"""

from __future__ import annotations

from mdm_console.validators.base import Outcome, error
from mdm_console.validators.kinds.compare import report


def variance(a, b) -> float:
    a, b = float(a), float(b)
    if a == b:
        return 0.0
    return abs(b - a) / abs(a) if a else float("inf")


def _show(key: tuple) -> str:
    return str(key[0]) if len(key) == 1 else "(" + ", ".join(map(str, key)) + ")"


def compare_loop(cols1, rows1, cols2, rows2, keys: list[str], tolerance: dict[str, float]) -> Outcome:
    missing = [k for k in keys if k not in cols1 or k not in cols2]
    if missing:
        return error(f"key column(s) {', '.join(missing)} not in both results")
    value_cols = [c for c in cols1 if c not in keys and c in cols2]
    idx1 = {c: i for i, c in enumerate(cols1)}
    idx2 = {c: i for i, c in enumerate(cols2)}
    v1 = {tuple(r[idx1[k]] for k in keys): r for r in rows1}
    v2 = {tuple(r[idx2[k]] for k in keys): r for r in rows2}
    only1 = [_show(k) for k in sorted(set(v1) - set(v2), key=str)]
    only2 = [_show(k) for k in sorted(set(v2) - set(v1), key=str)]
    worst: dict[str, float] = {c: 0.0 for c in value_cols}
    differing: dict[str, list] = {c: [] for c in value_cols}
    for key in sorted(set(v1) & set(v2), key=str):
        for c in value_cols:
            a, b = v1[key][idx1[c]], v2[key][idx2[c]]
            try:
                var = variance(a, b)
            except (TypeError, ValueError):
                var = 0.0 if a == b else float("inf")
            worst[c] = max(worst[c], var)
            if var > tolerance.get(c, 0.0):
                differing[c].append(_show(key))
    return report(value_cols, tolerance, worst, differing, (len(only1), only1), (len(only2), only2), len(rows1),
                  len(rows2), len(v1))
