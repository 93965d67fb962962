"""Real consumers follow our flag file: the OpenFeature SDK + flagd provider in FILE mode."""

from __future__ import annotations

import json

import pytest
from openfeature import api
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext

from mdm_console.flags.flagfile import in_rollout, render, write_atomic

KEYS = [f"user-{i}" for i in range(100_000)]
FLAG = "mdm.new_backend"


def evaluate_all(path, keys):
    api.set_provider_and_wait(FlagdProvider(resolver_type=ResolverType.FILE, offline_flag_source_path=str(path)))
    client = api.get_client()
    try:
        probe = client.get_boolean_details(FLAG, False, EvaluationContext(targeting_key="probe"))
        assert probe.error_code is None, probe.error_message
        return {k for k in keys if client.get_boolean_value(FLAG, False, EvaluationContext(targeting_key=k))}
    finally:
        api.shutdown()


def test_every_stage_percent_reaches_its_share_and_only_adds_users(tmp_path):
    previous: set[str] = set()
    for stage, percent in [("testing", 0), ("canary", 5), ("early_adopters", 25),
                           ("general_availability", 50), ("full_rollout", 100)]:
        path = tmp_path / f"{stage}.json"
        write_atomic(path, render([(FLAG, "storage", stage, percent, 7)]))
        on = evaluate_all(path, KEYS)
        share = 100 * len(on) / len(KEYS)
        assert abs(share - percent) <= 0.5, f"{stage}: {share:.2f} % on, stage says {percent} %"
        assert previous <= on, f"{stage}: {len(previous - on)} users lost the new path"
        previous = on


@pytest.mark.parametrize("percent", [5, 25, 12.5])
def test_in_rollout_and_the_provider_give_the_stage_its_share(tmp_path, percent):
    """Both are judged against the stage's percent (binomial, 4 sigma over 20 000 keys), not against each
    other: a helper that called the same code as the provider would agree with it whatever it computed."""
    path = tmp_path / "f.json"
    write_atomic(path, render([(FLAG, "storage", "x", percent, 1)]))
    keys = KEYS[:20_000]
    n, p = len(keys), percent / 100
    tolerance = 4 * (n * p * (1 - p)) ** 0.5
    on = evaluate_all(path, keys)
    helper = {k for k in keys if in_rollout(FLAG, k, percent)}
    assert abs(len(on) - n * p) <= tolerance, f"provider: {len(on)} of {n} on at {percent} %"
    assert abs(len(helper) - n * p) <= tolerance, f"in_rollout: {len(helper)} of {n} on at {percent} %"
    assert in_rollout(FLAG, "anyone", 0) is False and in_rollout(FLAG, "anyone", 100) is True


def test_flag_file_layout_matches_the_contract(tmp_path):
    path = tmp_path / "f.json"
    write_atomic(path, render([(FLAG, "storage", "canary", 5, 42), ("mdm.x", "x", "full_rollout", 100, 43),
                               ("mdm.y", "y", "testing", 0, 44)]))
    doc = json.loads(path.read_text())
    assert doc["$schema"] == "https://flagd.dev/schema/v0/flags.json"
    assert doc["flags"][FLAG] == {
        "state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off",
        "targeting": {"fractional": [["on", 5], ["off", 95]]},
        "metadata": {"component": "storage", "stage": "canary", "percent": 5, "seq": 42}}
    assert doc["flags"]["mdm.x"]["defaultVariant"] == "on" and "targeting" not in doc["flags"]["mdm.x"]
    assert doc["flags"]["mdm.y"]["defaultVariant"] == "off" and "targeting" not in doc["flags"]["mdm.y"]
    assert path.stat().st_mode & 0o777 == 0o644
