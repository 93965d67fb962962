"""Rollback points: copies of the flag file and the plan's snapshot files, each with its sha256.

These functions do blocking file I/O: call them through `asyncio.to_thread`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from mdm_console.flags.flagfile import sha256_bytes, sha256_file, write_atomic


class PointError(Exception):
    pass


def capture(point_dir: Path, files: list[tuple[str, Path]]) -> list[dict[str, Any]]:
    """Copy each (label, path) into point_dir; a missing file is recorded as missing (sha256 None)."""
    point_dir.mkdir(parents=True, exist_ok=False, mode=0o700)
    entries = []
    for n, (label, path) in enumerate(files):
        entry: dict[str, Any] = {"label": label, "path": str(path), "sha256": None, "stored": None, "mode": None}
        try:
            data = Path(path).read_bytes()
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            entries.append(entry)
            continue
        stored = point_dir / f"{n:02d}-{Path(path).name}"
        with open(stored, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(stored, 0o600)
        entry.update(sha256=sha256_bytes(data), stored=str(stored), mode=mode)
        entries.append(entry)
    return entries


def damaged(point: dict[str, Any]) -> list[str]:
    """Files of a point whose stored copy is gone or no longer has the recorded sha256."""
    problems = []
    for f in point.get("files", []):
        if f["sha256"] is None:
            continue
        actual = sha256_file(Path(f["stored"]))
        if actual != f["sha256"]:
            what = "is missing" if actual is None else f"has sha256 {actual[:12]}…, recorded {f['sha256'][:12]}…"
            problems.append(f"{f['label']}: the stored copy {what}")
    return problems


def stored_bytes(entry: dict[str, Any]) -> bytes | None:
    return None if entry["sha256"] is None else Path(entry["stored"]).read_bytes()


def restore(entry: dict[str, Any]) -> str | None:
    """Put a file back as the point had it (removing it if it did not exist then)."""
    path = Path(entry["path"])
    data = stored_bytes(entry)
    if data is None:
        path.unlink(missing_ok=True)
        return None
    if sha256_bytes(data) != entry["sha256"]:
        raise PointError(f"{entry['label']}: the stored copy no longer matches its recorded sha256")
    return write_atomic(path, data, mode=entry.get("mode") or 0o644)


def remove_point_dir(point_dir: Path) -> None:
    shutil.rmtree(point_dir, ignore_errors=True)
