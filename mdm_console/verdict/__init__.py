"""The canary verdict: the new path judged against the old one, with a stated error rate.

- Error rate: an always-valid confidence sequence for the difference of two proportions (new - old), the
  normal-mixture sequential probability ratio test (mSPRT) of Johari, Koomen, Pekelis and Walsh, "Always
  Valid Inference: Continuous Monitoring of A/B Tests", Operations Research 70(3), 2022 (the method behind
  Optimizely's stats engine), with the plug-in variance. The mixing scale is itself a mixture, with equal
  weights, over MIXING_SD (0.05 to 10 percentage points): an average of test martingales is one, so the
  guarantee holds, and the test is near its best both for a tenth of a point at a million operations and
  for ten points at a few hundred. Its interval covers the true difference at every look at once with
  probability >= 1 - alpha, so it may be read every second: the share of equal-rate canaries that ever
  say "regression" stays <= alpha (measured by benchmarks/verdict.py).
- Latency: Mann-Whitney U on the two paths' binned latency distributions (the window's quantile sketches),
  with the Hodges-Lehmann shift (median of new - old) and its distribution-free interval, as Kayenta's
  NetflixACAJudge does; a regression is a shift whose whole interval lies above the tolerance (a share of
  the old path's median).

Too little data on either side is `inconclusive` (with what is still needed), never a pass.
Pure computation (numpy and the standard library's normal distribution; the tests hold it to
scipy.stats, which is not imported here: it cost a second of every start-up): the live monitor feeds it counts and sketches.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

REGRESSION, NO_REGRESSION, INCONCLUSIVE = "regression", "no regression detected", "inconclusive"
MIN_OPS_FOR_REGRESSION = 50  # the normal approximation needs some data even when the evidence is loud
# The mSPRT's mixing scales, equally weighted. A tuple: numpy is imported when a verdict is first computed, not
# with the engine (a command on a session with no canary out, `status` or `note`, never needs it).
MIXING_SD = (0.0005, 0.002, 0.008, 0.03, 0.1)


@dataclass(frozen=True)
class ErrorVerdict:
    verdict: str
    diff: float | None  # new - old error rate
    low: float | None  # always-valid interval of the difference
    high: float | None
    new_ops: int
    new_errors: int
    old_ops: int
    old_errors: int
    needed: str = ""  # for inconclusive: what is still missing
    required: int = 0  # operations per path before "no regression detected"

    def text(self) -> str:
        if self.diff is None:
            return f"inconclusive: {self.needed}"
        pp = lambda x: f"{x * 100:+.2f}"  # noqa: E731
        core = f"{pp(self.diff)} pp [{pp(self.low)}, {pp(self.high)}]"
        return f"{core} {self.verdict}" + (f" ({self.needed})" if self.verdict == INCONCLUSIVE else "")


@dataclass(frozen=True)
class LatencyVerdict:
    verdict: str
    shift_ms: float | None  # Hodges-Lehmann: median of (new - old)
    low_ms: float | None
    high_ms: float | None
    old_median_ms: float | None
    p_value: float | None  # Mann-Whitney U, two-sided
    new_n: int
    old_n: int
    needed: str = ""

    def text(self) -> str:
        if self.shift_ms is None:
            return f"inconclusive: {self.needed}"
        rel = f" ({self.shift_ms / self.old_median_ms:+.0%})" if self.old_median_ms else ""
        return f"{self.shift_ms:+.0f} ms [{self.low_ms:+.0f}, {self.high_ms:+.0f}]{rel} {self.verdict}"


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
                return f"inconclusive {min(e.new_ops, e.old_ops)}/{e.required} ops"
            return f"inconclusive latency {min(part.new_n, part.old_n)}"
        if self.verdict == REGRESSION and e.verdict != REGRESSION:
            lat = self.latency
            return f"REGRESSION p50 {lat.shift_ms:+.0f}ms [{lat.low_ms:+.0f},{lat.high_ms:+.0f}]"
        word = "REGRESSION" if self.verdict == REGRESSION else "ok"
        return f"{word} {e.diff * 100:+.2f}pp [{e.low * 100:+.2f},{e.high * 100:+.2f}]"

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "errors": asdict(self.errors),
                "latency": asdict(self.latency) if self.latency else None}


def error_verdict(new_ops: int, new_errors: int, old_ops: int, old_errors: int, *, alpha: float,
                  min_operations: int, tolerance: float = 0.0) -> ErrorVerdict:
    """The mSPRT confidence sequence for p_new - p_old on the counts since the stage began."""
    args = (new_ops, new_errors, old_ops, old_errors)
    if new_ops == 0 or old_ops == 0:
        missing = [f"{min_operations} ops on the {p} path" for p, n in (("new", new_ops), ("old", old_ops)) if n == 0]
        return ErrorVerdict(INCONCLUSIVE, None, None, None, *args, needed="no data yet: needs " + " and ".join(missing),
                            required=min_operations)
    p_new, p_old = new_errors / new_ops, old_errors / old_ops
    diff = p_new - p_old
    half = float(half_width(new_ops, new_errors, old_ops, old_errors, alpha))
    low, high = diff - half, diff + half
    short = [f"{n} of {min_operations} ops on the {p} path" for p, n in (("new", new_ops), ("old", old_ops))
             if n < min_operations]
    if low > tolerance and min(new_ops, old_ops) >= min(MIN_OPS_FOR_REGRESSION, min_operations):
        return ErrorVerdict(REGRESSION, diff, low, high, *args, required=min_operations)
    if short:
        return ErrorVerdict(INCONCLUSIVE, diff, low, high, *args, needed=", ".join(short), required=min_operations)
    return ErrorVerdict(NO_REGRESSION, diff, low, high, *args, required=min_operations)


def half_width(new_ops, new_errors, old_ops, old_errors, alpha: float):
    """Half-width of the always-valid interval for p_new - p_old: the distance d at which the mixture likelihood
    ratio mean_j sqrt(V / (V + t_j)) exp(t_j d^2 / (2 V (V + t_j))) reaches 1 / alpha, V the plug-in variance of
    the difference and t_j = MIXING_SD_j^2. Found by bisection between two closed forms (one scale at alpha, one
    at alpha / len(MIXING_SD)); works on numpy arrays (the benchmark judges thousands of canaries at once). The
    rates in V are shrunk by half an event ((x + 0.5) / (n + 1)) so that zero errors is not zero variance."""
    import numpy as np

    p_new = (np.asarray(new_errors, dtype=float) + 0.5) / (np.asarray(new_ops, dtype=float) + 1)
    p_old = (np.asarray(old_errors, dtype=float) + 0.5) / (np.asarray(old_ops, dtype=float) + 1)
    v = (p_new * (1 - p_new) / new_ops + p_old * (1 - p_old) / old_ops)[..., None]
    t = np.array(MIXING_SD) ** 2
    k = len(MIXING_SD)

    def single(a: float):
        return np.sqrt(2 * v * (v + t) / t * np.log(np.sqrt((v + t) / v) / a)).min(axis=-1)

    lo, hi = single(alpha), single(alpha / k)
    target = math.log(1 / alpha)
    for _ in range(40):
        mid = (lo + hi) / 2
        log_ratio = logsumexp(0.5 * np.log(v / (v + t)) + t * mid[..., None] ** 2 / (2 * v * (v + t))) - math.log(k)
        reached = log_ratio >= target
        hi = np.where(reached, mid, hi)
        lo = np.where(reached, lo, mid)
    return hi


def logsumexp(x):
    """log(sum(exp(x))) over the last axis without overflow (scipy.special.logsumexp's result)."""
    import numpy as np

    top = np.max(x, axis=-1, keepdims=True)
    return np.log(np.sum(np.exp(x - top), axis=-1)) + top[..., 0]


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


def latency_verdict(old_sketch, new_sketch, *, alpha: float, min_operations: int,
                    tolerance: float) -> LatencyVerdict:
    n_old, n_new = old_sketch.count, new_sketch.count
    short = [f"{n} of {min_operations} latencies on the {p} path" for p, n in (("new", n_new), ("old", n_old))
             if n < min_operations]
    if n_old == 0 or n_new == 0:
        return LatencyVerdict(INCONCLUSIVE, None, None, None, None, None, n_new, n_old,
                              needed="no latencies yet: " + ", ".join(short))
    xv, xc = binned(old_sketch)
    yv, yc = binned(new_sketch)
    return judge_latency(xv, xc, yv, yc, old_sketch.quantile(0.5), alpha=alpha, tolerance=tolerance,
                         needed=", ".join(short))


def judge_latency(xv, xc, yv, yc, median: float | None, *, alpha: float, tolerance: float,
                  needed: str = "") -> LatencyVerdict:
    """The latency verdict on binned distributions: old (xv values, xc counts) and new (yv, yc)."""
    n_old, n_new = int(xc.sum()), int(yc.sum())
    _, p = mann_whitney_binned(xv, xc, yv, yc)
    shift, low, high = hodges_lehmann(xv, xc, yv, yc, alpha)
    if needed:
        return LatencyVerdict(INCONCLUSIVE, shift, low, high, median, p, n_new, n_old, needed=needed)
    if median and low > tolerance * median:
        return LatencyVerdict(REGRESSION, shift, low, high, median, p, n_new, n_old)
    return LatencyVerdict(NO_REGRESSION, shift, low, high, median, p, n_new, n_old)
