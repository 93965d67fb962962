"""The canary verdict: the new path judged against the old one, with a stated error rate.

Both parts compare the paths *within the same 5 s intervals* (verdict/stratified.py): a shared outage or a
shared slowdown while the split moves is not the new path's, and the tests are exact for any count, so a side
with few operations is judged right. Each is anytime-valid: it may be read every second.

- Error rate: x new-path errors among the E errors of each interval, against the new path's share of the
  interval's operations. **Regression**: the one-sided mixture likelihood ratio says the new path's error rate is
  above the old one's (chance <= alpha that equal paths are ever called so). **No regression detected**: the
  upper bound of the new path's extra error rate (its rate's anytime upper bound times 1 - 1/r_high, r_high the
  upper end of the ratio's confidence sequence) is below `max_error_increase`, with `min_operations` on each path
  (chance <= alpha that a larger increase passes).
- Latency: the same test on the operations slower than the interval's pooled quantile (`latency_quantile`, the
  median by default), the new path's latencies divided by 1 + `latency_tolerance` first: a regression says the new
  path is slower than the tolerance allows, at that quantile, with chance <= alpha of being wrong. "No
  regression detected" for latency means enough latencies on both paths and no such evidence (not a bound).
  The shift shown (Hodges-Lehmann, median of new - old over the window) describes; it does not decide.

Too little data on either side is `inconclusive` (with what is still needed), never a pass.
Pure computation (numpy and the standard library; the tests hold it to scipy.stats and to simulation, which is
not imported here: it cost a second of every start-up): the live monitor feeds it counts and sketches.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

REGRESSION, NO_REGRESSION, INCONCLUSIVE = "regression", "no regression detected", "inconclusive"
MIN_OPS_FOR_REGRESSION = 50  # a regression is called on at least this many operations per path, however loud


@dataclass(frozen=True)
class ErrorVerdict:
    verdict: str
    diff: float | None  # the new path's extra error rate: its errors beyond what equal rates in each interval give
    low: float | None  # the extra rate at the low end of the ratio's confidence sequence
    high: float | None  # anytime upper bound of the extra rate ("no regression" needs it <= max_error_increase)
    new_ops: int
    new_errors: int
    old_ops: int
    old_errors: int
    needed: str = ""  # for inconclusive: what is still missing
    required: int = 0  # operations per path before "no regression detected"
    ratio: float | None = None  # error rate new / old within intervals: most likely value
    ratio_low: float | None = None  # its confidence sequence
    ratio_high: float | None = None
    strata: int = 0  # intervals that held errors and both paths
    margin: float = 0.0  # max_error_increase

    def text(self) -> str:
        if self.diff is None:
            return f"inconclusive: {self.needed}"
        pp = lambda x: f"{x * 100:+.2f}"  # noqa: E731
        core = f"{pp(self.diff)} pp [{pp(self.low)}, {pp(self.high)}]"
        return f"{core} {self.verdict}" + (f" ({self.needed})" if self.verdict == INCONCLUSIVE else "")


@dataclass(frozen=True)
class LatencyVerdict:
    verdict: str
    shift_ms: float | None  # Hodges-Lehmann over the window: median of (new - old), descriptive
    low_ms: float | None
    high_ms: float | None
    old_median_ms: float | None
    p_value: float | None  # unused since the stratified test (kept for readers of older events)
    new_n: int
    old_n: int
    needed: str = ""
    ratio: float | None = None  # odds of a new-path operation being slower than the interval's quantile, vs old
    ratio_low: float | None = None
    ratio_high: float | None = None
    quantile: float = 0.5

    def text(self) -> str:
        if self.shift_ms is None:
            return f"inconclusive: {self.needed}"
        rel = f" ({self.shift_ms / self.old_median_ms:+.0%})" if self.old_median_ms else ""
        return f"{self.shift_ms:+.0f} ms [{self.low_ms:+.0f}, {self.high_ms:+.0f}]{rel} {self.verdict}" + (
            f" ({self.needed})" if self.verdict == INCONCLUSIVE and self.needed else "")


@dataclass(frozen=True)
class ComponentVerdict:
    errors: ErrorVerdict
    latency: LatencyVerdict | None  # None: the plan does not judge latency

    @property
    def verdict(self) -> str:
        parts = [self.errors.verdict] + ([self.latency.verdict] if self.latency else [])
        if REGRESSION in parts:
            return REGRESSION
        return NO_REGRESSION if all(p == NO_REGRESSION for p in parts) else INCONCLUSIVE

    def text(self) -> str:
        if self.verdict == REGRESSION:
            part = self.errors if self.errors.verdict == REGRESSION else self.latency
            return ("errors " if part is self.errors else "latency ") + part.text()
        if self.verdict == INCONCLUSIVE:
            part = self.errors if self.errors.verdict == INCONCLUSIVE else self.latency
            return part.text()
        return self.errors.text()

    def short(self) -> str:
        """For a table cell: the verdict and its figure ("REGRESSION +1.9pp [+0.3,+3.5]", "ok +0.1pp [..]",
        "inconclusive 140/500 new")."""
        e = self.errors
        if self.verdict == INCONCLUSIVE:
            part = e if e.verdict == INCONCLUSIVE else self.latency
            if part is e or part is None:
                if min(e.new_ops, e.old_ops) >= e.required and e.high is not None:
                    return f"inconclusive ≤{e.high * 100:+.2f}pp"
                return f"inconclusive {min(e.new_ops, e.old_ops)}/{e.required} ops"
            return f"inconclusive latency {min(part.new_n, part.old_n)}"
        if self.verdict == REGRESSION and e.verdict != REGRESSION:
            lat = self.latency
            return f"REGRESSION p50 {lat.shift_ms:+.0f}ms [{lat.low_ms:+.0f},{lat.high_ms:+.0f}]"
        word = "REGRESSION" if self.verdict == REGRESSION else "ok"
        return f"{word} {e.diff * 100:+.2f}pp [{e.low * 100:+.2f},{e.high * 100:+.2f}]"

    def brief(self) -> str:
        """For a narrow cell: the verdict and the extra error rate (or latency shift) that decided it."""
        e = self.errors
        if self.verdict == REGRESSION:
            if e.verdict == REGRESSION:
                return f"REGRESSION {e.diff * 100:+.2f}pp"
            return f"REGRESSION p50 {self.latency.shift_ms:+.0f}ms"
        if self.verdict == NO_REGRESSION:
            return f"ok ≤{e.high * 100:+.3f}pp"
        if e.verdict == INCONCLUSIVE and min(e.new_ops, e.old_ops) < e.required:
            return f"wait {min(e.new_ops, e.old_ops)}/{e.required} ops"
        if e.verdict == INCONCLUSIVE and e.high is not None:
            return f"wait ≤{e.high * 100:+.2f}pp"
        return f"wait latency {min(self.latency.new_n, self.latency.old_n)}" if self.latency else "inconclusive"

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "errors": _finite(asdict(self.errors)),
                "latency": _finite(asdict(self.latency)) if self.latency else None}


def _finite(d: dict) -> dict:
    """JSON has no infinity: an unbounded end of an interval is recorded as None."""
    return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in d.items()}


def error_verdict(new_ops: int, new_errors: int, old_ops: int, old_errors: int, *, alpha: float,
                  min_operations: int, tolerance: float = 0.0, margin: float = 0.0005) -> ErrorVerdict:
    """The verdict on totals alone: one interval (no stratification; what a caller without the intervals has)."""
    return error_verdict_strata([new_ops], [new_errors], [old_ops], [old_errors], alpha=alpha,
                                min_operations=min_operations, tolerance=tolerance, margin=margin)


def error_verdict_strata(n_new, x_new, n_old, x_old, *, alpha: float, min_operations: int, tolerance: float = 0.0,
                         margin: float = 0.0005, judged=None) -> ErrorVerdict:
    """The error verdict on per-interval counts since the stage began (arrays: each path's operations and errors
    per 5 s interval). `judged`: the ratio's judgment when the caller keeps its log-likelihood itself."""
    import numpy as np

    from mdm_console.verdict.stratified import excess, judge_strata, rate_upper

    n_new, x_new, n_old, x_old = (np.asarray(v, dtype=float) for v in (n_new, x_new, n_old, x_old))
    totals = int(n_new.sum()), int(x_new.sum()), int(n_old.sum()), int(x_old.sum())
    new_ops, new_errors, old_ops, _ = totals
    if new_ops == 0 or old_ops == 0:
        missing = [f"{min_operations} ops on the {p} path" for p, n in (("new", new_ops), ("old", old_ops)) if n == 0]
        return ErrorVerdict(INCONCLUSIVE, None, None, None, *totals,
                            needed="no data yet: needs " + " and ".join(missing), required=min_operations,
                            margin=margin)
    n = n_new + n_old
    e = x_new + x_old
    pi = np.divide(n_new, n, out=np.zeros_like(n), where=n > 0)
    j = judged if judged is not None else judge_strata(x_new, e, pi, alpha)
    diff = float((x_new.sum() - np.sum(e * pi)) / new_ops)
    low = excess(j.low, e, pi, new_ops)
    p_high = rate_upper(new_ops, new_errors, alpha / 2)
    high = p_high if math.isinf(j.high) else p_high * max(0.0, 1 - 1 / j.high)
    args = dict(required=min_operations, ratio=j.ratio, ratio_low=j.low, ratio_high=j.high, strata=j.strata,
                margin=margin)
    if j.worse and diff > tolerance and min(new_ops, old_ops) >= min(MIN_OPS_FOR_REGRESSION, min_operations):
        return ErrorVerdict(REGRESSION, diff, low, high, *totals, **args)
    short = [f"{n_} of {min_operations} ops on the {p} path" for p, n_ in (("new", new_ops), ("old", old_ops))
             if n_ < min_operations]
    if short:
        return ErrorVerdict(INCONCLUSIVE, diff, low, high, *totals, needed=", ".join(short), **args)
    if high > margin:
        return ErrorVerdict(INCONCLUSIVE, diff, low, high, *totals, **args,
                            needed=f"the increase could still be up to {high * 100:+.3f} pp; no regression needs it "
                                   f"at most {margin * 100:+.3f} pp")
    return ErrorVerdict(NO_REGRESSION, diff, low, high, *totals, **args)


