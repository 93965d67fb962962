"""The canary verdict on simulated canaries (seeded, reproducible): false alarms with equal paths, time to detect
a regression, and the same runs judged by the threshold policy as it stands and by a Flagger-style check.

Usage: python benchmarks/verdict.py [--canaries 1000] [--latency-canaries 100] [--minutes 30] [--seed 7]
                                    [--json]

The traffic: 1 000 ops/s, 5 % of them on the new path (250 new and 4 750 old operations per 5 s bucket); the
verdict is read after every bucket for --minutes, with the plan's defaults (alpha 0.01, 500 operations per
path before "no regression detected"). Error counts per bucket are binomial draws (numpy); every look applies
the verdict's own half_width to the counts since the stage began.

Side by side, on the very same simulated buckets:
- threshold (the auto-rollback policy's own rule): the new path's error rate over the last 30 s above 0.05
  for 60 s (12 looks in a row);
- Flagger-style: every 60 s, the new path's error rate over that minute above 1 % (Flagger's usual 99 %
  request-success-rate); rolled back after 5 failed checks in a row.

Latency: lognormal latencies (median 20 ms, sigma 0.35), binned into the quantile sketch's own buckets per
5 s; the verdict's Mann-Whitney / Hodges-Lehmann judge on the 300 s window (--latency-canaries canaries).
"""

from __future__ import annotations

import math

import numpy as np
from _common import emit, parse_args

from mdm_console.feeds.sketch import _GAMMA, _LOG_GAMMA
from mdm_console.verdict import MIN_OPS_FOR_REGRESSION, half_width, judge_latency

BUCKET_S = 5
NEW_PER_BUCKET, OLD_PER_BUCKET = 250, 4750
ALPHA, MIN_OPS = 0.01, 500


def simulate(rng, canaries: int, looks: int, p_old: float, p_new: float):
    new = rng.binomial(NEW_PER_BUCKET, p_new, size=(canaries, looks))
    old = rng.binomial(OLD_PER_BUCKET, p_old, size=(canaries, looks))
    return new, old


def first_true(flags: np.ndarray) -> np.ndarray:
    """Index of the first True per row, or -1."""
    hit = flags.any(axis=1)
    return np.where(hit, flags.argmax(axis=1), -1)


def verdict_alarm(new, old) -> np.ndarray:
    looks = new.shape[1]
    n_new = NEW_PER_BUCKET * np.arange(1, looks + 1)
    n_old = OLD_PER_BUCKET * np.arange(1, looks + 1)
    x_new, x_old = np.cumsum(new, axis=1), np.cumsum(old, axis=1)
    diff = x_new / n_new - x_old / n_old
    low = diff - half_width(n_new, x_new, n_old, x_old, ALPHA)
    enough = np.minimum(n_new, n_old) >= MIN_OPS_FOR_REGRESSION
    return first_true((low > 0) & enough)


def rolling(a: np.ndarray, k: int) -> np.ndarray:
    c = np.cumsum(a, axis=1)
    out = c.copy()
    out[:, k:] = c[:, k:] - c[:, :-k]
    return out


def threshold_alarm(new) -> np.ndarray:
    """Error rate over 30 s (6 buckets) > 0.05 for 60 s: 12 looks in a row (with a full 30 s window)."""
    rate = rolling(new, 6) / (NEW_PER_BUCKET * np.minimum(np.arange(1, new.shape[1] + 1), 6))
    above = (rate > 0.05).astype(int)
    run = rolling(above, 12)
    return first_true(run >= 12)


def flagger_alarm(new) -> np.ndarray:
    """A check every 60 s (12 buckets) on that minute's error rate > 1 %; alarm after 5 failed checks in a row."""
    looks = new.shape[1] // 12
    minute = new[:, :looks * 12].reshape(new.shape[0], looks, 12).sum(axis=2) / (12 * NEW_PER_BUCKET)
    failed = (minute > 0.01).astype(int)
    idx = first_true(rolling(failed, 5) >= 5)
    return np.where(idx >= 0, (idx + 1) * 12 - 1, -1)  # in buckets, at the end of the failing check's minute


def summary(idx: np.ndarray) -> tuple[float, float | None, float | None]:
    """(share ever alarmed, median s, p90 s) of the canaries that alarmed."""
    hit = idx[idx >= 0]
    if not len(hit):
        return 0.0, None, None
    secs = (hit + 1) * BUCKET_S
    return len(hit) / len(idx), float(np.median(secs)), float(np.percentile(secs, 90))


