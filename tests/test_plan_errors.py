"""Malformed plans: one line `<file>: <key path>: <message>`, exit 2, nothing created."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdm_console.cli.main import main
from tests.conftest import BASE_PLAN

V2 = '\n[[validators]]\nid = "cfg"\nkind = "file"\nparams = { path = "x" }\n'

# (case id, text transform, expected key path, expected words in the message)
CASES = [
    ("toml-syntax", lambda s: s + "\n[[components]\n", "(toml)", "line"),
    ("bad-version", lambda s: s.replace("version = 1", "version = 2"), "version", "1"),
    ("unknown-top-key", lambda s: "colour = 'red'\n" + s, "colour", "unknown key"),
    ("unknown-cutover-key", lambda s: s.replace('name = "Test cutover"', 'name = "x"\nflag_fiel = "y"'),
     "cutover.flag_fiel", "unknown key"),
    ("missing-flag-file", lambda s: s.replace('flag_file = "state/flags.flagd.json"\n', ""),
     "cutover.flag_file", "Field required"),
    ("gate-out-of-range", lambda s: s.replace("min_success_rate = 0.99", "min_success_rate = 1.5"),
     "gate.min_success_rate", "less than or equal to 1"),
    ("negative-error-rate", lambda s: s.replace("max_error_rate = 0.05", "max_error_rate = -0.1"),
     "gate.max_error_rate", "greater than or equal to 0"),
    ("wrong-type", lambda s: s.replace("min_operations = 100", 'min_operations = "many"'),
     "gate.min_operations", "integer"),
    ("duplicate-component", lambda s: s.replace('id = "features"', 'id = "storage"'),
     "components[1].id", "duplicate component id 'storage'"),
    ("duplicate-flag-key", lambda s: s.replace('"mdm.new_features"', '"mdm.new_backend"'),
     "components[1].flag_key", "duplicate flag_key"),
    ("no-components", lambda s: s.split("[[components]]")[0].replace("version = 1", "version = 1\ncomponents = []"),
     "components", "at least 1"),
    ("unknown-validator-kind", lambda s: s.replace('kind = "file"', 'kind = "ftp"'),
     "validators[0].kind", "'system'"),
    ("validator-bad-param", lambda s: s.replace('parse = "toml"', 'parse = "yaml"'),
     "validators[0].params.parse", "'json' or 'toml'"),
    ("validator-unknown-param", lambda s: s.replace('parse = "toml"', 'parse = "toml", colour = 1'),
     "validators[0].params.colour", "unknown key"),
    ("command-argv-and-shell", lambda s: s.replace(
        'kind = "file"\nparams = { path = "config/app.toml", parse = "toml" }',
        'kind = "command"\nparams = { argv = ["true"], shell = "true" }'), "validators[0].params", "exactly one"),
    ("checklist-missing-dep", lambda s: s.replace('depends_on = ["a"]', 'depends_on = ["zz"]'),
     "checklist[1].depends_on", "unknown item 'zz'"),
    ("checklist-cycle", lambda s: s.replace('critical = true\n\n[[checklist]]', 'critical = true\ndepends_on = ["b"]\n\n[[checklist]]'),
     "checklist[0].depends_on", "cycle a -> b -> a"),
    ("checklist-unknown-validator", lambda s: s.replace('requires_validators = ["cfg"]', 'requires_validators = ["nope"]'),
     "checklist[1].requires_validators", "unknown validator 'nope'"),
    ("signoff-unknown-role", lambda s: s.replace('requires_roles = ["Ops"]', 'requires_roles = ["QA"]'),
     "signoffs[1].requires_roles", "unknown role 'QA'"),
    ("signoff-unknown-section", lambda s: s.replace('requires_sections = ["Pre"]', 'requires_sections = ["Post"]'),
     "signoffs[0].requires_sections", "unknown section 'Post'"),
    ("stages-not-from-zero", lambda s: s + '\n[[stages]]\nname = "a"\npercent = 5\n[[stages]]\nname = "b"\npercent = 100\n',
     "stages", "must be 0 percent"),
    ("stages-going-down", lambda s: s + '\n[[stages]]\nname = "a"\npercent = 0\n[[stages]]\nname = "b"\npercent = 50\n'
     '[[stages]]\nname = "c"\npercent = 25\n', "stages", "lower percent"),
    ("window-reversed", lambda s: s.replace('snapshot_files', 'window_start = 2026-11-25T00:00:00Z\n'
     'window_end = 2026-11-24T00:00:00Z\nsnapshot_files'), "cutover", "window_end must be after"),
    ("metrics-jsonl-no-path", lambda s: s + '\n[metrics]\nsource = "jsonl"\n', "metrics", "needs 'path'"),
    ("auto-rollback-mode", lambda s: s + '\n[alerts.auto_rollback]\nmode = "sometimes"\n',
     "alerts.auto_rollback.mode", "'off'"),
    ("duplicate-validator-id", lambda s: s.replace("[[checklist]]", V2 + "\n[[checklist]]", 1),
     "validators[1].id", "duplicate validator id 'cfg'"),
    ("validator-timeout-not-positive", lambda s: s.replace('kind = "file"', 'kind = "file"\ntimeout_seconds = -1'),
     "validators[0].timeout_seconds", "greater than 0"),
    ("duplicate-checklist-id", lambda s: s.replace('id = "b"', 'id = "a"'),
     "checklist[1].id", "duplicate checklist item id 'a'"),
    ("stage-over-100", lambda s: s + '\n[[stages]]\nname = "a"\npercent = 0\n[[stages]]\nname = "b"\npercent = 150\n',
     "stages[1].percent", "less than or equal to 100"),
    ("duplicate-stage", lambda s: s + '\n[[stages]]\nname = "a"\npercent = 0\n[[stages]]\nname = "a"\npercent = 100\n',
     "stages", "duplicate stage name 'a'"),
    ("empty-flag-key", lambda s: s.replace('"mdm.new_features"', '""'), "components[1].flag_key", "at least 1"),
    ("signoff-role-cycle", lambda s: s.replace('requires_sections = ["Pre"]',
                                               'requires_sections = ["Pre"]\nrequires_roles = ["Final Approval"]'),
     "signoffs[0].requires_roles", "role cycle Ops -> Final Approval -> Ops"),
    ("duplicate-role", lambda s: s.replace('role = "Final Approval"', 'role = "Ops"'),
     "signoffs[1].role", "duplicate sign-off role 'Ops'"),
    ("metrics-unknown-source", lambda s: s + '\n[metrics]\nsource = "carrier-pigeon"\n', "metrics.source", "'jsonl'"),
    ("prometheus-no-url", lambda s: s + '\n[metrics]\nsource = "prometheus"\n', "metrics", "needs 'url'"),
    ("negative-stage-seconds", lambda s: s.replace("min_stage_seconds = 600", "min_stage_seconds = -5"),
     "gate.min_stage_seconds", "greater than or equal to 0"),
    ("component-id-with-space", lambda s: s.replace('id = "storage"', 'id = "my storage"'),
     "components[0].id", "should match pattern"),
    ("http-url-scheme", lambda s: s.replace('kind = "file"\nparams = { path = "config/app.toml", parse = "toml" }',
                                            'kind = "http"\nparams = { url = "ftp://x" }'),
     "validators[0].params.url", "(kind 'http')"),
    ("sql-missing-dsn", lambda s: s.replace('kind = "file"\nparams = { path = "config/app.toml", parse = "toml" }',
                                            'kind = "sql"\nparams = { query = "select 1" }'),
     "validators[0].params.dsn", "Field required"),
    # Values that can be checked at load are checked there (trust: plans that cannot work are refused).
    ("regex-does-not-compile", lambda s: s.replace(
        'kind = "file"\nparams = { path = "config/app.toml", parse = "toml" }',
        'kind = "command"\nparams = { argv = ["true"], expect_stdout_regex = "(unclosed" }'),
     "validators[0].params", "does not compile"),
    ("alert-levels-reversed", lambda s: s + '\n[alerts]\nerror_rate = { warning = 0.1, critical = 0.05 }\n',
     "alerts.error_rate.critical", "must not be below warning"),
    ("success-levels-reversed", lambda s: s + '\n[alerts]\nsuccess_rate = { warning = 0.9, critical = 0.95 }\n',
     "alerts.success_rate.critical", "must not be above warning"),
    ("error-level-over-one", lambda s: s + '\n[alerts]\nerror_rate = { warning = 2, critical = 5 }\n',
     "alerts.error_rate.warning", "at most 1"),
    ("negative-latency-level", lambda s: s + '\n[alerts]\nlatency_p99_ms = { warning = -1, critical = 5 }\n',
     "alerts.latency_p99_ms.warning", "greater than or equal to 0"),
    ("window-without-offset", lambda s: s.replace('snapshot_files', 'window_start = 2026-11-25T22:00:00\nsnapshot_files'),
     "cutover.window_start", "without an offset"),
    ("unknown-phase", lambda s: s.replace('kind = "file"', 'kind = "file"\nphases = ["prefligth"]'),
     "validators[0].phases[0]", "'preflight'"),
    ("window-shorter-than-interval", lambda s: s + '\n[metrics]\nsource = "jsonl"\npath = "m.jsonl"\n'
     'interval_seconds = 60\nwindow_seconds = 30\n', "metrics.window_seconds", "at least interval_seconds"),
    ("metrics-url-scheme", lambda s: s + '\n[metrics]\nsource = "prometheus"\nurl = "file:///etc/passwd"\n',
     "metrics.url", "http:// or https://"),
    ("sql-scalar-range-empty", lambda s: s.replace(
        'kind = "file"\nparams = { path = "config/app.toml", parse = "toml" }',
        'kind = "sql"\nparams = { dsn = "duckdb:x.db", query = "select 1", expect_scalar_min = 5, '
        'expect_scalar_max = 1 }'), "validators[0].params", "no value could pass"),
    ("http-status-out-of-range", lambda s: s.replace(
        'kind = "file"\nparams = { path = "config/app.toml", parse = "toml" }',
        'kind = "http"\nparams = { url = "http://127.0.0.1/", expect_status = 2000 }'),
     "validators[0].params.expect_status", "less than or equal to 599"),
]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_the_corpus_covers_at_least_30_kinds_of_mistake():
    assert len({c[0] for c in CASES}) >= 30


@pytest.mark.fault
@pytest.mark.parametrize("case,transform,key_path,words", CASES, ids=[c[0] for c in CASES])
def test_bad_plan_is_one_line_exit_2_and_writes_nothing(plan_file, capsys, case, transform, key_path, words):
    plan_file.write_text(transform(BASE_PLAN))
    before = _tree(plan_file.parent)
    code = main(["--plan", str(plan_file), "status"])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    prefix = f"{plan_file}: {key_path}: "
    assert lines[0].startswith(prefix), lines[0]
    assert words in lines[0]
    assert _tree(plan_file.parent) == before


@pytest.mark.fault
def test_a_plan_that_is_not_utf8_is_one_line_too(plan_file, capsys):
    plan_file.write_bytes(BASE_PLAN.encode() + b"\n# \xff\xfe\n")
    before = _tree(plan_file.parent)
    assert main(["--plan", str(plan_file), "status"]) == 2
    assert capsys.readouterr().err.strip().startswith(f"{plan_file}: (file): not UTF-8 text")
    assert _tree(plan_file.parent) == before


def test_bad_plan_from_a_real_process_exits_2_before_the_console_opens(plan_file):
    from tests.conftest import run_cli

    plan_file.write_text(BASE_PLAN.replace("version = 1", "version = 1\nbogus = true"))
    r = run_cli("--plan", str(plan_file))
    assert r.returncode == 2
    assert r.stderr.strip() == f"{plan_file}: bogus: unknown key"
    assert not (plan_file.parent / "state").exists()


@pytest.mark.fault
def test_world_writable_plan_is_refused(plan_file, capsys):
    plan_file.chmod(0o666)
    assert main(["--plan", str(plan_file), "status"]) == 2
    assert "world-writable" in capsys.readouterr().err


def test_missing_plan_file(tmp_path, capsys):
    assert main(["status", "--plan", str(tmp_path / "nope.toml")]) == 2
    assert capsys.readouterr().err.strip() == f"{tmp_path / 'nope.toml'}: (file): no such file"


def test_valid_plan_resolves_paths_relative_to_the_plan(plan_file, tmp_path, monkeypatch):
    from mdm_console.plan.load import load_plan

    monkeypatch.chdir("/")
    lp = load_plan(plan_file)
    assert lp.flag_file == tmp_path / "state" / "flags.flagd.json"
    assert lp.session_db == tmp_path / "state" / "session.duckdb"
    assert lp.snapshot_files == [tmp_path / "config" / "app.toml"]
    assert [s.name for s in lp.plan.stages] == [
        "testing", "canary", "early_adopters", "general_availability", "full_rollout", "complete"]
    assert lp.plan.gate_for("storage").min_operations == 100


@pytest.mark.fault
def test_a_world_writable_flag_directory_is_refused(plan_file, capsys):
    state = plan_file.parent / "state"
    state.mkdir()
    state.chmod(0o777)
    assert main(["--plan", str(plan_file), "status"]) == 2
    err = capsys.readouterr().err
    assert f"{plan_file}: cutover.flag_file: directory {state} is world-writable" in err
