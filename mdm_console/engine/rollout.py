"""The stage machine: advance (with gates), step back, auto-advance, the flag file and its drift."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mdm_console import pools
from mdm_console.engine import effects
from mdm_console.engine.effects import Change
from mdm_console.engine.gates import component_alerts, GateResult, evaluate
from mdm_console.flags.flagfile import (
    UNREADABLE, FlagFileError, effective_percent, read_flags, remove_stale_temp_files, sha256_file,
)

if TYPE_CHECKING:
    from mdm_console.engine.core import Engine

DRIFT_ALERT = "flags.drift"
ADOPT_HINT = "advance --adopt-flag-file REASON, or 'Adopt the flag file' in the console's ctrl+p"


class RolloutError(Exception):
    """A request that cannot be carried out (unknown component, last stage, ...)."""


class Moved(RolloutError):
    """What the person (or the request) saw is no longer so: the component's stage moved first."""


@dataclass
class AdvanceResult:
    component: str
    from_stage: str
    to_stage: str
    to_percent: float
    gates: list[GateResult]
    done: bool = False
    blocked: bool = False
    dry_run: bool = False
    override: str | None = None
    flag_diff: str = ""
    events: list = field(default_factory=list)

    @property
    def failing(self) -> list[GateResult]:
        return [g for g in self.gates if not g.ok]


@dataclass(frozen=True)
class DriftStatus:
    drifted: bool
    on_disk: str | None  # sha256, None when the file is missing
    expected: str | None
    detail: str

    @property
    def foreign(self) -> bool:
        """A flag file is there that this session never wrote: only an explicit adoption may replace it."""
        return self.drifted and self.expected is None and self.on_disk is not None


