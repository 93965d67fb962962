"""Trust: nothing of ours overwrites what is not ours, and every directory we write into is checked."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.test_service import two_users  # noqa: F401 - a fixture


def _plan_with(plan_file: Path, old: str, new: str) -> None:
    plan_file.write_text(plan_file.read_text().replace(old, new))


@pytest.mark.parametrize("flag_file, key, other", [
    ('"mdm-plan.toml"', "cutover.flag_file", "the plan file"),
    ('"state/session.duckdb"', "cutover.flag_file", "cutover.session_db"),
    ('"config/app.toml"', "cutover.snapshot_files[0]", "cutover.flag_file"),
])
def test_a_plan_naming_one_file_twice_is_refused_before_anything_is_written(plan_file, flag_file, key, other):
    _plan_with(plan_file, '"state/flags.flagd.json"', flag_file)
    before = {p: p.read_bytes() for p in plan_file.parent.rglob("*") if p.is_file()}
    r = run_cli("advance", "storage", "--plan", str(plan_file))
    assert r.returncode == 2, r.stderr
    assert f": {key}: " in r.stderr and f"is also {other}" in r.stderr
    after = {p: p.read_bytes() for p in plan_file.parent.rglob("*") if p.is_file()}
    assert after == before  # nothing created, nothing rewritten


def test_the_same_file_through_a_symlink_is_refused(plan_file):
    (plan_file.parent / "state").mkdir()
    os.symlink(plan_file, plan_file.parent / "state" / "link.json")
    _plan_with(plan_file, '"state/flags.flagd.json"', '"state/link.json"')
    r = run_cli("status", "--plan", str(plan_file))
    assert r.returncode == 2 and "cutover.flag_file" in r.stderr and "is also the plan file" in r.stderr


def test_db_option_naming_the_plan_is_refused(plan_file):
    r = run_cli("advance", "storage", "--plan", str(plan_file), "--db", str(plan_file))
    assert r.returncode == 2 and ": --db: " in r.stderr


def test_a_world_writable_ancestor_of_the_flag_file_is_refused(plan_file):
    parent = plan_file.parent / "shared"
    (parent / "deep").mkdir(parents=True)
    parent.chmod(0o777)
    _plan_with(plan_file, '"state/flags.flagd.json"', '"shared/deep/state/flags.flagd.json"')
    r = run_cli("status", "--plan", str(plan_file))
    assert r.returncode == 2 and "cutover.flag_file" in r.stderr and f"{parent} is world-writable" in r.stderr
    parent.chmod(0o1777)  # the sticky bit (as /tmp has) keeps others from replacing our files
    assert run_cli("status", "--plan", str(plan_file)).returncode == 0


def test_a_world_writable_ancestor_of_the_session_db_is_refused(plan_file):
    (plan_file.parent / "open").mkdir()
    (plan_file.parent / "open").chmod(0o777)
    r = run_cli("points", "--take", "x", "--plan", str(plan_file), "--db", str(plan_file.parent / "open/s/db.duckdb"))
    assert r.returncode == 2 and "open is world-writable" in r.stderr


def test_the_session_db_is_created_0600_and_a_looser_one_is_refused_with_the_chmod(plan_file):
    assert run_cli("points", "--take", "x", "--plan", str(plan_file)).returncode == 0
    db = plan_file.parent / "state" / "session.duckdb"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    db.chmod(0o666)
    r = run_cli("points", "--take", "y", "--plan", str(plan_file))
    assert r.returncode == 2 and f"run: chmod 600 {db}" in r.stderr


def test_an_sqlite_file_as_session_db_is_refused_without_duckdb_reaching_for_an_extension(plan_file, tmp_path):
    lite = tmp_path / "other.sqlite"
    con = sqlite3.connect(lite)
    con.execute("CREATE TABLE t (a)")
    con.commit()
    con.close()
    home = tmp_path / "home"
    home.mkdir()
    for args in (("status",), ("advance", "storage")):
        r = run_cli(*args, "--plan", str(plan_file), "--db", str(lite), env={"HOME": str(home)})
        assert r.returncode == 2, r.stderr
        assert "it is an SQLite database" in r.stderr
    assert not (home / ".duckdb").exists()  # no extension was looked for or downloaded


def test_duckdb_connections_load_no_extension(tmp_path):
    from mdm_console.store.session import connect

    con = connect(":memory:")
    settings = dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name LIKE 'auto%_known_extensions'")
                    .fetchall())
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


def _flag_file(plan_file: Path) -> Path:
    return plan_file.parent / "state" / "flags.flagd.json"


def test_a_fresh_session_never_overwrites_a_flag_file_it_did_not_write(plan_file, tmp_path):
    assert run_cli("advance", "storage", "--override", "t", "--plan", str(plan_file)).returncode == 0
    theirs = _flag_file(plan_file).read_bytes()
    other_db = str(tmp_path / "other.duckdb")
    r = run_cli("advance", "features", "--override", "t", "--plan", str(plan_file), "--db", other_db)
    assert r.returncode == 1
    assert "was not written by this session" in r.stderr and "--adopt-flag-file" in r.stderr
    assert _flag_file(plan_file).read_bytes() == theirs
    # A rollback does not overwrite it either.
    r = run_cli("rollback", "--kind", "flags", "--yes", "--plan", str(plan_file), "--db", other_db)
    assert r.returncode == 1 and _flag_file(plan_file).read_bytes() == theirs


def test_adopting_a_flag_file_records_its_sha256_and_keeps_its_content_in_a_point(plan_file, tmp_path):
    import hashlib
    import json

    flag = _flag_file(plan_file)
    flag.parent.mkdir()
    theirs = b'{"flags": {"someone.else": {"state": "ENABLED"}}}\n'
    flag.write_bytes(theirs)
    other_db = tmp_path / "other.duckdb"
    r = run_cli("advance", "storage", "--override", "t", "--adopt-flag-file", "we own it now", "--plan",
                str(plan_file), "--db", str(other_db))
    assert r.returncode == 0, r.stderr
    assert json.loads(flag.read_bytes())["flags"]["mdm.new_backend"]["metadata"]["percent"] == 5
    log = run_cli("export", "--format", "jsonl", "--output", str(tmp_path / "log.jsonl"), "--plan", str(plan_file),
                  "--db", str(other_db))
    assert log.returncode == 0, log.stderr
    events = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    adopted = next(e for e in events if e["kind"] == "flags.adopted")
    assert adopted["payload"]["sha256"] == hashlib.sha256(theirs).hexdigest()
    assert adopted["payload"]["reason"] == "we own it now"
    point = next(e for e in events if e["kind"] == "point.created" and e["payload"]["id"] == adopted["payload"]["point"])
    kept = next(f for f in point["payload"]["files"] if f["label"] == "flags")
    assert kept["sha256"] == hashlib.sha256(theirs).hexdigest()
    assert Path(kept["stored"]).read_bytes() == theirs  # their content, kept beside the session


def test_a_plan_another_user_could_change_is_never_run(two_users):
    import pwd
    import shutil
    import tempfile

    from tests.conftest import BASE_PLAN

    (a, _, _), _ = two_users
    pw = pwd.getpwnam(a)
    top = Path(tempfile.mkdtemp(prefix="mdm-foreign-plan-"))
    try:
        (top / "config").mkdir()
        (top / "config" / "app.toml").write_text('[app]\nname = "x"\n')
        plan = top / "mdm-plan.toml"
        ran = top / "ran"
        plan.write_text(BASE_PLAN + f'\n[[validators]]\nid = "theirs"\nkind = "command"\n'
                        f'params = {{ argv = ["touch", "{ran}"] }}\n')
        os.chown(plan, pw.pw_uid, pw.pw_gid)  # an ordinary user's plan, in root's directory
        r = run_cli("validate", "--plan", str(plan))
        assert r.returncode == 2 and f"belongs to uid {pw.pw_uid}, not to you (uid 0) or root" in r.stderr, r.stderr
        assert not ran.exists()  # nothing it names ran as root
        os.chown(plan, 0, pw.pw_gid)  # root's, but the other user's group may write it
        os.chmod(plan, 0o664)
        r = run_cli("validate", "--plan", str(plan))
        assert r.returncode == 2 and f"is writable by group {pw.pw_gid} (mode 0664)" in r.stderr, r.stderr
        assert run_cli("status", "--plan", str(plan)).returncode == 0  # reading runs nothing: allowed
        os.chmod(plan, 0o644)
        assert run_cli("validate", "--plan", str(plan)).returncode == 0 and ran.exists()
    finally:
        shutil.rmtree(top, ignore_errors=True)
