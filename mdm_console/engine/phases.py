"""Cutover phases, derived from state and never set by hand (DESIGN section 2)."""

from __future__ import annotations

from mdm_console.engine.state import SessionState
from mdm_console.plan.models import Plan

PHASES = ("preparation", "validation", "migration", "verification", "finalization")


def final_role(plan: Plan) -> str | None:
    """The role that approves the whole cutover: 'Final Approval', else one requiring every other role."""
    roles = [r.role for r in plan.signoffs]
    if "Final Approval" in roles:
        return "Final Approval"
    for r in plan.signoffs:
        if set(roles) - {r.role} <= set(r.requires_roles) and len(roles) > 1:
            return r.role
    return None


def derive_phase(plan: Plan, state: SessionState) -> str:
    comps = list(state.components.values())
    last = plan.stages[-1].name
    full = plan.stages[-1].percent
    final = final_role(plan)
    if comps and all(c.stage == last for c in comps) and (final is None or final in state.signoffs):
        return "finalization"
    if comps and all(c.percent >= full for c in comps):
        return "verification"
    if any(c.percent > 0 for c in comps):
        return "migration"
    if "preflight" in state.phase_runs:
        return "validation"
    return "preparation"
