"""The checklist and its sign-offs: enforced dependencies, validator-backed items, role
prerequisites, distinct signers, and signatures bound to a hash of the checklist state.

`blocked` is derived (an item whose dependency failed or is itself blocked), never stored.
Refused attempts are recorded too, so the log shows who tried what.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mdm_console.engine.phases import final_role
from mdm_console.store.chain import canonical

if TYPE_CHECKING:
    from mdm_console.engine.core import Engine

DONE = "completed"


_json_str = json.encoder.encode_basestring  # what canonical() writes for a str (it keeps non-ASCII as it is)


def _item_json(v: ItemView) -> str:
    """canonical() of an item's part of the state, written out: the same text (tests/test_checklist.py holds the
    two equal) without a json.dumps per item, which the first hash of a 4 000-item checklist makes 4 000 of."""
    by = "null" if v.by is None else _json_str(v.by)
    reason = "null" if v.reason is None else _json_str(v.reason)
    relied = canonical(v.relied_on) if v.relied_on else "{}"
    return (f'{{"by":{by},"notes":{len(v.notes)},"reason":{reason},"relied_on":{relied},'
            f'"status":{_json_str(v.status)}}}')


class ChecklistRefused(Exception):
    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("; ".join(reasons))


@dataclass(frozen=True)
class ItemView:
    id: str
    section: str
    title: str
    critical: bool
    status: str  # pending | in_progress | completed | failed | blocked (derived)
    waiting_on: list[str]  # dependencies not completed yet
    blocked_by: list[str]  # dependencies failed or blocked
    requires_validators: list[str]
    validators_missing: list[str]  # required validators without a passed result this session
    relied_on: dict[str, int]
    by: str | None
    reason: str | None
    notes: list[dict[str, Any]]
    # What the log holds against the item's evidence (for a completed item: what came after its completion).
    contradicted: list[str] = ()
    evidence: list[str] = ()  # the facts it states, in words

    @property
    def why_not(self) -> list[str]:
        out = []
        if self.blocked_by:
            out.append("blocked by " + ", ".join(self.blocked_by))
        if self.waiting_on:
            out.append("waiting on " + ", ".join(self.waiting_on))
        if self.validators_missing:
            out.append("needs passed validator(s) " + ", ".join(self.validators_missing))
        out.extend(self.contradicted)
        return out


@dataclass(frozen=True)
class SignoffView:
    role: str
    signed: bool
    name: str | None
    ts: str | None
    state_hash: str | None
    current: bool  # signed the checklist state as it is now
    changed_since: list[str]  # items whose state differs from what was signed
    unmet: list[str]  # prerequisites not met now


STAGES = "@stages"
UNMET_NAMED = 5  # open items a sign-off's prerequisite names; the rest are counted


def _minutes(m: float) -> str:
    if m >= 1440 and m % 1440 == 0:
        return f"{m / 1440:g} day(s)"
    if m >= 60 and m % 60 == 0:
        return f"{m / 60:g} hour(s)"
    return f"{m:g} minute(s)"


def _what_changed(key: str, then: Any, now: Any) -> str:
    if key != STAGES:
        return key
    moved = [f"{cid} {then.get(cid, '-')} -> {now.get(cid, '-')}" for cid in sorted(set(then) | set(now))
             if then.get(cid) != now.get(cid)]
    return "stages (" + "; ".join(moved) + ")"


def person_key(name: str) -> str:
    """Who a typed name stands for: Unicode NFKC, case folded, punctuation dropped, white space collapsed.
    "Alice Dev", "alice  DEV" and "Alice Dev." are one person, as are "O'Brien" and "obrien"; two roles need
    two different keys."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    kept = "".join(" " if unicodedata.category(c).startswith("Z") or c in "\t\n\r" else
                   "" if unicodedata.category(c).startswith(("P", "C", "S")) else c for c in folded)
    return " ".join(kept.split())


