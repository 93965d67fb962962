"""The validator runner: worker tasks with bounded concurrency, timeouts, cancel, batches.

Every result is an event (`validator.started`, `validator.result`), framed by
`validation.started` / `validation.finished`. Batches run in order of risk; a failed
critical validator stops the batches after it, and the skipped ones say why.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mdm_console.plan.models import Validator
from mdm_console.validators.base import Context, Outcome
from mdm_console.validators.kinds import checker
from mdm_console.redact import redact_obj, redact_text, secret_values
from mdm_console import pools

if TYPE_CHECKING:
    from mdm_console.engine.core import Engine

RISK_ORDER = {"low": 0, "medium": 1, "high": 2}
OUTPUT_IN_EVENT = 4096
DEFAULT_CONCURRENCY = 128  # validators mostly wait (processes, sockets); threads are bounded separately


class ValidationError(Exception):
    pass


@dataclass
class RunSummary:
    run_id: str
    phase: str
    results: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None
    duration_ms: float = 0.0

    @property
    def critical_failures(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["critical"] and r["status"] != "passed"]

    @property
    def ok(self) -> bool:
        return not self.critical_failures

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r["status"]] = out.get(r["status"], 0) + 1
        return out


def batches(validators: list[Validator]) -> list[tuple[str, list[Validator]]]:
    """Group by `batch` (unbatched ones by risk), ordered by the batch's highest risk."""
    groups: dict[str, list[Validator]] = {}
    for v in validators:
        groups.setdefault(v.batch or f"{v.risk} risk", []).append(v)
    order = list(groups)
    return sorted(groups.items(), key=lambda kv: (max(RISK_ORDER[v.risk] for v in kv[1]), order.index(kv[0])))


