"""Who is on the other end of a Unix socket, as the kernel says (SO_PEERCRED): uid, gid, pid."""

from __future__ import annotations

import functools
import grp
import os
import socket
import struct
from dataclasses import dataclass, field

_CREDS = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class Peer:
    uid: int
    gid: int
    pid: int
    user: str
    groups: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of_uid(cls, uid: int, gid: int, pid: int) -> Peer:
        from mdm_console.engine.core import os_user_name

        user = os_user_name(uid)
        gids = process_groups(pid)
        names = {_group_name(g) for g in gids} if gids is not None else group_names(user, gid)
        names.add(_group_name(gid))
        return cls(uid, gid, pid, user, frozenset(n for n in names if n))

    def describe(self) -> str:
        return f"OS user {self.user} (uid {self.uid}, pid {self.pid})"


def peer_of(sock: socket.socket) -> Peer:
    """The credentials of the process that connected (as of its connect call)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDS.size)
    pid, uid, gid = _CREDS.unpack(raw)
    return Peer.of_uid(uid, gid, pid)


def me() -> Peer:
    return Peer.of_uid(os.geteuid(), os.getegid(), os.getpid())


def process_groups(pid: int) -> set[int] | None:
    """The supplementary groups the kernel holds for the process (Linux /proc), or None when unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Groups:"):
                    return {int(g) for g in line.split()[1:]}
    except (OSError, ValueError):
        return None
    return None


@functools.lru_cache(maxsize=256)
def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"gid:{gid}"


def group_names(user: str, gid: int) -> set[str]:
    """The user's primary group and every group that lists it as a member."""
    names = set()
    try:
        names.add(grp.getgrgid(gid).gr_name)
    except KeyError:
        pass
    try:
        names.update(g.gr_name for g in grp.getgrall() if user in g.gr_mem)
    except OSError:
        pass
    return names
