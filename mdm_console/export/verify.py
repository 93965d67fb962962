"""Re-check the hash chain from an export alone (JSONL, Parquet or CSV).

What an export proves on its own: every event's hash covers its body, each links to the one before,
seq runs without a gap, and (CSV/Parquet) every column says what the hashed body says. It starts at
the genesis link (seq 1, prev_hash of zeros) or it is reported as partial with where it starts. That
nothing was cut off at the end is proven only against a head hash written down elsewhere
(`--expect-head`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from mdm_console.store.chain import GENESIS, canonical, link
from mdm_console.store.session import VerifyResult, connect

HEX64 = frozenset("0123456789abcdef")
# Every exported column and the expression of the hashed body it must equal (text on both sides).
COLUMN_CHECKS = {
    "seq": "CAST(body->>'$.seq' AS VARCHAR)",
    "ts": "strftime(CAST(body->>'$.ts' AS TIMESTAMP), '%Y-%m-%d %H:%M:%S.%f')",
    "kind": "body->>'$.kind'",
    "component": "body->>'$.component'",
    "operator": "body->>'$.operator'",
    "os_user": "body->>'$.os_user'",
    "host": "body->>'$.host'",
    "payload": "CAST(body->'$.payload' AS VARCHAR)",
}
COLUMN_VALUES = {"seq": "CAST(seq AS VARCHAR)", "ts": "strftime(CAST(ts AS TIMESTAMP), '%Y-%m-%d %H:%M:%S.%f')"}


class Malformed(Exception):
    """The export is not one of ours at some line or row (said in words)."""


def verify_export(path: Path | str, expect_head: str | None = None) -> VerifyResult:
    path = Path(path)
    try:
        rows = _jsonl_rows(path) if path.suffix == ".jsonl" else _table_rows(path)
        return _walk(rows, expect_head)
    except Malformed as exc:
        return VerifyResult(False, 0, 0, "", None, str(exc))


def _walk(rows: Iterator[tuple[int, str, str, str]], expect_head: str | None) -> VerifyResult:
    count, first, prev_seq, prev_hash, h = 0, None, None, None, ""
    seen_head = None if expect_head is None else False
    for seq, body, prev, h in rows:
        count += 1
        if h == expect_head:
            seen_head = True
        if first is None:
            first = seq
            if seq == 1 and prev != GENESIS:
                return VerifyResult(False, count, seq, h, seq, "seq 1 does not link to the genesis hash")
        elif seq != prev_seq + 1:
            what = "repeats seq" if seq <= prev_seq else f"jumps from seq {prev_seq}"
            return VerifyResult(False, count, seq, h, seq, f"sequence broken: {what} (events missing or moved)")
        elif prev != prev_hash:
            return VerifyResult(False, count, seq, h, seq, "prev_hash does not link to the event before it")
        if link(prev, body) != h:
            return VerifyResult(False, count, seq, h, seq, "hash does not match the event (edited)")
        prev_seq, prev_hash = seq, h
    if first is None:
        return VerifyResult(False, 0, 0, "", None, "the export holds no event")
    partial = first if first != 1 else None
    return VerifyResult(True, count, prev_seq, h, partial_from=partial, contains_head=seen_head)


def _jsonl_rows(path: Path) -> Iterator[tuple[int, str, str, str]]:
    try:
        fh = open(path, encoding="utf-8")
    except OSError as exc:
        raise Malformed(f"cannot read {path}: {exc.strerror or exc}") from None
    with fh:
        n = 0
        while True:
            try:
                line = fh.readline()
            except UnicodeDecodeError as exc:
                raise Malformed(f"line {n + 1}: not UTF-8 text ({exc.reason})") from None
            if not line:
                return
            n += 1
            try:
                d = json.loads(line, object_pairs_hook=_no_repeats)
            except _Repeated as exc:  # a reader sees the first, the parser keeps the last: refused, never guessed
                raise Malformed(f"line {n}: the key '{exc}' appears twice") from None
            except (ValueError, RecursionError):
                raise Malformed(f"line {n}: not JSON") from None
            if not isinstance(d, dict):
                raise Malformed(f"line {n}: not an exported event (a JSON {type(d).__name__}, not an object)")
            prev, h = d.pop("prev_hash", None), d.pop("hash", None)
            seq = d.get("seq")
            if not (_is_hash(prev) and _is_hash(h)):
                raise Malformed(f"line {n}: not an exported event (no valid prev_hash and hash)")
            if type(seq) is not int:
                raise Malformed(f"line {n}: not an exported event (no integer seq)")
            try:
                body = canonical(d)
            except ValueError as exc:
                raise Malformed(f"line {n}: {exc}") from None
            yield seq, body, prev, h


def _table_rows(path: Path) -> Iterator[tuple[int, str, str, str]]:
    if path.suffix == ".parquet":
        source = "read_parquet(?)"
    elif path.suffix == ".csv":
        source = "read_csv(?, header = true, all_varchar = true)"
    else:
        raise Malformed(f"{path}: not a .jsonl, .parquet or .csv export")
    con = connect(":memory:")
    try:
        import duckdb

        try:
            quoted = "'" + str(path).replace("'", "''") + "'"
            con.execute(f"CREATE TEMP VIEW export AS SELECT * FROM {source.replace('?', quoted)}")
            cols = {r[0] for r in con.execute("DESCRIBE export").fetchall()}
        except duckdb.Error as exc:
            raise Malformed(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
        known = ("seq", "body", "prev_hash", "hash", *COLUMN_CHECKS)
        missing = [c for c in known if c not in cols]
        if missing:
            raise Malformed(f"{path}: not an events export (no column {', '.join(missing)})")
        extra = sorted(cols - set(known))
        if extra:  # a column the chain does not cover would read as part of the record: refused, named
            raise Malformed(f"{path}: a column no hash covers: {', '.join(extra)}")
        checks = " OR ".join(
            f"({COLUMN_VALUES.get(c, c)}) IS DISTINCT FROM ({expr})" for c, expr in COLUMN_CHECKS.items())
        first_col = "CASE " + " ".join(
            f"WHEN ({COLUMN_VALUES.get(c, c)}) IS DISTINCT FROM ({expr}) THEN '{c}'"
            for c, expr in COLUMN_CHECKS.items()) + " END"
        try:
            bad = con.execute(
                f"SELECT row_number() OVER () AS n, {first_col} FROM (SELECT *, TRY_CAST(body AS JSON) AS j FROM export) "
                f"QUALIFY j IS NULL OR {checks} LIMIT 1").fetchone()
        except duckdb.Error as exc:
            raise Malformed(f"{path}: {str(exc).splitlines()[0]}") from None
        if bad:
            what = f"column {bad[1]} does not match the hashed body" if bad[1] else "its body is not JSON"
            raise Malformed(f"row {bad[0]}: {what} (edited)")
        cur = con.execute("SELECT CAST(seq AS BIGINT), body, prev_hash, hash FROM export")
        n = 0
        while batch := cur.fetchmany(50_000):
            for seq, body, prev, h in batch:
                n += 1
                if seq is None or not (_is_hash(prev) and _is_hash(h)) or not isinstance(body, str):
                    raise Malformed(f"row {n}: not an exported event (seq, prev_hash or hash missing)")
                yield seq, body, prev, h
    finally:
        con.close()


class _Repeated(ValueError):
    pass


def _no_repeats(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in pairs:
        if k in out:
            raise _Repeated(k)
        out[k] = v
    return out


def _is_hash(v: object) -> bool:
    return isinstance(v, str) and len(v) == 64 and HEX64.issuperset(v)