# ---- latency ------------------------------------------------------------------------------------------------
def binned(sketch) -> tuple[np.ndarray, np.ndarray]:
    """(bin values in ms, counts) of a quantile sketch, sorted by value."""
    import numpy as np

    from mdm_console.feeds.sketch import _GAMMA

    keys = sorted(sketch.buckets)
    values = [0.0] * bool(sketch.zero) + [2 * _GAMMA ** k / (_GAMMA + 1) for k in keys]
    counts = [sketch.zero] * bool(sketch.zero) + [sketch.buckets[k] for k in keys]
    return np.asarray(values, dtype=float), np.asarray(counts, dtype=float)


def mann_whitney_binned(x_values, x_counts, y_values, y_counts) -> tuple[float, float]:
    """U of y against x (pairs with y > x, ties counting half) and the two-sided p-value of the normal
    approximation with the tie correction: what scipy.stats.mannwhitneyu(y, x, method="asymptotic",
    use_continuity=False) gives on the expanded samples, computed from the bins."""
    import numpy as np

    values = np.union1d(x_values, y_values)
    a = np.zeros(len(values))
    b = np.zeros(len(values))
    a[np.searchsorted(values, x_values)] += x_counts
    b[np.searchsorted(values, y_values)] += y_counts
    n1, n2 = a.sum(), b.sum()
    below = np.cumsum(a) - a  # x values strictly below each bin
    u = float(np.sum(b * (below + a / 2)))
    n = n1 + n2
    t = a + b
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - float(np.sum(t ** 3 - t)) / (n * (n - 1))))
    if sigma == 0:
        return u, 1.0
    z = (u - n1 * n2 / 2) / sigma
    return u, math.erfc(abs(z) / math.sqrt(2))  # two-sided: 2 * (1 - Phi(|z|)), exact in the tail


