"""Alert rules from the plan's thresholds, with hysteresis.

A value crossing a level raises (or raises the level of) an alert; an alert only clears, or steps
down, once the value is back past its level by a margin of HYSTERESIS (10 %) of the band between
the warning and critical levels (or past the plan's `clear` level), so a value hovering at a
threshold does not flood the feed. With `for_seconds`, a raise and a clear each wait until the
values have asked for them that long without a break. Pure logic: the monitor turns
the transitions into `alert.raised` / `alert.cleared` events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mdm_console.plan.models import Levels

HYSTERESIS = 0.10
RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}


@dataclass(frozen=True)
class Rule:
    metric: str  # error_rate | latency_p99_ms | success_rate | cpu_percent | memory_percent
    levels: Levels
    below: bool = False  # success rate alerts when it falls *below* its levels

    def level_for(self, value: float, active: str | None) -> str | None:
        """The level this value deserves, given the level already active (hysteresis): a level is entered past its
        limit and left only back past the margin (for warning: past `clear` when the plan sets it)."""
        margin = HYSTERESIS * abs(self.levels.critical - self.levels.warning)
        for level in ("critical", "warning"):
            limit = getattr(self.levels, level)
            holding = active is not None and RANK[active] >= RANK[level]
            back = limit + margin if self.below else limit - margin
            if level == "warning" and self.levels.clear is not None:
                back = self.levels.clear
            if self.below:
                if value < (back if holding else limit):
                    return level
            elif value > (back if holding else limit):
                return level
        return None


@dataclass(frozen=True)
class Transition:
    alert: str  # id, e.g. "error_rate:storage"
    level: str | None  # None: cleared
    message: str
    value: float | None  # None: cleared for want of evidence
    threshold: float | None
    component: str | None = None  # whose alert it is (None: the host's, a feed's, the session's)


UNITS = {"error_rate": "ratio", "success_rate": "ratio", "latency_p99_ms": "ms", "cpu_percent": "%",
         "memory_percent": "%"}


def human(metric: str, value: float) -> str:
    """A figure in the unit people read: ratios as percentages ("29.17 %"), latencies in ms."""
    unit = UNITS.get(metric, "")
    if unit == "ratio":
        return f"{value * 100:.2f} %"
    return f"{value:.0f} {unit}".rstrip()


def describe(metric: str, subject: str, value: float, level: str, rule: Rule) -> tuple[str, float]:
    limit = rule.levels.critical if level == "critical" else rule.levels.warning
    op = "<" if rule.below else ">"
    return f"{subject} {metric} {human(metric, value)} {op} {level} level {human(metric, limit)}", limit


class AlertBook:
    """Which alerts are active at which level; `judge` returns what changed."""

    def __init__(self, active: dict[str, str] | None = None):
        self.active: dict[str, str] = dict(active or {})
        self.pending: dict[str, tuple[str | None, float]] = {}  # alert -> (the level its values ask for, since)

    def judge(self, alert: str, subject: str, rule: Rule, value: float | None,
              now: float | None = None, component: str | None = None) -> Transition | None:
        """The transition, if any: a new level (raised, stepped, cleared) only once the values have asked for it
        for the rule's `for_seconds` without a break (no flapping at a threshold)."""
        current = self.active.get(alert)
        if value is None:
            return None  # no data is judged by staleness, not by thresholds
        level = rule.level_for(value, current)
        if level == current:
            self.pending.pop(alert, None)  # back where it was: any change under way starts over
            return None
        now = time.monotonic() if now is None else now
        asked = self.pending.get(alert)
        if asked is None or asked[0] != level:
            asked = self.pending[alert] = (level, now)
        held = now - asked[1]
        if held < rule.levels.for_seconds:
            return None
        self.pending.pop(alert, None)
        during = f" for {held:.0f} s" if rule.levels.for_seconds else ""
        if level is None:
            del self.active[alert]
            return Transition(alert, None, f"{subject} {rule.metric} back to {human(rule.metric, value)}{during}",
                              value, None, component)
        self.active[alert] = level
        message, limit = describe(rule.metric, subject, value, level, rule)
        return Transition(alert, level, message + during, value, limit, component)

    def no_evidence(self, alert: str, why: str, component: str | None = None) -> Transition | None:
        """An active alert whose evidence is gone (no traffic on its path, too few operations in its stage) clears,
        saying why: no alert outlives the data it was raised on."""
        self.pending.pop(alert, None)
        if alert not in self.active:
            return None
        del self.active[alert]
        return Transition(alert, None, why, None, None, component)

    def set_condition(self, alert: str, level: str | None, message: str) -> Transition | None:
        """A yes/no condition (a stale feed): raised at `level` or cleared."""
        current = self.active.get(alert)
        if level == current:
            return None
        if level is None:
            del self.active[alert]
        else:
            self.active[alert] = level
        return Transition(alert, level, message, 0.0, None)
