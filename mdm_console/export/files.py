"""Writing an export safely: refuse to overwrite unless asked, temp file + rename, no partial file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path


class ExportError(Exception):
    pass


def check_target(path: Path, force: bool) -> Path:
    path = Path(path).expanduser().absolute()
    if not path.parent.is_dir():
        raise ExportError(f"directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise ExportError(f"directory {path.parent} is not writable")
    if path.exists() and not force:
        raise ExportError(f"{path} exists (use --force to replace it)")
    return path


@contextmanager
def atomic_target(path: Path):
    """Yields a temp path beside `path`; renamed over it only if the block succeeds."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    os.unlink(tmp)  # writers (DuckDB COPY) create the file themselves
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_with(path: Path, writer: Callable[[Path], None]) -> None:
    with atomic_target(path) as tmp:
        writer(tmp)