def stat_key(path) -> tuple[int, int, int, int] | None:
    """What changes when a file is written or replaced (None: it is not there)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


class RolloutControl:
    def __init__(self, engine: Engine):
        self.engine = engine

    # ---- reading ------------------------------------------------------------------------
    def _component(self, component_id: str):
        try:
            return self.engine.plan.component(component_id)
        except KeyError:
            known = ", ".join(c.id for c in self.engine.plan.components)
            raise RolloutError(f"unknown component '{component_id}' (the plan has {known})") from None

    def stage_since(self, component_id: str) -> datetime:
        st = self.engine.state
        since = st.components[component_id].stage_since or st.started_at
        return datetime.fromisoformat(since) if since else self.engine.now()

    def gates(self, component_id: str, now: datetime | None = None) -> list[GateResult]:
        self._component(component_id)
        now = now or self.engine.now()
        comp = self.engine.state.components[component_id]
        since = self.stage_since(component_id)
        health = self.engine.health
        counters = health.stage_counters(component_id, since) if health is not None else None
        stepped = self.engine.state.clock_stepped_at
        gate = self.engine.plan.gate_for(component_id)
        judge = getattr(health, "verdict", None) if (gate.verdict or gate.no_regression) else None
        return evaluate(gate, percent=comp.percent, stage_since=since, now=now, counters=counters,
                        clock_stepped_at=datetime.fromisoformat(stepped) if stepped else None, held=comp.held,
                        verdict=judge(component_id) if judge else None,
                        alerts=component_alerts(self.engine.state.alerts, component_id))

    def expect(self, component_id: str, stage: str | None) -> None:
        """Compare-and-set: refuse, naming who moved it and when, unless the component is still at `stage`
        (None: no expectation)."""
        comp = self.engine.state.components[component_id]
        if stage is None or comp.stage == stage:
            return
        if not comp.stage_seq or not comp.stage_since:
            raise Moved(f"{component_id} is at {comp.stage} ({comp.percent:g} %), not {stage}: look again")
        at = datetime.fromisoformat(comp.stage_since)
        ago = max(0.0, (self.engine.now() - at).total_seconds())
        raise Moved(f"{component_id} moved to {comp.stage} ({comp.percent:g} %) by {comp.stage_by or 'someone'} at "
                    f"{at:%H:%M:%S} UTC, {_ago(ago)} ago (seq {comp.stage_seq}, {comp.stage_how or 'a change'}); "
                    f"you saw {stage}: look again")

    def next_stage(self, component_id: str) -> tuple[str, float] | None:
        plan = self.engine.plan
        idx = plan.stage_index(self.engine.state.components[component_id].stage)
        if idx + 1 >= len(plan.stages):
            return None
        s = plan.stages[idx + 1]
        return s.name, s.percent

    # ---- moving ---------------------------------------------------------------------------
    async def advance(self, component_id: str, *, override: str | None = None, reason: str = "",
                      dry_run: bool = False, how: str = "advance", expect_stage: str | None = None) -> AdvanceResult:
        self._component(component_id)
        self.expect(component_id, expect_stage)
        comp = self.engine.state.components[component_id]
        nxt = self.next_stage(component_id)
        if nxt is None:
            raise RolloutError(f"{component_id} is already at the last stage '{comp.stage}'")
        gates = self.gates(component_id)
        result = AdvanceResult(component_id, comp.stage, nxt[0], nxt[1], gates, dry_run=dry_run)
        override = (override or "").strip() or None
        if (how == "advance" and not dry_run and self.engine.plan.gate_for(component_id).require_reason
                and not (reason.strip() or override)):
            raise RolloutError(f"the plan requires a reason for every advance: say why {component_id} goes to "
                               f"{nxt[0]} ({nxt[1]:g} %)")
        if result.failing and not override:
            result.blocked = True
            if not dry_run:
                await self.engine.record("advance.refused", component_id, {
                    "from": comp.stage, "to": nxt[0], "failing": [g.as_dict() for g in result.failing]})
            return result
        change = Change(component_id, comp.stage, nxt[0], comp.percent, nxt[1])
        if dry_run:
            result.flag_diff = await self.flag_diff([change])
            result.override = override if result.failing else None
            return result
        extra: dict[str, Any] = {"how": how, "reason": reason, "gates": {component_id: [g.as_dict() for g in gates]}}
        if result.failing:
            extra["override"] = override
            await self.engine.record("gate.override", component_id, {
                "from": comp.stage, "to": nxt[0], "reason": override, "failing": [g.as_dict() for g in result.failing]})
            if comp.held:  # the person's retry after an automatic rollback
                await self.engine.record("hold.released", component_id, {
                    "reason": override, "rollback_seq": comp.held.get("seq"), "held_reason": comp.held.get("reason")})
            result.override = override
        result.events = await self.change([change], action=how, extra=extra, label=f"before {how} {component_id}")
        result.done = True
        return result

    async def step_back(self, component_id: str, *, reason: str = "", dry_run: bool = False,
                        expect_stage: str | None = None) -> Change:
        self._component(component_id)
        self.expect(component_id, expect_stage)
        comp = self.engine.state.components[component_id]
        idx = self.engine.plan.stage_index(comp.stage)
        if idx == 0:
            raise RolloutError(f"{component_id} is already at the first stage '{comp.stage}'")
        prev = self.engine.plan.stages[idx - 1]
        change = Change(component_id, comp.stage, prev.name, comp.percent, prev.percent)
        if not dry_run:
            await self.change([change], action="step_back", extra={"how": "step_back", "reason": reason},
                              label=f"before step back {component_id}")
        return change

    async def change(self, changes: list[Change], *, action: str, extra: dict[str, Any], label: str,
                     restore: list[dict[str, Any]] | None = None, overwrite_drift: bool = False,
                     write_flags: bool = True):
        """Point -> intent -> flag file (+ restored files) -> stage events + done. One at a time.

        Refuses while the flag file holds someone else's edit, unless the caller is the
        operator's explicit "put it back" (a restore or a rollback).
        """
        async with self.engine.effects_lock:
            lost = await pools.WATCH.run(self.engine.store.file_problem)
            if lost:
                raise RolloutError(f"refusing to change anything: {lost}")
            self.refuse_while_intents_open()
            for ch in changes:  # computed before the lock: another change may have moved it since
                self.expect(ch.component, ch.from_stage)
            drift = await self.check_drift()
            if drift.foreign:
                raise RolloutError(f"{drift.detail}; it is never overwritten unless you adopt it "
                                   f"({ADOPT_HINT}), which keeps its content in a rollback point")
            if drift.drifted and not overwrite_drift:
                raise RolloutError(f"{drift.detail}; restore the flag file (or roll back) before changing stages")
            if write_flags:
                await self.probe_writable()
            point = await effects.take_point(self.engine, label, auto=True, reason=extra.get("reason", ""))
            done = await effects.perform(self.engine, action=action, changes=changes, restore=restore or [],
                                         before_point=point, extra=extra, write_flags=write_flags)
            if drift.drifted and write_flags:
                await self.check_drift()  # a restore or rollback that put the file back clears the alert
            return done

    async def probe_writable(self) -> None:
        """EffectError, with nothing recorded, when the flag file cannot be written now (a read-only or full
        file system, a directory that is not ours to write)."""
        path = self.engine.loaded.flag_file
        try:
            await pools.WATCH.run(effects.probe_dir, path)
        except OSError as exc:
            raise effects.EffectError(f"cannot write the flag file {path} ({exc.strerror or exc}); nothing was "
                                      "changed") from None

    def refuse_while_intents_open(self) -> None:
        if self.engine.state.open_intents:
            ids = ", ".join(self.engine.state.open_intents)
            raise RolloutError(f"an earlier change did not finish (intent {ids}); reconcile it first")

    async def set_auto_advance(self, component_id: str, enabled: bool, reason: str = "",
                               expect_stage: str | None = None) -> None:
        """Pause or resume auto-advance. Resuming a component a rollback holds needs a reason, and that reason
        releases the hold (recorded): a person has judged that it may walk forward again."""
        self._component(component_id)
        self.expect(component_id, expect_stage)
        comp = self.engine.state.components[component_id]
        reason = reason.strip()
        if enabled and comp.held:
            if not reason:
                raise RolloutError(f"{component_id} is held since a rollback ({comp.held.get('reason', '')}): say why "
                                   "auto-advance may move it again")
            await self.engine.record("hold.released", component_id, {
                "reason": reason, "rollback_seq": comp.held.get("seq"), "held_reason": comp.held.get("reason")})
        await self.engine.record("auto_advance.set", component_id, {"enabled": enabled, "reason": reason})

    async def auto_tick(self) -> list[AdvanceResult]:
        """Advance every auto-advance component whose gates all hold, never past the first 100 % stage."""
        done = []
        ceiling = next(n for n, s in enumerate(self.engine.plan.stages) if s.percent >= 100) \
            if any(s.percent >= 100 for s in self.engine.plan.stages) else len(self.engine.plan.stages) - 1
        if self.engine.state.open_intents or DRIFT_ALERT in self.engine.state.alerts:
            return done  # a person has to look first: no automatic change on top of a drift or an open intent
        for cid, comp in self.engine.state.components.items():
            if not comp.auto_advance or self.engine.plan.stage_index(comp.stage) >= ceiling:
                continue
            if any(a.get("level") in ("warning", "error", "critical")
                   for a in component_alerts(self.engine.state.alerts, cid)):
                continue  # never an automatic step while something about this component is alerting
            if all(g.ok for g in self.gates(cid)):
                try:
                    done.append(await self.advance(cid, how="auto_advance", reason="all gates held"))
                except Moved:
                    continue  # a person (or a rollback) moved it meanwhile: judged again at the next pass
        return done

    # ---- the flag file ------------------------------------------------------------------------
    async def flag_diff(self, changes: list[Change]) -> str:
        import difflib

        path = self.engine.loaded.flag_file
        new = effects.flag_bytes(effects.flag_entries(self.engine, changes), self.engine.state.head_seq + 1)
        try:
            old = await pools.WATCH.run(path.read_bytes)
        except OSError:  # missing, or not a readable file (the drift check says which)
            old = b""
        return "".join(difflib.unified_diff(old.decode(errors="replace").splitlines(True),
                                            new.decode().splitlines(True), str(path), str(path) + " (new)"))

    async def ensure_flag_file(self) -> DriftStatus:
        """At start: write the flag file if it does not exist yet; never replace someone else's."""
        async with self.engine.effects_lock:
            await pools.WATCH.run(remove_stale_temp_files, self.engine.loaded.flag_file)
            status = await self.check_drift(record=False)
            if status.on_disk is None and self.engine.state.flags_sha256 is None:
                point = await effects.take_point(self.engine, "before the first flag file", auto=True)
                await effects.perform(self.engine, action="flags.init", changes=[], restore=[],
                                      before_point=point, extra={"how": "init"})
                return await self.check_drift(record=False)
        return await self.check_drift()

    async def check_drift(self, *, record: bool = True) -> DriftStatus:
        path = self.engine.loaded.flag_file
        on_disk = await pools.WATCH.run(sha256_file, path)
        expected = self.engine.state.flags_sha256
        if on_disk == expected:
            status = DriftStatus(False, on_disk, expected, "the flag file is as the console last wrote it")
        elif on_disk is not None and on_disk in self._intended():
            # A crash between the write and its `intent.done`: our own write, waiting to be reconciled.
            status = DriftStatus(False, on_disk, expected, "the flag file is as an unfinished change wrote it; "
                                 "reconcile that change")
        elif on_disk is None:
            status = DriftStatus(True, None, expected, f"{path} was deleted")
        elif on_disk.startswith(UNREADABLE):
            status = DriftStatus(True, on_disk, expected, f"{path} cannot be read as the flag file "
                                 f"({on_disk[len(UNREADABLE):]}): applications reading it get no flags")
        elif expected is None:
            status = DriftStatus(True, on_disk, None, f"{path} exists but was not written by this session")
        else:
            detail = await pools.WATCH.run(self._describe_edit)
            status = DriftStatus(True, on_disk, expected, f"{path} was changed outside the console: {detail}")
        if record:
            await self._record_drift(status)
        return status

    def _intended(self) -> set[str]:
        """sha256 of the flag file each open intent meant to write."""
        return {effects.sha256_bytes(effects.flag_bytes(p["flags"], p["seq"]))
                for p in self.engine.state.open_intents.values() if p.get("flags") is not None}

    def _describe_edit(self) -> str:
        try:
            flags = read_flags(self.engine.loaded.flag_file)
        except FlagFileError as exc:
            return str(exc)
        diffs = []
        for comp in self.engine.plan.components:
            want = self.engine.state.components[comp.id].percent
            have = effective_percent(flags[comp.flag_key]) if comp.flag_key in flags else None
            if have is None:
                diffs.append(f"{comp.flag_key} missing or not ours")
            elif abs(have - want) > 1e-9:
                diffs.append(f"{comp.flag_key} gives {have:g} %, recorded {want:g} %")
        return "; ".join(diffs) or "same percentages, different content"

    async def _record_drift(self, status: DriftStatus) -> None:
        active = DRIFT_ALERT in self.engine.state.alerts
        if status.drifted and (not active or self.engine.state.alerts[DRIFT_ALERT].get("on_disk") != status.on_disk):
            await self.engine.record("alert.raised", None, {
                "alert": DRIFT_ALERT, "level": "critical", "message": status.detail,
                "on_disk": status.on_disk, "expected": status.expected})
        elif not status.drifted and active:
            await self.engine.record("alert.cleared", None, {"alert": DRIFT_ALERT, "message": status.detail})

    async def adopt_flag_file(self, reason: str) -> DriftStatus:
        """Take over a flag file this session did not write: its sha256 is recorded and its content kept
        in a rollback point, so the next change may replace it (and a rollback can bring it back)."""
        if not reason.strip():
            raise RolloutError("adopting a flag file this session did not write needs a reason")
        async with self.engine.effects_lock:
            status = await self.check_drift(record=False)
            if status.on_disk and status.on_disk.startswith(UNREADABLE):
                raise RolloutError(status.detail)
            if not status.foreign:
                raise RolloutError("nothing to adopt: " + (status.detail if status.drifted else
                                                          "the flag file is this session's own"))
            point = await effects.take_point(self.engine, "before adopting the flag file", auto=True, reason=reason)
            await self.engine.record("flags.adopted", None, {
                "path": str(self.engine.loaded.flag_file), "sha256": status.on_disk, "point": point["id"],
                "reason": reason})
            return await self.check_drift()

    async def restore_flags(self, reason: str) -> DriftStatus:
        """The operator's answer to drift: write the flag file again from the recorded stages."""
        if not reason.strip():
            raise RolloutError("restoring the flag file over someone's edit needs a reason")
        await self.change([], action="flags.restore", extra={"how": "restore", "reason": reason},
                          label="before restoring the flag file", overwrite_drift=True)
        return await self.check_drift()

    async def watch_drift(self, stop: asyncio.Event | None = None, every: float = 0.5,
                          ready: asyncio.Event | None = None) -> None:
        """Notice edits of the flag file within a second, for as long as the console runs.

        Woken by a file event on the flag file (feeds/wake.py), and a stat every second whatever happens (every
        `every` s without file events); a hash only when the stat moved."""
        from mdm_console.feeds.wake import FileWake

        path = self.engine.loaded.flag_file
        stop = stop or asyncio.Event()
        wake = FileWake([path])
        wake.start(stop)
        try:
            await self._watch_drift(path, stop, wake, every, ready)
        finally:
            await wake.close()

    async def _watch_drift(self, path, stop: asyncio.Event, wake, every: float, ready: asyncio.Event | None) -> None:
        seen = await pools.WATCH.run(stat_key, path)
        async with self.engine.effects_lock:  # what is there now is judged too, not only later changes
            await self.check_drift()
        if ready is not None:
            ready.set()  # changes from here on are noticed
        while not stop.is_set():
            if await wake.wait(stop, 1.0 if wake.watching else every):
                return
            now = await pools.WATCH.run(stat_key, path)
            if now != seen:
                seen = now
                async with self.engine.effects_lock:  # never judge our own write half-way
                    await self.check_drift()


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