@dataclass(frozen=True)
class _Shape:
    """What a plan's checklist is made of, for judging items again after an event."""

    plan: object
    items: dict[str, Any]  # id -> the plan's item
    rank: dict[str, int]  # id -> its place in an order where every item comes after its dependencies
    dependents: dict[str, list[str]]  # id -> the items depending on it directly
    requiring: dict[str, list[str]]  # validator id -> the items requiring it
    evidence: tuple[str, ...]  # items stating evidence: the whole log bears on them
    timed: bool  # some evidence looks back a number of minutes: judged every second
    sorted_ids: tuple[str, ...]  # the order of the state's canonical JSON

    @classmethod
    def of(cls, plan) -> _Shape:
        items = {i.id: i for i in plan.checklist}
        dependents: dict[str, list[str]] = {}
        requiring: dict[str, list[str]] = {}
        for i in plan.checklist:
            for d in i.depends_on:
                dependents.setdefault(d, []).append(i.id)
            for v in i.requires_validators:
                requiring.setdefault(v, []).append(i.id)
        rank: dict[str, int] = {}
        for i in plan.checklist:  # depth first, without recursion (the plan validates there is no cycle)
            stack = [(i.id, iter(items[i.id].depends_on))]
            while stack:
                iid, deps = stack[-1]
                dep = next((d for d in deps if d not in rank), None)
                if dep is not None:
                    stack.append((dep, iter(items[dep].depends_on)))
                    continue
                stack.pop()
                rank.setdefault(iid, len(rank))
        evidence = tuple(i.id for i in plan.checklist if i.evidence is not None)
        timed = any(items[i].evidence.within_minutes is not None for i in evidence)
        return cls(plan, items, rank, dependents, requiring, evidence, timed, tuple(sorted(items)))

    def affected(self, touched: set[tuple[str, str]]) -> list[str]:
        """The items to judge again after these touches, dependencies first."""
        todo = [key for kind, key in touched if kind == "item" and key in self.items]
        todo += [iid for kind, key in touched if kind == "validator" for iid in self.requiring.get(key, ())]
        todo += self.evidence
        seen = set(todo)
        while todo:
            for d in self.dependents.get(todo.pop(), ()):
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return sorted(seen, key=self.rank.__getitem__)


