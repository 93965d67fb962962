"""The plan documents itself: `mdm-console schema`, docs/plan.md generated from the models, `#:schema` in init."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from mdm_console.plan.schema import SCHEMA_FILE, markdown, schema, undocumented
from tests.conftest import run_cli

ROOT = Path(__file__).parent.parent


def test_docs_plan_md_is_what_the_models_say():
    assert (ROOT / "docs" / "plan.md").read_text() == markdown(), "docs/plan.md is out of date: python docs/plan.py"


def test_every_key_of_the_plan_has_a_meaning():
    assert undocumented() == []


def test_the_schema_accepts_the_shipped_plans_and_rejects_a_typo():
    validator = jsonschema.Draft202012Validator(schema())
    for plan in (ROOT / "mdm_console" / "plan" / "demo" / "mdm-plan.toml",
                 ROOT / "mdm_console" / "plan" / "example" / "mdm-plan.toml"):
        errors = list(validator.iter_errors(tomllib.loads(plan.read_text())))
        assert errors == [], (plan, [e.message for e in errors[:3]])
    typo = tomllib.loads((ROOT / "mdm_console" / "plan" / "example" / "mdm-plan.toml").read_text())
    typo["gate"]["min_sucess_rate"] = 0.99
    with pytest.raises(jsonschema.ValidationError, match="min_sucess_rate"):
        validator.validate(typo)


def test_schema_command_and_init_write_the_same_schema_the_plan_points_at(tmp_path):
    r = run_cli("schema")
    assert r.returncode == 0 and json.loads(r.stdout) == json.loads(json.dumps(schema()))
    r = run_cli("init", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "mdm-plan.toml").read_text().splitlines()[0] == f"#:schema ./{SCHEMA_FILE}"
    assert json.loads((tmp_path / SCHEMA_FILE).read_text()) == json.loads(json.dumps(schema()))
