"""Trust: no process a validator starts outlives it, even one that leaves the process group with setsid."""

from __future__ import annotations

import sys
import time

import psutil
import pytest

from tests.test_validators import run_validators

ESCAPER = """
import os, subprocess, sys, time
marker = sys.argv[1]
subprocess.Popen(["sleep", marker], start_new_session=True)   # setsid: a new session and group
time.sleep(float(sys.argv[2]))
"""


def alive_with(marker: str) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline", "status"]):
        if marker in (p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE:
            out.append(p)
    return out


def gone(marker: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while alive_with(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def cleanup():
    markers: list[str] = []
    yield markers
    for m in markers:
        for p in alive_with(m):
            p.kill()


@pytest.mark.fault
@pytest.mark.parametrize("kind", ["shell", "python"])
async def test_a_process_that_escapes_the_group_is_killed_on_timeout(tmp_path, cleanup, kind):
    marker = f"1001.{int(time.time() * 1000) % 100000}{len(kind)}"
    cleanup.append(marker)
    if kind == "shell":
        params = f"shell = \"trap '' TERM; setsid sleep {marker} & sleep 1002\""
    else:
        (tmp_path / "escaper.py").write_text(ESCAPER)
        params = f'argv = ["{sys.executable}", "escaper.py", "{marker}", "600"]'
    r, _, _ = await run_validators(tmp_path, f"""
        [[validators]]
        id = "escape"
        kind = "command"
        timeout_seconds = 1.5
        params = {{ {params} }}
    """)
    assert r["escape"]["status"] == "timeout"
    assert gone(marker), f"sleep {marker} outlived its validator"


@pytest.mark.fault
async def test_a_process_left_behind_by_a_command_that_exits_is_killed(tmp_path, cleanup):
    marker = f"1003.{int(time.time() * 1000) % 100000}"
    cleanup.append(marker)
    (tmp_path / "escaper.py").write_text(ESCAPER)
    r, _, _ = await run_validators(tmp_path, f"""
        [[validators]]
        id = "leaves"
        kind = "command"
        timeout_seconds = 20
        params = {{ argv = ["{sys.executable}", "escaper.py", "{marker}", "0.2"] }}
    """)
    assert r["leaves"]["status"] == "passed"
    assert gone(marker)


async def test_a_missing_command_is_still_named(tmp_path):
    r, _, _ = await run_validators(tmp_path, """
        [[validators]]
        id = "nope"
        kind = "command"
        params = { argv = ["no-such-command-here"] }
    """)
    assert r["nope"]["status"] == "error" and "command not found: no-such-command-here" in r["nope"]["detail"]
