"""Where a session's socket lives: beside its db (`<db>.sock`), or, when that path is too long for a Unix
socket (the kernel's limit is 107 bytes), in a runtime directory of the owner's with a pointer file beside the
db (`<db>.sock.path`) that names it. Clients look in the same two places."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

from mdm_console.fsguard import unsafe_directory

MAX_SOCKET_PATH = 107  # bytes: sizeof(sun_path) - 1 on Linux


def beside(db: Path) -> Path:
    return db.with_name(db.name + ".sock")


def pointer(db: Path) -> Path:
    return db.with_name(db.name + ".sock.path")


def runtime_dir() -> Path:
    """A directory of our own for sockets whose natural path is too long ($XDG_RUNTIME_DIR, else /tmp)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and Path(base).is_dir():
        return Path(base) / "mdm-console"
    return Path(tempfile.gettempdir()) / f"mdm-console-{os.geteuid()}"


def fits(path: Path) -> bool:
    return len(os.fsencode(str(path))) <= MAX_SOCKET_PATH


def choose(db: Path) -> tuple[Path, Path | None]:
    """(socket path, pointer file or None) for a service that owns `db`."""
    db = db.absolute()
    natural = beside(db)
    if fits(natural):
        return natural, None
    digest = hashlib.sha256(os.fsencode(str(db))).hexdigest()[:24]
    fallback = runtime_dir() / f"{digest}.sock"
    if not fits(fallback):
        raise OSError(f"no socket path short enough for {db} (tried {natural} and {fallback})")
    return fallback, pointer(db)


def prepare_runtime_dir(path: Path, shared: bool) -> None:
    """Create the fallback directory as ours, 0700 (0711 when a group must reach the socket in it); refuse one
    that someone else could change."""
    d = path.parent
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = d.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise OSError(f"{d} is not a directory of ours; refusing to put the session socket there")
    os.chmod(d, 0o711 if shared else 0o700)
    problem = unsafe_directory(path)
    if problem:
        raise OSError(problem)


def private_runtime_dir(target: Path, shared: bool) -> Path:
    """A fresh directory of ours beside a runtime directory someone else made first (it is named, never used):
    created by mkdtemp (0700, ours, no symlink followed), 0711 when a group must reach the socket in it. Returns
    the socket path in it."""
    d = Path(tempfile.mkdtemp(prefix=f"{target.parent.name}-", dir=target.parent.parent))
    if shared:
        os.chmod(d, 0o711)
    path = d / target.name
    if not fits(path):
        raise OSError(f"no socket path short enough in {d}")
    return path


def locate(db: Path) -> Path | None:
    """The socket a service serves for `db`, if one is there (it may still be stale: connecting tells)."""
    db = db.absolute()
    natural = beside(db)
    if _is_socket(natural):
        return natural
    try:
        named = Path(pointer(db).read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError):
        return None
    return named if named.is_absolute() and _is_socket(named) else None


def _is_socket(p: Path) -> bool:
    try:
        return stat.S_ISSOCK(p.lstat().st_mode)
    except OSError:
        return False


def db_owner(db: Path) -> int | None:
    """The uid that owns the session db (its directory's owner while it does not exist yet)."""
    for p in (db, db.parent):
        try:
            return p.stat().st_uid
        except OSError:
            continue
    return None


def trust_problem(sock: Path, db: Path, timeout: float = 2.0) -> str | None:
    """Why whatever listens on `sock` may not be the session's real owner, or None. Checked before a client sends
    anything: the socket and every directory above it belong to the db's owner or root and cannot be replaced by
    others (world-writable only with the sticky bit), and the process listening runs as the db's owner or root
    (SO_PEERCRED). A squatter's socket in a pre-made runtime directory fails the first; a process of another user
    that bound a path it could reach fails the second. Blocking: run it in a thread."""
    import socket

    from mdm_console.api.peer import peer_of

    owner = db_owner(db)
    allowed = {0} | ({owner} if owner is not None else set())
    who = f"the session db's owner (uid {owner}) or root" if owner is not None else "root"
    try:
        st = sock.lstat()
    except OSError as exc:
        return f"the socket {sock} cannot be checked ({exc.strerror or exc})"
    if not stat.S_ISSOCK(st.st_mode):
        return f"{sock} is not a socket"
    if st.st_uid not in allowed:
        return f"the socket {sock} belongs to uid {st.st_uid}, not to {who}"
    for d in sock.parents:
        try:
            dst = d.stat()
        except OSError as exc:
            return f"directory {d} cannot be checked ({exc.strerror or exc})"
        mode = stat.S_IMODE(dst.st_mode)
        if mode & stat.S_ISVTX:
            continue  # sticky (/tmp): others cannot rename or remove what is in it
        if dst.st_uid not in allowed:
            return f"directory {d} belongs to uid {dst.st_uid}, not to {who}: it could have put the socket there"
        if mode & stat.S_IWOTH:
            return f"directory {d} is world-writable (mode {mode:04o}): anyone could have put the socket there"
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(timeout)
    try:
        probe.connect(str(sock))
        peer = peer_of(probe)
    except OSError:
        return None  # nobody listens: the caller finds that out itself, and says so
    finally:
        probe.close()
    if peer.uid not in allowed:
        return f"the process listening on {sock} is {peer.describe()}, not {who}"
    return None