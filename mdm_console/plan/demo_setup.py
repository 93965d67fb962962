"""The built-in demo: copy the packaged demo plan into the user state directory.

The demo must be writable (flag file, session db, snapshot files), and the package
directory may not be, so the console runs it from a copy. An operator's changes to the
copied config files are kept; the plan file itself follows the installed version (a
changed plan is then recorded as `plan.changed` by the engine).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import platformdirs

DEMO_PACKAGE = "mdm_console.plan.demo"
DEMO_FILES = ("mdm-plan.toml", "config/app.toml")


def state_dir() -> Path:
    """The user state directory: $MDM_STATE_DIR, else the platform's (~/.local/state/mdm-console on Linux)."""
    override = os.environ.get("MDM_STATE_DIR")
    return Path(override) if override else platformdirs.user_state_path("mdm-console")


def demo_dir() -> Path:
    return state_dir() / "demo"


def prepare_demo(target: Path | None = None) -> Path:
    """Return the demo plan's path, copying the packaged files in first when needed."""
    target = target or demo_dir()
    target.mkdir(parents=True, exist_ok=True, mode=0o755)
    source = resources.files(DEMO_PACKAGE)
    for rel in DEMO_FILES:
        dest = target / rel
        data = source.joinpath(rel).read_bytes()
        if rel == "mdm-plan.toml" or not dest.exists():
            if not dest.exists() or dest.read_bytes() != data:
                dest.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
                tmp = dest.with_name(dest.name + ".tmp")
                tmp.write_bytes(data)
                os.chmod(tmp, 0o644)
                os.replace(tmp, dest)
    secrets = target / "config" / "secrets.toml"
    if not secrets.exists():
        # Deliberately group-readable (0640): the demo's security check wants 0600, so the
        # operator sees what a failed non-critical readiness check looks like.
        secrets.write_text('[database]\npassword = "demo-only-not-a-secret"\n')
        os.chmod(secrets, 0o640)
    from mdm_console.plan.demo.resources import build

    build(target)
    return target / "mdm-plan.toml"


def source_plan() -> Path:
    """The packaged demo plan file itself (validated before anything is copied)."""
    with resources.as_file(resources.files(DEMO_PACKAGE).joinpath("mdm-plan.toml")) as p:
        return Path(p)
