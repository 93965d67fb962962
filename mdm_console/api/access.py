"""Who may do what through the socket: the plan's `[access]` table against the caller the kernel names."""

from __future__ import annotations

import os

from mdm_console.api.peer import Peer
from mdm_console.plan.models import Access

OBSERVE, OPERATE, COMPLETE = "observe", "operate", "complete"
SIGN = "sign"  # with a role: "sign:<role>"

WHAT = {OBSERVE: "read this session", OPERATE: "change stages, roll back, run validators or reconcile",
        COMPLETE: "change checklist items"}


def matches(peer: Peer, principals: list[str]) -> bool:
    for p in principals:
        if p == "*":
            return True
        kind, _, name = p.partition(":")
        if (kind == "user" and name == peer.user) or (kind == "group" and name in peer.groups):
            return True
    return False


def refusal(access: Access | None, peer: Peer, capability: str, role: str | None = None,
            owner_uid: int | None = None) -> str | None:
    """Why `peer` may not use `capability` (for sign: on `role`), or None when it may."""
    owner = os.geteuid() if owner_uid is None else owner_uid
    if peer.uid == owner or access is None:
        return None  # the owner could open the db itself; without [access] the socket's mode is the rule
    if capability == SIGN:
        allowed = access.sign.get(role or "", [])
        if matches(peer, allowed):
            return None
        return (f"{peer.user} may not sign '{role}': access.sign"
                + (f" lists {', '.join(allowed)} for it" if allowed else " names nobody for it"))
    lists = {OPERATE: access.operate, COMPLETE: access.complete, OBSERVE: access.observe}
    if matches(peer, lists[capability]):
        return None
    if capability == OBSERVE and (matches(peer, access.operate) or matches(peer, access.complete)
                                  or any(matches(peer, who) for who in access.sign.values())):
        return None
    return f"{peer.user} may not {WHAT[capability]}: access.{capability} does not list them or their groups"


def may(access: Access | None, peer: Peer, owner_uid: int | None = None) -> list[str]:
    """Every capability the peer has (for the hello answer and for a client's menus)."""
    caps = [c for c in (OBSERVE, OPERATE, COMPLETE) if refusal(access, peer, c, owner_uid=owner_uid) is None]
    roles = access.sign if access is not None else {}
    caps += [f"{SIGN}:{r}" for r in roles if refusal(access, peer, SIGN, r, owner_uid) is None]
    if access is None or peer.uid == (os.geteuid() if owner_uid is None else owner_uid):
        caps.append(f"{SIGN}:*")
    return caps
