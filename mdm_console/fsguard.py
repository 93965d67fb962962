"""Checks made before anything of ours is written: who else could write there, and is it someone else's file.

A leaf module (no imports of ours): the plan loader, the store and the exporters all use it.

The rule for directories follows OpenSSH's StrictModes, checked on every ancestor up to the root:
a directory is safe when only root or we can change what is in it. A directory with the sticky bit
(like /tmp) is safe: others may add files there but cannot rename or remove ours.
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Iterable
from pathlib import Path


def unsafe_directory(path: Path) -> str | None:
    """Why someone other than root or us could replace `path` (a file or directory to be), or None.

    Every existing ancestor is checked, up to the root; ancestors that do not exist yet are
    created by us (0755 or tighter), so they are safe.
    """
    me, my_group = os.geteuid(), os.getegid()
    for d in Path(os.path.abspath(path)).parents:
        try:
            st = d.stat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            return f"directory {d} cannot be checked: {exc.strerror or exc}"
        mode = stat.S_IMODE(st.st_mode)
        if mode & stat.S_ISVTX:
            continue  # sticky: others cannot rename or remove what is ours
        if st.st_uid not in (0, me):
            return (f"directory {d} belongs to uid {st.st_uid}, who could replace what is in it; "
                    "use a directory owned by you or root")
        if mode & stat.S_IWOTH:
            return (f"directory {d} is world-writable (mode {mode:04o}): anyone could replace what is in it; "
                    f"run: chmod o-w {_quote(d)}")
        if mode & stat.S_IWGRP and st.st_gid not in (0, my_group):
            return (f"directory {d} is writable by group {st.st_gid} (mode {mode:04o}): its members could replace "
                    f"what is in it; run: chmod g-w {_quote(d)}")
    return None


def foreign_file(path: Path) -> str | None:
    """Why `path`, which this process will act on (a plan whose commands it runs), could have been written by
    someone other than root or us, or None: it must be ours or root's, not writable by group or others, in
    directories only root or we can change (StrictModes)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"{path} cannot be checked: {exc.strerror or exc}"
    me = os.geteuid()
    if st.st_uid not in (0, me):
        return (f"{path} belongs to uid {st.st_uid}, not to you (uid {me}) or root: what it names would run as you; "
                "run it as its owner, or take it over (chown)")
    mode = stat.S_IMODE(st.st_mode)
    if mode & stat.S_IWOTH:
        return f"{path} is writable by others (mode {mode:04o}); run: chmod o-w {_quote(path)}"
    if mode & stat.S_IWGRP and st.st_gid not in (0, os.getegid()):  # a user-private group is only us
        return (f"{path} is writable by group {st.st_gid} (mode {mode:04o}): its members could change what runs; "
                f"run: chmod g-w {_quote(path)}")
    return unsafe_directory(path)


def loose_file(path: Path, allowed: int = 0o600) -> str | None:
    """Why an existing file of ours is open to more than `allowed` permits, or None."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None
    if mode & ~allowed & 0o077:
        return f"{path} has mode {mode:04o} (others could read or change it); run: chmod {allowed:o} {_quote(path)}"
    return None


def real(path: Path) -> Path:
    """The path with every symlink resolved (the file itself need not exist)."""
    return Path(os.path.realpath(path))


def same_file(a: Path, b: Path) -> bool:
    """True when two paths name one file: after symlinks, or by device and inode where both exist."""
    if real(a) == real(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def first_clash(named: Iterable[tuple[str, Path]]) -> tuple[str, str, Path] | None:
    """The first two names of `named` whose paths are one file: (name, other name, path)."""
    seen: list[tuple[str, Path]] = []
    for name, p in named:
        for other, q in seen:
            if same_file(p, q):
                return name, other, p
        seen.append((name, p))
    return None


def _quote(p: Path) -> str:
    return shlex.quote(str(p))
