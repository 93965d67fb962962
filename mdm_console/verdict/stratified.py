"""An anytime-valid comparison of two paths' event rates, stratified by time.

The traffic is cut into strata (the feed's 5 s buckets). Within a stratum s the new path served n_new of the
n operations, a share pi_s = n_new / n, and E_s of them were events (errors; for latency: operations slower than
the stratum's pooled quantile). If the new path's rate is r times the old path's *within the same stratum*, then,
given E_s, the number x_s of those events on the new path is binomial with success chance

    q_s(r) = pi_s r / (pi_s r + 1 - pi_s).

This conditioning is what makes the test stratified: a shared outage raises E_s for both paths in its strata and
says nothing about r, however the split moves over time. It is exact for any count (no normal approximation,
so a side with few operations is judged right); under the exact sampling (hypergeometric within a stratum when
both paths share one rate) the binomial likelihood ratio used here is a supermartingale too (the hypergeometric
is smaller in convex order), so the guarantees below hold.

The evidence is a mixture likelihood ratio over a grid of r (a normal prior on log r, fixed in advance): an
average of test martingales is one, so by Ville's inequality

- the chance that paths with r <= 1 in every stratum are *ever* called worse (the one-sided mixture over r > 1
  reaching 1 / alpha) is at most alpha, however often it is looked at;
- the set of r0 whose mixture against r0 stays under 2 / alpha is a confidence sequence: it holds the true r at
  every look at once with probability at least 1 - alpha / 2.

Pure numpy; the tests hold it to brute force and to simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

GRID_STEPS = 60  # grid points on each side of r = 1 (r from 1/64 to 64, steps of 7 %)
PRIOR_SD = 1.0  # the normal prior's sd on log r


def grid():
    import numpy as np

    log_r = np.linspace(-math.log(64), math.log(64), 2 * GRID_STEPS + 1)
    w = np.exp(-0.5 * (log_r / PRIOR_SD) ** 2)
    return log_r, np.log(w / w.sum())


def loglik(x, e, pi) -> np.ndarray:
    """Per stratum, the log-likelihood of x new-path events among e, at every grid point: shape (..., strata,
    grid). Strata with no event, or with one path absent (pi 0 or 1), say nothing about r: zeros."""
    import numpy as np

    log_r, _ = grid()
    x, e, pi = (np.asarray(v, dtype=float)[..., None] for v in (x, e, pi))
    informative = (e > 0) & (pi > 0) & (pi < 1)
    p = np.clip(pi, 1e-12, 1 - 1e-12)
    log_pi, log_1pi = np.log(p), np.log1p(-p)
    denom = np.logaddexp(log_pi + log_r, log_1pi)
    ll = x * (log_pi + log_r - denom) + (e - x) * (log_1pi - denom)
    return np.where(informative, ll, 0.0)


@dataclass(frozen=True)
class RatioJudgment:
    """The rate ratio new / old within strata, judged on a mixture likelihood ratio."""

    worse: bool  # the one-sided test: the new path's rate is above the old path's, at alpha
    log_evidence: float  # log of the one-sided mixture (worse when >= log(1 / alpha))
    ratio: float | None  # the most likely ratio (None: no informative stratum yet)
    low: float  # confidence sequence for the ratio (0: unbounded below)
    high: float  # (inf: unbounded above)
    events_new: int
    events: int
    strata: int  # strata that carried information


def judge_ratio(total_ll, alpha: float, events_new: int = 0, events: int = 0, strata: int = 0) -> RatioJudgment:
    """From the summed log-likelihood over the grid (`loglik(...).sum(axis=-2)`), one judgment."""
    import numpy as np

    log_r, log_w = grid()
    mid = GRID_STEPS  # log r = 0
    ll = np.asarray(total_ll, dtype=float)
    up = log_r > 0
    w_up = log_w[up] - _logsumexp(log_w[up])
    log_plus = float(_logsumexp(ll[up] - ll[mid] + w_up))
    if not strata or not np.any(ll != 0):
        return RatioJudgment(False, log_plus, None, 0.0, math.inf, events_new, events, strata)
    log_mix = _logsumexp(ll + log_w)
    inside = (log_mix - ll) < math.log(2 / alpha)
    idx = np.flatnonzero(inside)
    low = 0.0 if idx[0] == 0 else float(math.exp(log_r[idx[0]]))
    high = math.inf if idx[-1] == len(log_r) - 1 else float(math.exp(log_r[idx[-1]]))
    ratio = float(math.exp(log_r[int(np.argmax(ll))]))
    return RatioJudgment(log_plus >= math.log(1 / alpha), log_plus, ratio, low, high, events_new, events, strata)


def judge_strata(x, e, pi, alpha: float) -> RatioJudgment:
    import numpy as np

    x, e, pi = (np.asarray(v, dtype=float) for v in (x, e, pi))
    informative = (e > 0) & (pi > 0) & (pi < 1)  # the others add nothing: left out before the grid's work
    total = loglik(x[informative], e[informative], pi[informative]).sum(axis=-2)
    return judge_ratio(total, alpha, int(x.sum()), int(e.sum()), int(informative.sum()))


def excess(ratio: float, e, pi, n_new: int) -> float:
    """The new path's extra events per operation that a ratio implies, given the strata's event counts: what the new
    path had beyond what equal rates would have given it."""
    import numpy as np

    if n_new <= 0:
        return 0.0
    e, pi = np.asarray(e, dtype=float), np.asarray(pi, dtype=float)
    if math.isinf(ratio):
        q = np.where(pi > 0, 1.0, 0.0)
    else:
        q = pi * ratio / (pi * ratio + 1 - pi)
    return float(np.sum(e * (q - pi)) / n_new)


# ---- one path's rate: an anytime upper bound ------------------------------------------------------------------
BETA_PRIORS = ((0.5, 1.0), (0.5, 100.0), (0.5, 10_000.0))  # Beta(a, b) mixture: suited to common and to rare events


def rate_upper(n: int, x: int, alpha: float) -> float:
    """An anytime-valid upper bound of an event rate from x events in n trials (a mixture of beta-binomial test
    martingales, Robbins 1970; Howard et al. 2021): at least the true rate, at every look at once, with probability
    1 - alpha, for any count (no normal approximation)."""
    if n <= 0:
        return 1.0
    target = math.log(1 / alpha)
    k = len(BETA_PRIORS)

    def log_mix() -> float:
        terms = [math.lgamma(a + x) + math.lgamma(b + n - x) - math.lgamma(a + b + n)
                 - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)) for a, b in BETA_PRIORS]
        top = max(terms)
        return top + math.log(sum(math.exp(t - top) for t in terms) / k)

    mix = log_mix()

    def log_m(p0: float) -> float:
        return mix - x * math.log(p0) - (n - x) * math.log1p(-p0)

    lo, hi = max(x / n, 1e-15), 1.0 - 1e-15
    if log_m(hi) < target:
        return 1.0
    for _ in range(80):  # log_m increases in p0 above x / n
        mid = (lo + hi) / 2
        if log_m(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def _logsumexp(a):
    import numpy as np

    a = np.asarray(a, dtype=float)
    top = np.max(a, axis=-1, keepdims=True)
    return np.log(np.sum(np.exp(a - top), axis=-1)) + top[..., 0]