class Checklist:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._memo: tuple[object, object, tuple, dict[str, ItemView], int] | None = None
        self._shape_memo: _Shape | None = None
        self._hash_memo: tuple[dict[str, ItemView], str] | None = None
        self._doc_memo: tuple[dict[str, ItemView], dict[str, Any]] | None = None
        self._item_docs: dict[str, tuple[ItemView, dict[str, Any], str]] = {}
        self._inputs: dict[str, tuple] = {}  # item -> what its view was made from

    # ---- reading --------------------------------------------------------------------------
    def items(self) -> list[ItemView]:
        return list(self._views().values())

    def _views(self) -> dict[str, ItemView]:
        """Every item's view, in plan order, computed once per recorded event (and per second when an item's
        evidence looks back a number of minutes): a screen, `status` and the sign-offs read them many times
        over, and 10 000 items take a quarter of a second to judge (benchmarks/scale.py).

        After the first pass only the items an event touched are judged again (their own state, a validator
        they require), with every item that depends on them and every item stating evidence (which the whole
        log bears on): one `space` changes one item of 4 000, and judging all of them again was most of its
        cost. An item judged again whose inputs did not change keeps its view (the same object)."""
        state, plan = self.engine.state, self.engine.plan
        shape = self._shape()
        key = (state.head_seq, int(self.engine.now().timestamp()) if shape.timed else None)
        memo = self._memo
        if memo is None or memo[0] is not state or memo[1] is not plan or memo[2] != key:
            if memo is not None and memo[0] is state and memo[1] is plan:
                old = memo[3]
                views = dict(old)  # in plan order; an item judged again keeps its place
                for iid in shape.affected(state.touched_since(memo[4])):
                    views[iid] = self._view(shape.items[iid], views, old)
            else:
                views = {}
                for item in plan.checklist:  # the plan validates there is no cycle
                    if item.id not in views:
                        views[item.id] = self._view(item, views, {})
                views = {i.id: views[i.id] for i in plan.checklist}
            memo = self._memo = (state, plan, key, views, state.touches)
        return memo[3]

    def _shape(self) -> _Shape:
        plan = self.engine.plan
        if self._shape_memo is None or self._shape_memo.plan is not plan:
            self._shape_memo = _Shape.of(plan)
        return self._shape_memo

    def item(self, item_id: str) -> ItemView:
        view = self._views().get(item_id)
        if view is None:
            raise ChecklistRefused([f"unknown checklist item '{item_id}'"])
        return view

    def _view(self, item, views: dict[str, ItemView], old: dict[str, ItemView]) -> ItemView:
        st = self.engine.state.checklist[item.id]
        for dep in item.depends_on:
            if dep not in views:
                views[dep] = self._view(self._plan_item(dep), views, old)
        passed = tuple(self._passed(v) for v in item.requires_validators)
        inputs = (st.status, st.seq, st.by, st.reason, len(st.notes), passed)
        prev = old.get(item.id)
        if (prev is not None and item.evidence is None and self._inputs.get(item.id) == inputs
                and all(views[d] is old.get(d) for d in item.depends_on)):
            return prev
        self._inputs[item.id] = inputs
        blocked_by = [d for d in item.depends_on if views[d].status in ("failed", "blocked")]
        waiting_on = [d for d in item.depends_on if views[d].status != DONE and d not in blocked_by]
        missing = [v for v in item.requires_validators if not self._passed(v)]
        status = st.status
        if blocked_by and status != DONE:
            status = "blocked"
        against, facts = self._evidence(item, st)
        return ItemView(item.id, item.section, item.title, item.critical, status, waiting_on, blocked_by,
                        list(item.requires_validators), missing, dict(st.relied_on), st.by, st.reason,
                        list(st.notes), against, facts)

    def _evidence(self, item, st) -> tuple[list[str], list[str]]:
        """What the log holds against the facts the item states, and those facts in words. A completed item is
        contradicted only by what came after its completion (and by alerts or stages as they are now)."""
        ev = item.evidence
        if ev is None:
            return [], []
        state = self.engine.state
        since = None
        if ev.within_minutes is not None:
            since = self.engine.now() - timedelta(minutes=ev.within_minutes)
        after = st.seq if st.status == DONE and st.seq else 0
        window = f" in the past {_minutes(ev.within_minutes)}" if ev.within_minutes else " in this session"
        against, facts = [], []
        for key in ev.no_events:
            facts.append(f"no {key} event{window}")
            last = state.last.get(key)
            if last and last["seq"] > after and (since is None or datetime.fromisoformat(last["ts"]) >= since):
                what = f": {last['what']}" if last.get("what") else ""
                against.append(f"the log holds {key} at seq {last['seq']} ({last['ts'][11:19]} UTC){what}")
        for level in ev.no_active_alerts:
            facts.append(f"no {level} alert active")
            active = [a for a in state.alerts.values() if a.get("level") == level]
            if active:
                against.append(f"{len(active)} {level} alert(s) active (seq {active[0].get('seq')}: "
                               f"{active[0].get('message', '')})")
        if ev.min_percent is not None:
            facts.append(f"every component at {ev.min_percent:g} % or more")
            low = [f"{c.id} at {c.percent:g} %" for c in state.components.values() if c.percent < ev.min_percent]
            if low:
                against.append(f"below {ev.min_percent:g} %: " + ", ".join(low))
        return against, facts

    def _plan_item(self, item_id: str):
        return self.engine.plan.checklist_item(item_id)

    def _passed(self, validator_id: str) -> bool:
        r = self.engine.state.validators.get(validator_id)
        return r is not None and r.status == "passed"

    def state_doc(self) -> dict[str, Any]:
        """The canonical checklist state: every item (a role's signature covers its scope of it); made once per
        change (do not change the dict you get)."""
        views = self._views()
        if self._doc_memo is None or self._doc_memo[0] is not views:
            self._doc_memo = (views, {iid: self._item_doc(v)[1] for iid, v in views.items()})
        return self._doc_memo[1]

    def _item_doc(self, v: ItemView) -> tuple[ItemView, dict[str, Any], str]:
        """(the view, its part of the state, `"<id>":<that part's canonical JSON>`), kept while the item keeps
        its view."""
        kept = self._item_docs.get(v.id)
        if kept is None or kept[0] is not v:
            doc = {"status": v.status, "by": v.by, "reason": v.reason, "relied_on": v.relied_on, "notes": len(v.notes)}
            kept = self._item_docs[v.id] = (v, doc, f"{_json_str(v.id)}:{_item_json(v)}")
        return kept

    def state_hash(self, doc: dict[str, Any] | None = None) -> str:
        if doc is not None:
            return hashlib.sha256(canonical(doc).encode()).hexdigest()
        views = self._views()  # the whole state's hash, once per change (the checklist screen shows it)
        if self._hash_memo is None or self._hash_memo[0] is not views:
            # canonical() of the whole state, put together from each item's part (made again only for the items
            # that changed: the same text, 4 000 items' JSON was most of a `space`)
            text = "{" + ",".join([self._item_doc(views[iid])[2] for iid in self._shape().sorted_ids]) + "}"
            self._hash_memo = (views, hashlib.sha256(text.encode()).hexdigest())
        return self._hash_memo[1]

    def scope(self, role_name: str) -> tuple[set[str], list[str]]:
        """What a role's signature covers: the items of its sections and every item they depend on (all
        items for a role with no sections, such as Final Approval), and the roles it requires."""
        plan = self.engine.plan
        role = next(r for r in plan.signoffs if r.role == role_name)
        by_id = {i.id: i for i in plan.checklist}
        if role.requires_sections:
            todo = [i.id for i in plan.checklist if i.section in role.requires_sections]
        else:
            todo = list(by_id)
        items: set[str] = set()
        while todo:
            iid = todo.pop()
            if iid not in items:
                items.add(iid)
                todo += by_id[iid].depends_on
        return items, self.required_roles(role_name)

    def required_roles(self, role_name: str) -> list[str]:
        plan = self.engine.plan
        if role_name == final_role(plan):
            return [r.role for r in plan.signoffs if r.role != role_name]
        return list(next(r for r in plan.signoffs if r.role == role_name).requires_roles)

    def scoped_doc(self, role_name: str, full: dict[str, Any] | None = None) -> dict[str, Any]:
        """The part of the state a signature of this role covers; required roles appear as
        "@role:<name>" with the state hash their signature holds."""
        full = full if full is not None else self.state_doc()
        items, roles = self.scope(role_name)
        doc = {k: v for k, v in full.items() if k in items}
        for other in roles:
            s = self.engine.state.signoffs.get(other)
            doc[f"@role:{other}"] = s.state_hash if s else None
        # The rollout a signature approved: a stage change or a rollback after it makes it an earlier state.
        doc[STAGES] = {cid: f"{c.stage} {c.percent:g} %" for cid, c in self.engine.state.components.items()}
        return doc

    def signoffs(self) -> list[SignoffView]:
        now_doc = self.state_doc()
        views: dict[str, SignoffView] = {}
        for role in self.engine.plan.signoffs:
            s = self.engine.state.signoffs.get(role.role)
            if s is None:
                views[role.role] = SignoffView(role.role, False, None, None, None, False, [], [])
                continue
            now = self.scoped_doc(role.role, now_doc)
            signed_doc = self._signed_doc(s.seq)
            # A signature from before scopes held the whole state: judge it on its role's scope only (and one
            # from before signatures covered the stages, on the checklist only).
            changed = [_what_changed(k, signed_doc.get(k), now.get(k)) for k in sorted(now)
                       if now.get(k) != signed_doc.get(k) and (k != STAGES or k in signed_doc)]
            views[role.role] = SignoffView(role.role, True, s.name, s.ts, s.state_hash, not changed, changed, [])
        out = []
        for role in self.engine.plan.signoffs:
            v = views[role.role]
            out.append(SignoffView(v.role, v.signed, v.name, v.ts, v.state_hash, v.current, v.changed_since,
                                   self._unmet(role.role, views)))
        return out

    def _signed_doc(self, seq: int) -> dict[str, Any]:
        return self.engine.state.signed_states.get(str(seq), {})

    def unmet(self, role_name: str) -> list[str]:
        return next(s.unmet for s in self.signoffs() if s.role == role_name)

    def _unmet(self, role_name: str, views: dict[str, SignoffView]) -> list[str]:
        plan = self.engine.plan
        role = next(r for r in plan.signoffs if r.role == role_name)
        items = self._views().values()
        out = []
        for section in role.requires_sections:
            open_items = [i.id for i in items if i.section == section and i.critical and i.status != DONE]
            if open_items:
                # A few by name, the rest counted: a section of 400 open items is one line, not 400 ids (the
                # checklist lists them all: filter it by the section's name).
                named = ", ".join(open_items[:UNMET_NAMED]) + (
                    f" and {len(open_items) - UNMET_NAMED} more" if len(open_items) > UNMET_NAMED else "")
                out.append(f"section '{section}' has critical items not completed: {named}")
        for other in self.required_roles(role_name):
            v = views.get(other)
            if v is None or not v.signed:
                out.append(f"role '{other}' has not signed")
            elif not v.current:
                out.append(f"role '{other}' signed an earlier state (changed since: {', '.join(v.changed_since)})")
        return out

    # ---- changing ---------------------------------------------------------------------------
    def expect(self, item_id: str, status: str) -> None:
        """Compare-and-set: refuse unless the item is still as the person saw it (its status, derived or recorded)."""
        st = self.engine.state.checklist.get(item_id)
        if st is None:
            return  # unknown: the change itself refuses it, recorded
        view = self.item(item_id)
        if status not in (view.status, st.status):
            by = f" by {st.by} (seq {st.seq})" if st.seq else ""
            raise ChecklistRefused([f"{item_id} is {view.status}{by}, not {status} as you saw it: look again"])

    async def complete(self, item_id: str) -> ItemView:
        view = await self._known(item_id, "complete")
        reasons = []
        if view.status == DONE:
            reasons.append(f"{item_id} is already completed")
        reasons += view.why_not
        if reasons:
            await self._refuse(item_id, "complete", reasons)
        relied = {v: self.engine.state.validators[v].seq for v in view.requires_validators}
        await self.engine.record("checklist.status", None, {
            "item": item_id, "status": DONE, "previous": view.status, "relied_on": relied,
            **({"evidence": list(view.evidence)} if view.evidence else {})})
        return self.item(item_id)

    async def start(self, item_id: str) -> ItemView:
        view = await self._known(item_id, "start")
        if view.status in (DONE, "blocked"):
            await self._refuse(item_id, "start", [f"{item_id} is {view.status}"])
        await self.engine.record("checklist.status", None, {"item": item_id, "status": "in_progress",
                                                            "previous": view.status})
        return self.item(item_id)

    async def fail(self, item_id: str, reason: str) -> ItemView:
        view = await self._known(item_id, "fail")
        if not reason.strip():
            await self._refuse(item_id, "fail", ["marking an item failed needs a reason"])
        await self.engine.record("checklist.status", None, {
            "item": item_id, "status": "failed", "previous": view.status, "reason": reason.strip()})
        return self.item(item_id)

    async def reopen(self, item_id: str, reason: str) -> ItemView:
        view = await self._known(item_id, "reopen")
        if view.status not in (DONE, "failed"):
            await self._refuse(item_id, "reopen", [f"{item_id} is {view.status}: nothing to reopen"])
        if not reason.strip():
            await self._refuse(item_id, "reopen", ["reopening an item needs a reason"])
        await self.engine.record("checklist.status", None, {
            "item": item_id, "status": "pending", "previous": view.status, "reason": reason.strip(), "reopened": True})
        return self.item(item_id)

    async def note(self, item_id: str, text: str) -> ItemView:
        await self._known(item_id, "note")
        if not text.strip():
            await self._refuse(item_id, "note", ["a note needs text"])
        await self.engine.record("checklist.note", None, {"item": item_id, "text": text.strip()})
        return self.item(item_id)

    async def sign(self, role_name: str, name: str, comment: str = "") -> SignoffView:
        plan, state = self.engine.plan, self.engine.state
        name = name.strip()
        reasons: list[str] = []
        role = next((r for r in plan.signoffs if r.role == role_name), None)
        if role is None:
            reasons.append(f"unknown role '{role_name}' (roles: {', '.join(r.role for r in plan.signoffs)})")
        if not name:
            reasons.append("a sign-off needs the signer's typed name")
        if reasons:
            await self._refuse_signoff(role_name, name, reasons)
        current = next(s for s in self.signoffs() if s.role == role_name)
        if current.signed and current.current:
            reasons.append(f"'{role_name}' is already signed by {current.name} for the current state")
        for other, s in state.signoffs.items():
            if other != role_name and person_key(s.name) == person_key(name):
                reasons.append(f"{s.name} already signed as '{other}' ('{name}' is the same name): "
                               "each role needs a different person")
        os_user = self.engine.actor.os_user
        same_user = [(other, s) for other, s in state.signoffs.items() if other != role_name and s.os_user == os_user]
        rehearsal = plan.access is not None and plan.access.one_os_user_for_rehearsal
        if same_user and not rehearsal:
            other, s = same_user[0]
            reasons.append(f"OS user {os_user} already signed '{other}' (as {s.name}): each role needs a different "
                           "person, told apart by their OS account (a rehearsal plan may set "
                           "access.one_os_user_for_rehearsal = true)")
        reasons += current.unmet
        if reasons:
            await self._refuse_signoff(role_name, name, reasons)
        warnings = [f"OS user {os_user} also signed '{other}' (as {s.name}): allowed for a rehearsal only "
                    "(access.one_os_user_for_rehearsal)" for other, s in same_user]
        doc = self.scoped_doc(role_name)
        await self.engine.record("signoff.recorded", None, {
            "role": role_name, "name": name, "comment": comment, "state_hash": self.state_hash(doc),
            "state": doc, "warnings": warnings, "renews": current.state_hash if current.signed else None,
            **({"rehearsal": True} if same_user else {})})
        return next(s for s in self.signoffs() if s.role == role_name)

    async def _known(self, item_id: str, action: str) -> ItemView:
        try:
            return self.item(item_id)
        except ChecklistRefused as exc:
            await self._refuse(item_id, action, exc.reasons)  # records the attempt, then raises
            raise  # unreachable: keeps the type checker content

    async def _refuse(self, item_id: str, action: str, reasons: list[str]) -> None:
        await self.engine.record("checklist.refused", None, {"item": item_id, "action": action, "reasons": reasons})
        raise ChecklistRefused(reasons)

    async def _refuse_signoff(self, role: str, name: str, reasons: list[str]) -> None:
        await self.engine.record("signoff.refused", None, {"role": role, "name": name, "reasons": reasons})
        raise ChecklistRefused(reasons)
