"""Distribution-free confidence bounds for a quantile, from order statistics (no assumption about the shape of
the latency distribution: heavy tails and a few very slow requests are what real latency looks like).

For n samples, the number of them at or below the true q-quantile is Binomial(n, q). The k-th smallest value
lies below the quantile unless fewer than k samples do, so choosing k from the binomial's tail gives a bound
that holds with probability at least 1 - alpha whatever the distribution. The samples' values come from a
quantile sketch (feeds/sketch.py), so each bound carries the sketch's relative error (1 %) as well.

An upper bound needs enough samples: with n samples the largest one is below the q-quantile with probability
q^n, so no upper bound at 1 - alpha exists while q^n > alpha (for the p99 at alpha 0.001: 688 samples). That is
"not enough evidence", said as such, never a guess.
"""

from __future__ import annotations

import math
from functools import lru_cache


def _tail_counts(n: int, p: float) -> tuple[list[float], float]:
    """P(F = m) for F ~ Binomial(n, p), m = 0, 1, ... while the mass is not negligible, exactly (log space)."""
    out: list[float] = []
    log_p, log_q = math.log(p), math.log1p(-p)
    mean = n * p
    top = min(n, int(mean + 12 * math.sqrt(mean * (1 - p)) + 30))
    log_c = 0.0  # log C(n, m)
    for m in range(top + 1):
        if m:
            log_c += math.log(n - m + 1) - math.log(m)
        out.append(math.exp(log_c + m * log_p + (n - m) * log_q))
    return out, 1.0 - sum(out)


@lru_cache(maxsize=4096)  # the same sample sizes come back every second
def excess_bounds(n: int, q: float, alpha: float) -> tuple[int | None, int | None]:
    """(lo, hi): 1-based ranks of the order statistics that bound the q-quantile from below and from above, each
    at confidence 1 - alpha (one-sided). None where no such order statistic exists with n samples."""
    if n <= 0:
        return None, None
    pmf, _ = _tail_counts(n, 1.0 - q)  # F: the samples above the quantile
    cdf = []
    acc = 0.0
    for v in pmf:
        acc += v
        cdf.append(acc)
    # Lower bound: X_(k) <= quantile unless at least n - k + 1 samples lie above it; P(F >= m) <= alpha.
    lo = None
    for m in range(len(cdf)):
        upper_tail = 1.0 - (cdf[m - 1] if m else 0.0)  # P(F >= m)
        if upper_tail <= alpha:
            k = n - m + 1
            lo = k if 1 <= k <= n else None
            break
    # Upper bound: X_(k) >= quantile unless at most n - k samples lie above it; largest m with P(F <= m) <= alpha.
    hi = None
    best = None
    for m, c in enumerate(cdf):
        if c <= alpha:
            best = m
        else:
            break
    if best is not None:
        hi = n - best
    return lo, hi


def quantile_bounds(sketch, q: float, alpha: float) -> tuple[float | None, float | None]:
    """(lower, upper) bounds of the q-quantile of the distribution `sketch` sampled, each holding with probability
    at least 1 - alpha; None where the sample is too small to give one."""
    n = sketch.count
    lo_rank, hi_rank = excess_bounds(n, q, alpha)

    def at(rank: int | None) -> float | None:
        if rank is None:
            return None
        return sketch.quantile((rank - 1) / (n - 1)) if n > 1 else sketch.quantile(0.0)

    return at(lo_rank), at(hi_rank)


def min_samples_for_upper(q: float, alpha: float) -> int:
    """The fewest samples with which an upper bound of the q-quantile at 1 - alpha exists."""
    return math.ceil(math.log(alpha) / math.log(q))