def sketch_bins(rng, n: int, scale: float) -> dict[int, int]:
    v = rng.lognormal(math.log(20.0), 0.35, n) * scale
    keys, counts = np.unique(np.ceil(np.log(v) / _LOG_GAMMA).astype(int), return_counts=True)
    return dict(zip(keys.tolist(), counts.tolist(), strict=True))


def latency_alarm(rng, canaries: int, looks: int, scale: float, window: int = 60) -> np.ndarray:
    out = np.full(canaries, -1)
    for c in range(canaries):
        old_b, new_b = [], []
        for look in range(looks):
            old_b.append(sketch_bins(rng, OLD_PER_BUCKET, 1.0))
            new_b.append(sketch_bins(rng, NEW_PER_BUCKET, scale))
            old_w, new_w = _sum(old_b[-window:]), _sum(new_b[-window:])
            xv, xc = _arrays(old_w)
            yv, yc = _arrays(new_w)
            median = _median(xv, xc)
            short = "" if min(xc.sum(), yc.sum()) >= MIN_OPS else "short"
            if judge_latency(xv, xc, yv, yc, median, alpha=ALPHA, tolerance=0.20, needed=short).verdict == "regression":
                out[c] = look
                break
    return out


def _sum(dicts):
    total: dict[int, int] = {}
    for d in dicts:
        for k, v in d.items():
            total[k] = total.get(k, 0) + v
    return total


def _arrays(d):
    keys = sorted(d)
    return (np.array([2 * _GAMMA ** k / (_GAMMA + 1) for k in keys]), np.array([d[k] for k in keys], dtype=float))


def _median(values, counts):
    return float(values[np.searchsorted(np.cumsum(counts), counts.sum() / 2)])


def fmt(x):
    return "never" if x is None else round(x, 1)


def main() -> None:
    args = parse_args(canaries=1000, latency_canaries=100, minutes=30, seed=7)
    rng = np.random.default_rng(args.seed)
    looks = int(args.minutes * 60 / BUCKET_S)
    rows = []
    how = (f"{args.canaries} simulated canaries, 1 000 ops/s with 5 % on the new path, read every 5 s for "
           f"{args.minutes:g} min (seed {args.seed}); alpha {ALPHA}, the plan defaults")
    for p in (0.001, 0.01):
        new, old = simulate(rng, args.canaries, looks, p, p)
        for name, idx in (("verdict", verdict_alarm(new, old)), ("threshold", threshold_alarm(new)),
                          ("Flagger-style", flagger_alarm(new))):
            share, _, _ = summary(idx)
            rows.append({"figure": f"A/A false alarms, error rate {p:.1%} on both paths: {name}",
                         "goal": f"<= {ALPHA}" if name == "verdict" else "-", "value": round(share, 4),
                         "unit": "share", "how": how})
        for factor in (2, 5):
            new, old = simulate(rng, args.canaries, looks, p, p * factor)
            for name, idx in (("verdict", verdict_alarm(new, old)),
                              ("threshold", threshold_alarm(new)), ("Flagger-style", flagger_alarm(new))):
                share, median, p90 = summary(idx)
                rows.append({"figure": f"time to detect {factor}x ({p:.1%} -> {p * factor:.1%}): {name}",
                             "goal": "-", "value": fmt(median), "unit": "s median",
                             "how": f"p90 {fmt(p90)} s; detected in {share:.1%} of canaries within {args.minutes:g} "
                                    f"min; " + how})
    lat_looks = min(looks, 120)
    for scale, label in ((1.0, "A/A latency false alarms"), (1.3, "time to detect +30 % latency")):
        idx = latency_alarm(rng, args.latency_canaries, lat_looks if scale > 1 else looks, scale)
        share, median, p90 = summary(idx)
        lhow = (f"{args.latency_canaries} simulated canaries, lognormal latencies (median 20 ms, sigma 0.35) binned as "
                f"the sketch bins them, Mann-Whitney / Hodges-Lehmann on the 300 s window, tolerance 20 %, read every 5 s")
        if scale == 1.0:
            rows.append({"figure": label, "goal": f"<= {ALPHA}", "value": round(share, 4), "unit": "share",
                         "how": lhow + f" for {args.minutes:g} min"})
        else:
            rows.append({"figure": label, "goal": "-", "value": fmt(median), "unit": "s median",
                         "how": f"p90 {fmt(p90)} s; detected in {share:.1%}; " + lhow})
    emit(rows, args.json)


if __name__ == "__main__":
    main()
