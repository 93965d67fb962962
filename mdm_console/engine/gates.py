"""Gates for advancing a component out of its stage.

Gate inputs come from a `HealthView` (the live-health windows implement it; tests pass a
fake). Traffic gates judge the operations observed on the component's *new* path since
its current stage began; at a 0 % stage nothing is routed there, so they do not apply.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from mdm_console.feeds.base import StageCounters  # noqa: F401 - what a HealthView answers (defined by the feeds)
from mdm_console.plan.models import Gate

if TYPE_CHECKING:
    from mdm_console.verdict import ComponentVerdict


class HealthView(Protocol):
    def stage_counters(self, component: str, since: datetime) -> StageCounters | None:
        """None when the console has no metrics source for this component."""


@dataclass(frozen=True)
class GateResult:
    name: str  # success_rate | error_rate | operations | stage_time
    ok: bool
    value: float | None  # the measured value; None when it could not be judged
    threshold: float
    comparison: str  # ">=" or "<="
    reason: str  # why it holds or fails, with the figure
    measured_at: str | None = None  # ISO time of the data the value came from

    def line(self) -> str:
        return f"{self.name}: {'ok' if self.ok else 'FAIL'} - {self.reason}"

    def as_dict(self) -> dict:
        # Flat fields: a shallow dict is asdict()'s result without its deep copies (`status` turns 5 gates of
        # every component into dicts: at 400 components asdict was a third of the snapshot).
        return {f: getattr(self, f) for f in _GATE_FIELDS}


_GATE_FIELDS = tuple(f.name for f in fields(GateResult))


def _feed_gate(counters: StageCounters | None, now: datetime) -> GateResult:
    """No blind canary: leaving 0 % needs a feed that is live now (figures younger than the stale limit; at 0 %
    they are the old path's), or nothing would see the new path's errors. An override records going blind."""
    if counters is None:
        return GateResult("feed", False, None, 0.0, "live",
                          "no metric feed is running (the plan has none, or nothing reads it): nothing would see "
                          "the canary's errors")
    if counters.stale_reason:
        return GateResult("feed", False, None, 0.0, "live", f"stale: {counters.stale_reason}")
    if counters.measured_at is None:
        return GateResult("feed", False, None, 0.0, "live",
                          "no figures from the feed yet: nothing would see the canary's errors")
    age = max(0.0, (now - counters.measured_at).total_seconds())
    return GateResult("feed", True, round(age, 1), 0.0, "live", f"live: the newest figure is {age:.0f} s old",
                      counters.measured_at.isoformat())


def _pct(x: float) -> str:
    return f"{x * 100:.2f} %"


def evaluate(gate: Gate, *, percent: float, stage_since: datetime, now: datetime,
             counters: StageCounters | None, clock_stepped_at: datetime | None = None,
             held: dict | None = None, verdict: ComponentVerdict | None = None,
             alerts: list[dict] | None = None) -> list[GateResult]:
    """`clock_stepped_at`: when the wall clock last jumped; stage time counts from then if that is later
    (time measured across a step cannot be trusted, so the time gate does not pass across it).
    `held`: the hold an automatic rollback put on the component ({"reason", "ts", "seq"}): a gate that fails
    until a person retries with a reason (an override), so nothing advances it back into a known fault.
    `verdict`: the canary verdict (`gate.verdict`: it must say "no regression detected"; `gate.no_regression`: it
    must not say "regression"). `alerts`: the component's active alerts (`gate.no_critical_alerts`)."""
    results: list[GateResult] = []
    if held:
        how = "automatic rollback" if held.get("automatic", True) else f"rollback by {held.get('by') or 'a person'}"
        results.append(GateResult(
            "hold", False, None, 0.0, "=",
            f"held since the {how} at {str(held.get('ts', ''))[11:19]} UTC ({held.get('reason', '')}); "
            "a person retries it with a reason", str(held.get("ts") or "") or None))
    if gate.no_critical_alerts:
        results.append(_alert_gate(alerts or []))
    timed_from = stage_since
    note = ""
    if clock_stepped_at is not None and clock_stepped_at > stage_since:
        timed_from = clock_stepped_at
        note = f" (counted from the clock step at {clock_stepped_at:%H:%M:%S} UTC)"
    elapsed = max(0.0, (now - timed_from).total_seconds())
    results.append(GateResult(
        "stage_time", elapsed >= gate.min_stage_seconds, round(elapsed, 1), gate.min_stage_seconds, ">=",
        f"{elapsed:.0f} s in stage, needs {gate.min_stage_seconds:g} s{note}", now.isoformat()))

    if percent <= 0:
        results.append(_feed_gate(counters, now))
        for name, thr, cmp in (("success_rate", gate.min_success_rate, ">="),
                               ("error_rate", gate.max_error_rate, "<="),
                               ("operations", float(gate.min_operations), ">=")) + (
                (("verdict", 0.0, "="),) if gate.verdict else ()):
            results.append(GateResult(name, True, None, thr, cmp, "not applicable: no traffic is routed at 0 %"))
        return results
    if gate.verdict:
        results.append(_verdict_gate(verdict))
    if gate.no_regression:
        regressed = verdict is not None and verdict.verdict == "regression"
        results.append(GateResult("no_regression", not regressed, verdict.errors.diff if verdict else None, 0.0,
                                  "!=", f"the canary verdict says {verdict.text()}" if regressed else
                                  ("no regression found" + (f" ({verdict.text()})" if verdict else " (no verdict yet)"))))

    why_not: str | None = None
    measured = None
    if counters is None:
        why_not = "no data: no metrics feed is running for this component"
    else:
        measured = counters.measured_at.isoformat() if counters.measured_at else None
        if counters.stale_reason:
            why_not = f"stale: {counters.stale_reason}"
        elif counters.operations == 0:
            why_not = "no data: no operations observed on the new path in this stage"
            if counters.unknown:
                why_not += (f"; {counters.unknown} came without a variant, so nothing says which path served them "
                            "(each metric line needs \"variant\": \"new\" or \"old\")")
    if why_not:
        for name, thr, cmp in (("success_rate", gate.min_success_rate, ">="),
                               ("error_rate", gate.max_error_rate, "<="),
                               ("operations", float(gate.min_operations), ">=")):
            value = float(counters.operations) if (name == "operations" and counters) else None
            results.append(GateResult(name, False, value, thr, cmp, why_not, measured))
        return results

    ops = counters.operations
    success = counters.successes / ops
    error = counters.errors / ops
    results.append(GateResult("success_rate", success >= gate.min_success_rate, success, gate.min_success_rate,
                              ">=", f"{_pct(success)} of {ops} ops, needs >= {_pct(gate.min_success_rate)}",
                              measured))
    results.append(GateResult("error_rate", error <= gate.max_error_rate, error, gate.max_error_rate, "<=",
                              f"{_pct(error)} of {ops} ops, needs <= {_pct(gate.max_error_rate)}", measured))
    results.append(GateResult("operations", ops >= gate.min_operations, float(ops), float(gate.min_operations),
                              ">=", f"{ops} ops in stage, needs {gate.min_operations}"
                              + (f" ({counters.unknown} more without a variant, not counted)" if counters.unknown
                                 else ""), measured))
    return results


def _alert_gate(alerts: list[dict]) -> GateResult:
    """Holds while no critical alert of the component is active (the reason names them); says the warnings too,
    which keep auto-advance waiting (RolloutControl.auto_tick)."""
    critical = [a for a in alerts if a.get("level") == "critical"]
    warned = [a for a in alerts if a.get("level") in ("warning", "error")]
    if critical:
        names = ", ".join(str(a.get("alert")) for a in critical[:3]) + (", ..." if len(critical) > 3 else "")
        return GateResult("alerts", False, float(len(critical)), 0.0, "=",
                          f"{len(critical)} critical alert(s) active: {names}", critical[0].get("ts"))
    extra = (f"; {len(warned)} warning(s) active ({', '.join(str(a.get('alert')) for a in warned[:3])}): "
             "auto-advance waits" if warned else "")
    return GateResult("alerts", True, 0.0, 0.0, "=", "no critical alert active" + extra)


def component_alerts(alerts: dict[str, dict], component: str) -> list[dict]:
    """The active alerts that are `component`'s: recorded with it, or (events written before alerts carried their
    component) named after it."""
    return [a for aid, a in alerts.items() if a.get("component") == component
            or (a.get("component") is None and aid.endswith(f":{component}"))]


def _verdict_gate(verdict: ComponentVerdict | None) -> GateResult:
    """Holds when the canary verdict is "no regression detected" (enough data on both paths, no regression)."""
    if verdict is None:
        return GateResult("verdict", False, None, 0.0, "=", "no verdict yet: the live feed has not judged this stage")
    ok = verdict.verdict == "no regression detected"
    return GateResult("verdict", ok, verdict.errors.diff, 0.0, "=", verdict.text())
