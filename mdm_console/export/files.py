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
    if path.is_dir():
        raise ExportError(f"{path} is a directory; name a file")
    if not path.parent.is_dir():
        raise ExportError(f"directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise ExportError(f"directory {path.parent} is not writable")
    if path.exists() and not force:
        raise ExportError(f"{path} exists (use --force to replace it)")
    return path


@contextmanager
def atomic_targets(paths: list[Path]):
    """Yields one temp path beside each of `paths`; all are renamed over their targets only if the block
    succeeds, so a failing companion file leaves none of them. Any OS or writer error is an ExportError."""
    tmps: list[str] = []
    try:
        for path in paths:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
            os.close(fd)
            os.unlink(tmp)  # writers (DuckDB COPY) create the file themselves
            tmps.append(tmp)
        yield [Path(t) for t in tmps]
        for tmp, path in zip(tmps, paths, strict=True):
            os.chmod(tmp, 0o644)
        # The first path last: the file a reader looks for appears only once its companions are in place.
        for tmp, path in reversed(list(zip(tmps, paths, strict=True))):
            os.replace(tmp, path)
    except ExportError:
        raise
    except OSError as exc:
        raise ExportError(f"cannot write {exc.filename or paths[0]}: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - DuckDB's errors, said in one line
        raise ExportError(f"cannot write {paths[0]}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from None
    finally:
        for tmp in tmps:
            if os.path.exists(tmp):
                os.unlink(tmp)


@contextmanager
def atomic_target(path: Path):
    """Yields a temp path beside `path`; renamed over it only if the block succeeds."""
    with atomic_targets([path]) as (tmp,):
        yield tmp


def write_with(path: Path, writer: Callable[[Path], None]) -> None:
    with atomic_target(path) as tmp:
        writer(tmp)