def hodges_lehmann(x_values, x_counts, y_values, y_counts, alpha: float) -> tuple[float, float, float]:
    """Median of all pairwise differences y - x, and its 1 - alpha interval from the order statistics at
    the ranks the U distribution gives (normal approximation), weighted by the bins' counts."""
    import numpy as np

    diffs = np.subtract.outer(y_values, x_values).ravel()
    weights = np.outer(y_counts, x_counts).ravel()
    order = np.argsort(diffs, kind="stable")
    diffs, cum = diffs[order], np.cumsum(weights[order])
    m = cum[-1]
    n1, n2 = x_counts.sum(), y_counts.sum()
    k = m / 2 - NormalDist().inv_cdf(1 - alpha / 2) * math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    k = max(k, 1.0)

    def at(rank: float) -> float:
        return float(diffs[min(np.searchsorted(cum, rank), len(diffs) - 1)])

    return at(m / 2), at(k), at(m - k + 1)


ZERO_KEY = -(10**9)  # the sketch's bin of values at or below its minimum, as a key below every other


def latency_stratum(old_sketch, new_sketch, *, quantile: float, tolerance: float) -> tuple[int, int, int, int]:
    """One interval's evidence for the latency test: (new-path operations slower than the interval's pooled
    quantile, all operations slower than it, new-path operations, all operations), the new path's latencies divided
    by 1 + tolerance first (whole sketch bins, rounded up: the tolerance applied is at least the plan's). Equal
    paths up to the tolerance make the slow ones' labels exchangeable: the test is exact."""
    from collections import Counter

    from mdm_console.feeds.sketch import _LOG_GAMMA

    n_old, n_new = old_sketch.count, new_sketch.count
    n = n_old + n_new
    if not n_old or not n_new:
        return 0, 0, n_new, n
    shift = math.ceil(math.log1p(tolerance) / _LOG_GAMMA - 1e-9)
    new_keys = Counter({k - shift: c for k, c in new_sketch.buckets.items()})
    pooled = Counter(old_sketch.buckets)
    pooled.update(new_keys)
    zero = old_sketch.zero + new_sketch.zero
    rank = quantile * (n - 1)
    threshold, seen = ZERO_KEY, zero
    if rank >= seen:
        for key in sorted(pooled):
            seen += pooled[key]
            if rank < seen:
                threshold = key
                break
    slow_old = sum(c for k, c in old_sketch.buckets.items() if k > threshold)
    slow_new = sum(c for k, c in new_keys.items() if k > threshold)
    return slow_new, slow_old + slow_new, n_new, n


