"""The engine never imports Textual (checked in a fresh interpreter, and by import-linter)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_engine_store_plan_and_cli_load_without_textual():
    code = (
        "import sys\n"
        "import mdm_console.engine.core, mdm_console.store.session, mdm_console.plan.load\n"
        "import mdm_console.cli.main, mdm_console.engine.state, mdm_console.engine.phases\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'mdm_console.ui')))\n"
        "print(','.join(bad))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == ""


def test_the_engine_and_its_monitor_load_without_numpy_or_scipy():
    """A command on a session with no canary out never computes a verdict: numpy waits for the first one (and
    scipy is only the tests' reference)."""
    code = (
        "import sys\n"
        "import mdm_console.engine.live, mdm_console.api.ops, mdm_console.engine.gates, mdm_console.cli.status\n"
        "print(','.join(sorted(m for m in ('numpy', 'scipy') if m in sys.modules)))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == ""


def test_import_linter_contract_holds():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("import-linter is not installed (it is in the dev extra)")
    r = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 kept, 0 broken" in r.stdout  # no Textual below the UI; the layers; the console only via the client
