"""Fault suites: a real process killed with SIGKILL mid-session, a second instance on the same db.

`pytest --fault-trials N` runs N kills (default 3); every kill is checked as the next start sees it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openfeature import api
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext

from tests.conftest import BASE_PLAN, run_cli

DRIVER = Path(__file__).with_name("fault_session.py")
OPERATIONS = 200


def flags_as_the_application_reads_them(path: Path, keys: list[str]) -> dict[str, bool]:
    """Evaluate every flag through the real OpenFeature SDK and flagd provider (FILE mode)."""
    api.set_provider_and_wait(FlagdProvider(resolver_type=ResolverType.FILE, offline_flag_source_path=str(path)))
    try:
        client = api.get_client()
        out = {}
        for key in keys:
            d = client.get_boolean_details(key, False, EvaluationContext(targeting_key="user-1"))
            assert d.error_code is None, f"{key}: {d.error_code} {d.error_message}"
            out[key] = d.value
        return out
    finally:
        api.shutdown()


@pytest.mark.fault
def test_kill_9_at_random_points_of_a_200_operation_session_loses_nothing_reported(tmp_path, request):
    trials = request.config.getoption("--fault-trials")
    rnd = random.Random(request.config.getoption("--fault-seed"))
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "app.toml").write_text('[app]\nname = "x"\n')
    plan = tmp_path / "mdm-plan.toml"
    plan.write_text(BASE_PLAN.replace("min_stage_seconds = 600", "min_stage_seconds = 0"))
    flag_file = tmp_path / "state" / "flags.flagd.json"
    intents_seen = 0
    for trial in range(trials):
        # Every other trial dies inside a flag change (between its intent and its done event) at a
        # random one of them; the others at a random instant from outside.
        env = dict(os.environ)
        if trial % 2:
            env.update(MDM_FAULT_POINT=rnd.choice(["effects.before_write", "effects.after_write"]),
                       MDM_FAULT_HIT=str(rnd.randrange(1, 60)))
        proc = subprocess.Popen([sys.executable, str(DRIVER), str(plan), str(rnd.randrange(1 << 30)),
                                 str(OPERATIONS)], stdout=subprocess.PIPE, text=True, env=env)
        kill_after = rnd.randrange(1, OPERATIONS)
        reported = 0
        for _ in range(kill_after):
            line = proc.stdout.readline()
            if not line:  # the fault point killed it first
                break
            assert line.startswith("ok "), f"trial {trial}: {line!r}"
            reported = int(line.split()[1])
        else:
            time.sleep(rnd.uniform(0, 0.004))  # land inside the next operation, wherever it is
            proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL

        # The next start: every event reported committed is there and the chain verifies ...
        r = run_cli("status", "--json", "--plan", str(plan))
        assert r.returncode == 0, r.stderr
        status = json.loads(r.stdout)
        assert status["head"]["seq"] >= reported, f"trial {trial}: reported {reported}, found {status['head']}"
        r = run_cli("verify-log", "--plan", str(plan))
        assert r.returncode == 0, f"trial {trial}: {r.stdout} {r.stderr}"
        # ... the flag file is one the application can read ...
        values = flags_as_the_application_reads_them(flag_file, ["mdm.new_backend", "mdm.new_features"])
        assert set(values) == {"mdm.new_backend", "mdm.new_features"}
        # ... and a change the kill cut in half is reported and reconciled.
        if status["open_intents"]:
            intents_seen += 1
            r = run_cli("reconcile", "--plan", str(plan))
            assert r.returncode == 1 and "suggested:" in r.stdout, r.stdout
            r = run_cli("reconcile", "--plan", str(plan), "--yes")
            assert r.returncode == 0, r.stderr
            r = run_cli("status", "--json", "--plan", str(plan))
            assert json.loads(r.stdout)["open_intents"] == []
    print(f"{trials} kills, {intents_seen} left an open intent that was reconciled")


@pytest.mark.fault
def test_a_second_console_on_the_same_db_exits_3_naming_the_holder(plan_file):
    from tests.conftest import holding

    with holding(plan_file) as holder:
        for args in (["--plan", str(plan_file)], ["advance", "storage", "--override", "x", "--plan", str(plan_file)]):
            r = run_cli(*args)
            assert r.returncode == 3, r.stderr
            assert f"held by PID {holder.pid}" in r.stderr