def latency_verdict(strata, old_window, new_window, *, alpha: float, min_operations: int, tolerance: float,
                    quantile: float = 0.5, judged=None) -> LatencyVerdict:
    """The latency verdict on the intervals' evidence since the stage began (`latency_stratum` tuples), with the
    window's sketches for the shift shown. `judged`: the ratio's judgment when the caller keeps it itself."""
    import numpy as np

    from mdm_console.verdict.stratified import judge_strata

    st = np.asarray(list(strata), dtype=float).reshape(-1, 4)
    n_new = int(st[:, 2].sum())
    n_old = int((st[:, 3] - st[:, 2]).sum())
    short = [f"{n} of {min_operations} latencies on the {p} path" for p, n in (("new", n_new), ("old", n_old))
             if n < min_operations]
    if n_old == 0 or n_new == 0 or not old_window.count or not new_window.count:
        return LatencyVerdict(INCONCLUSIVE, None, None, None, None, None, n_new, n_old,
                              needed="no latencies yet: " + ", ".join(short), quantile=quantile)
    pi = np.divide(st[:, 2], st[:, 3], out=np.zeros(len(st)), where=st[:, 3] > 0)
    j = judged if judged is not None else judge_strata(st[:, 0], st[:, 1], pi, alpha)
    xv, xc = binned(old_window)
    yv, yc = binned(new_window)
    shift, low, high = hodges_lehmann(xv, xc, yv, yc, alpha)
    median = old_window.quantile(0.5)
    args = dict(ratio=j.ratio, ratio_low=j.low, ratio_high=j.high, quantile=quantile)
    if j.worse and min(n_new, n_old) >= min(MIN_OPS_FOR_REGRESSION, min_operations):
        return LatencyVerdict(REGRESSION, shift, low, high, median, None, n_new, n_old, **args)
    if short:
        return LatencyVerdict(INCONCLUSIVE, shift, low, high, median, None, n_new, n_old, needed=", ".join(short),
                              **args)
    return LatencyVerdict(NO_REGRESSION, shift, low, high, median, None, n_new, n_old, **args)
