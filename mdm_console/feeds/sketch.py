"""A mergeable quantile sketch with a relative error bound (the DDSketch method).

Values are counted in logarithmic buckets of ratio gamma = (1 + a) / (1 - a); a quantile is
answered with its bucket's midpoint, which is within a relative error `a` of the true value
of that rank (ALPHA = 1 %). Buckets merge by addition, so 5-second sketches add up to a window.
"""

from __future__ import annotations

import math
from collections import Counter

ALPHA = 0.01
_GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(_GAMMA)
MIN_VALUE = 1e-3  # values below (in ms: under a microsecond) share one bucket


class Sketch:
    __slots__ = ("buckets", "count", "zero")

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.zero = 0

    def add(self, value: float, weight: int = 1) -> None:
        if value <= MIN_VALUE:
            self.zero += weight
        else:
            self.buckets[math.ceil(math.log(value) / _LOG_GAMMA)] += weight
        self.count += weight

    def add_many(self, values: list[float]) -> None:
        """`add` for each of `values` (the same buckets), at a fraction of the cost per value."""
        log, ceil, lg, low = math.log, math.ceil, _LOG_GAMMA, MIN_VALUE
        keys = [ceil(log(v) / lg) for v in values if v > low]
        self.buckets.update(keys)  # Counter counts an iterable in C
        self.zero += len(values) - len(keys)
        self.count += len(values)

    def merge(self, other: Sketch) -> None:
        self.buckets.update(other.buckets)
        self.count += other.count
        self.zero += other.zero

    def subtract(self, other: Sketch) -> None:
        """Take out what `other` added (a sketch merged into this one before): a bucket left at nothing is gone,
        so the sketch is the one a merge of the rest would have made."""
        buckets = self.buckets
        for key, n in other.buckets.items():
            left = buckets[key] - n
            if left:
                buckets[key] = left
            else:
                del buckets[key]
        self.count -= other.count
        self.zero -= other.zero

    def quantile(self, q: float) -> float | None:
        return self.quantiles(q)[0]

    def quantiles(self, *qs: float) -> list[float | None]:
        """`quantile` of each of `qs`, the buckets sorted once."""
        if self.count == 0:
            return [None] * len(qs)
        keys = sorted(self.buckets)
        return [self._at(q, keys) for q in qs]

    def _at(self, q: float, keys: list[int]) -> float:
        rank = q * (self.count - 1)
        seen = self.zero
        if rank < seen:
            return 0.0
        for key in keys:
            seen += self.buckets[key]
            if rank < seen:
                return 2 * _GAMMA**key / (_GAMMA + 1)
        return 2 * _GAMMA ** keys[-1] / (_GAMMA + 1)
