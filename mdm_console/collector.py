"""When the console runs Python's full garbage collection: in a pause between keys, where it can.

Textual makes reference cycles whenever a widget is restyled (throwaway style nodes, one per component
class), and only a full collection frees the ones that lived long enough to be promoted. Left to
Python's trigger alone, a full pass came at whatever moment the counters said: under load every ~8 s
and ~130 ms with the default thresholds, and with raised thresholds rarer but up to 540 ms, RSS climbing
with the garbage (benchmarks/soak.py, benchmarks/keys.py). So the app's once-a-second tick calls
`maybe_collect`: a full pass once keys have been pressed (they are what makes the garbage) and none for
`quiet` seconds, at most every `every` seconds; with no keys at all, one every `idle_every` seconds for
whatever the engine made. Python's own trigger stays as it is for an operator who never pauses: with
the footer no longer rebuilt on every switch (ui/widgets/footer.py) its passes are short.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

# Python's defaults: short young passes. Raising them (5000, 20) made young passes of up to 120 ms.
THRESHOLDS = (700, 10, 10)


def tune() -> None:
    """What start-up built lives as long as the console: out of every pass (freeze); set the thresholds."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


class IdleCollector:
    def __init__(self, every: float = 10.0, quiet: float = 1.0, idle_every: float = 300.0,
                 clock: Callable[[], float] = time.monotonic, collect: Callable[[], object] = gc.collect):
        self.every, self.quiet, self.idle_every = every, quiet, idle_every
        self._clock, self._collect = clock, collect
        self._last_input = float("-inf")
        self._last_collect = clock()
        self._dirty = False
        self.passes = 0
        self.longest_ms = 0.0

    def note_input(self) -> None:
        """A key or click: garbage is being made, and the operator is at the keyboard."""
        self._last_input = self._clock()
        self._dirty = True

    @property
    def pending(self) -> bool:
        """Keys were pressed since the last full pass."""
        return self._dirty

    def maybe_collect(self) -> bool:
        now = self._clock()
        since = now - self._last_collect
        due = (self._dirty and since >= self.every and now - self._last_input >= self.quiet) \
            or since >= self.idle_every
        if not due:
            return False
        t0 = time.perf_counter()
        self._collect()
        self.longest_ms = max(self.longest_ms, (time.perf_counter() - t0) * 1000)
        self.passes += 1
        self._last_collect, self._dirty = self._clock(), False
        return True