class ValidationRunner:
    def __init__(self, engine: Engine, concurrency: int = DEFAULT_CONCURRENCY):
        self.engine = engine
        self.concurrency = concurrency
        self.running: dict[str, asyncio.Task] = {}
        self._cancel_all = False
        self._on_result: Callable[[dict[str, Any]], Awaitable[None] | None] | None = None

    def select(self, phase: str | None, only: list[str] | None) -> list[Validator]:
        plan = self.engine.plan
        if only:
            known = {v.id: v for v in plan.validators}
            unknown = [i for i in only if i not in known]
            if unknown:
                raise ValidationError(f"unknown validator(s): {', '.join(unknown)}")
            return [known[i] for i in only]
        return [v for v in plan.validators if phase is None or phase in v.phases]

    def context(self, v: Validator) -> Context:
        e = self.engine
        recorded = {c.flag_key: (c.id, e.state.components[c.id].stage, e.state.components[c.id].percent)
                    for c in e.plan.components}
        return Context(base_dir=e.loaded.base_dir, flag_file=e.loaded.flag_file, recorded=recorded,
                       timeout=v.timeout_seconds)

    async def run(self, phase: str = "preflight", only: list[str] | None = None,
                  on_result: Callable[[dict[str, Any]], Awaitable[None] | None] | None = None) -> RunSummary:
        """Run the validators of `phase` (or `only` these); `on_result` hears each result as it is recorded."""
        chosen = self.select(phase, only)
        self._on_result = on_result
        run_id = uuid.uuid4().hex[:10]
        summary = RunSummary(run_id, phase)
        groups = batches(chosen)
        self._cancel_all = False
        t0 = time.perf_counter()
        await self.engine.record("validation.started", None, {
            "run": run_id, "phase": phase, "only": only or [], "validators": [v.id for v in chosen],
            "batches": [[name, [v.id for v in vs]] for name, vs in groups]})
        sem = asyncio.Semaphore(self.concurrency)
        for n, (name, members) in enumerate(groups):
            if summary.stopped:
                for v in members:
                    summary.results.append(await self._record(run_id, phase, name, v, Outcome(
                        "skipped", summary.stopped), None))
                continue
            tasks = [asyncio.create_task(self._guarded(sem, run_id, phase, name, v), name=v.id) for v in members]
            for v, t in zip(members, tasks):
                self.running[v.id] = t
            try:
                results = await asyncio.gather(*tasks)
            finally:
                for v in members:
                    self.running.pop(v.id, None)
            summary.results.extend(results)
            bad = [r for r in results if r["critical"] and r["status"] != "passed"]
            later = [g for g, _ in groups[n + 1:]]
            if self._cancel_all and later:
                summary.stopped = "cancelled by the operator"
            elif bad and later:
                summary.stopped = (f"batch '{name}' stopped the run: critical check "
                                   f"{', '.join(r['id'] for r in bad)} {bad[0]['status']}")
        summary.duration_ms = round((time.perf_counter() - t0) * 1000, 1)
        await self.engine.record("validation.finished", None, {
            "run": run_id, "phase": phase, "only": only or [], "ok": summary.ok, "counts": summary.counts(),
            "critical_failures": [r["id"] for r in summary.critical_failures], "stopped": summary.stopped,
            "duration_ms": summary.duration_ms})
        return summary

    def cancel(self, validator_id: str) -> bool:
        task = self.running.get(validator_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    def cancel_all(self) -> int:
        self._cancel_all = True
        return sum(self.cancel(vid) for vid in list(self.running))

    async def _guarded(self, sem: asyncio.Semaphore, run_id: str, phase: str, batch: str, v: Validator):
        try:
            async with sem:
                await self.engine.record("validator.started", None, {"run": run_id, "id": v.id, "kind": v.kind})
                t0 = time.perf_counter()
                outcome = await self._check(v)
                elapsed = (time.perf_counter() - t0) * 1000
        except asyncio.CancelledError:
            # This validator's task was cancelled (x key / cancel-all); its processes are gone.
            return await self._record(run_id, phase, batch, v, Outcome("cancelled", "cancelled by the operator"),
                                      None)
        return await self._record(run_id, phase, batch, v, outcome, elapsed)

    async def _check(self, v: Validator) -> Outcome:
        try:
            params = v.typed_params()
            # Kinds that run processes kill them at the timeout; this is the backstop for the rest.
            return await asyncio.wait_for(checker(v.kind)(params, self.context(v)), v.timeout_seconds + 1.0)
        except TimeoutError:
            return Outcome("timeout", f"no result within {v.timeout_seconds:g} s")
        except Exception as exc:  # noqa: BLE001 - a validator never crashes the runner
            return Outcome("error", f"{type(exc).__name__}: {exc}")

    async def _record(self, run_id: str, phase: str, batch: str, v: Validator, o: Outcome,
                      elapsed_ms: float | None) -> dict[str, Any]:
        status, detail = o.status, o.detail
        # The baseline judges what the kind timed (a query's own execution) when it did, else the whole check.
        judged, what = (o.timed_ms, "the query took") if o.timed_ms is not None else (elapsed_ms, "took")
        if status == "passed" and v.max_ms is not None and judged is not None and judged > v.max_ms:
            over = judged - v.max_ms
            status = "failed"
            detail = (f"{detail}; but {what} {judged:.1f} ms, over the {v.max_ms:g} ms baseline by "
                      f"{over:.1f} ms ({over / v.max_ms * 100:.0f} %)")
        # Capped first, then masked off the event loop: a validator's answer can be any size.
        masked_detail, measured, tail = await pools.CLEANUP.run(
            _masked, detail, o.measured, o.output[-OUTPUT_IN_EVENT:], secret_values(v.params))
        result = {
            "run": run_id, "id": v.id, "kind": v.kind, "phase": phase, "batch": batch, "critical": v.critical,
            "status": status, "duration_ms": None if elapsed_ms is None else round(elapsed_ms, 2),
            "max_ms": v.max_ms, "detail": masked_detail, "measured": measured, "output_tail": tail,
        }
        await self.engine.record("validator.result", None, result)
        if self._on_result is not None:
            try:
                heard = self._on_result(result)
                if heard is not None:
                    await heard
            except Exception:  # noqa: BLE001 - a listener that went away (a client hung up) stops nothing
                self._on_result = None
        return result


MAX_DETAIL = 4000  # characters of a result's detail kept in the log
MAX_VALUE = 1000  # characters of any one measured string
MAX_ITEMS = 100  # entries of any one measured list or table


def cap(obj: Any, depth: int = 0) -> Any:
    """A copy bounded in size: long strings cut (saying how long they were), long lists and tables cut,
    nesting beyond 8 levels summarised."""
    if isinstance(obj, str):
        return obj if len(obj) <= MAX_VALUE else obj[:MAX_VALUE] + f"… ({len(obj)} characters)"
    if depth >= 8 and isinstance(obj, dict | list | tuple):
        return f"({type(obj).__name__} nested too deep to keep)"
    if isinstance(obj, dict):
        items = list(obj.items())
        out = {cap(str(k)): cap(v, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["…"] = f"{len(items) - MAX_ITEMS} more"
        return out
    if isinstance(obj, list | tuple):
        out = [cap(v, depth + 1) for v in obj[:MAX_ITEMS]]
        if len(obj) > MAX_ITEMS:
            out.append(f"… {len(obj) - MAX_ITEMS} more")
        return out
    return obj


def _masked(detail: str, measured: dict[str, Any], tail: str, secrets: set[str]) -> tuple[str, Any, str]:
    if len(detail) > MAX_DETAIL:
        detail = detail[:MAX_DETAIL] + f"… ({len(detail)} characters)"
    return redact_text(detail, secrets), redact_obj(cap(measured)), redact_text(tail, secrets)
