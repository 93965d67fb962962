"""The real `mdm-console` in a real terminal (tmux), as a person would use it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import psutil
import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def wait_for(session: str, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = screen(session)
        if text in out:
            return out
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen(session)}")


def test_start_switch_screens_and_quit(tmp_path):
    session = f"mdm-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "MDM_STATE_DIR": str(tmp_path), "MDM_OPERATOR": "tmux-tester", "TERM": "xterm-256color"}
    cmd = f"{sys.executable} -m mdm_console; echo EXITED $?; sleep 30"
    # -e: a tmux server that is already running gives new sessions its own environment, not ours
    tmux_env = ["-e", f"MDM_STATE_DIR={env['MDM_STATE_DIR']}", "-e", f"MDM_OPERATOR={env['MDM_OPERATOR']}"]
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48", *tmux_env, cmd], env=env,
                   check=True)
    try:
        wait_for(session, "policy err")  # the frame first, then the session behind it
        out = wait_for(session, "registration")  # the demo's last component row
        assert "DEMO" in out and "operator tmux-tester" in out
        subprocess.run(["tmux", "send-keys", "-t", session, "2"], check=True)
        wait_for(session, "Rollback points")
        subprocess.run(["tmux", "send-keys", "-t", session, "4"], check=True)
        wait_for(session, "No critical alerts in past 48 hours")
        subprocess.run(["tmux", "send-keys", "-t", session, "5"], check=True)
        wait_for(session, "session.started")
        workloads = [p for p in psutil.process_iter(["cmdline"])
                     if "demo-workload" in " ".join(p.info["cmdline"] or []) and str(tmp_path) in
                     " ".join(p.info["cmdline"] or [])]
        assert len(workloads) == 1  # the demo's simulated application runs as a child
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        wait_for(session, "EXITED 0")
        assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workloads)  # no orphan
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_hostile_names_show_as_text_in_a_real_terminal(tmp_path):
    """ESC ] 0 ; ... BEL in the operator name and the plan must not retitle the terminal or clear it."""
    from tests.test_trust_text import HOSTILE_PLAN

    (tmp_path / "metrics").mkdir()
    (tmp_path / "mdm-plan.toml").write_text(HOSTILE_PLAN)
    session = f"mdm-{uuid.uuid4().hex[:8]}"
    operator = "[/foo] [@click=app.quit]me[/] \x1b]0;pwned\x07"
    (tmp_path / "op.txt").write_text(operator)
    cmd = (f"cd {tmp_path} && {sys.executable} -m mdm_console --operator \"$(cat op.txt)\"; "
           "echo EXITED $?; sleep 30")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48",
                    "-e", f"MDM_STATE_DIR={tmp_path / 'st'}", cmd], check=True)
    try:
        out = wait_for(session, "[@click=app.quit]me[/]")
        assert "\\x1b]0;pwned\\x07" in out
        title = subprocess.run(["tmux", "display-message", "-p", "-t", session, "#{pane_title}"],
                               capture_output=True, text=True).stdout
        assert "pwned" not in title
        subprocess.run(["tmux", "send-keys", "-t", session, "3"], check=True)
        wait_for(session, "[link=https://evil.example]t[/link]")
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        wait_for(session, "EXITED 0")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
