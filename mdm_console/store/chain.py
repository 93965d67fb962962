"""The hash chain: `hash = sha256(prev_hash + canonical JSON of the event)`.

The canonical JSON (the event's *body*) is stored verbatim next to the hash, so the chain
can be re-checked inside DuckDB (its `sha256()` over the same UTF-8 text) without Python
having to reproduce a serialisation byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # DuckDB strftime gives the same text for TIMESTAMP


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def format_ts(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime(TS_FORMAT)


def utcnow() -> datetime:
    return datetime.now(UTC)


def link(prev_hash: str, body: str) -> str:
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Actor:
    """Who did it: the typed operator name, and the OS account and host it came from."""

    operator: str
    os_user: str
    host: str


@dataclass(frozen=True)
class Event:
    seq: int
    ts: datetime  # aware, UTC
    actor: Actor
    kind: str
    component: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""

    def body(self) -> str:
        return event_body(self.seq, self.ts, self.actor, self.kind, self.component, self.payload)


def event_body(seq: int, ts: datetime | str, actor: Actor, kind: str, component: str | None, payload: dict) -> str:
    """`canonical()` of the event, built by concatenation (keys in sorted order) for speed.

    Equal to `canonical({...})` of the same fields; a test holds the two together.
    """
    ts_text = ts if isinstance(ts, str) else format_ts(ts)
    return (
        '{"component":' + ("null" if component is None else _string(component))
        + ',"host":' + _string(actor.host)
        + ',"kind":' + _string(kind)
        + ',"operator":' + _string(actor.operator)
        + ',"os_user":' + _string(actor.os_user)
        + ',"payload":' + canonical(payload)
        + ',"seq":' + str(int(seq))
        + ',"ts":"' + ts_text + '"}'
    )


_string = json.encoder.encode_basestring  # the C encoder of json.dumps(..., ensure_ascii=False)


def event_from_body(body: str, prev_hash: str, hash_: str) -> Event:
    d = json.loads(body)
    ts = datetime.fromisoformat(d["ts"])  # "...Z" parses as UTC
    return Event(
        seq=d["seq"],
        ts=ts,
        actor=Actor(d["operator"], d["os_user"], d["host"]),
        kind=d["kind"],
        component=d["component"],
        payload=d["payload"],
        prev_hash=prev_hash,
        hash=hash_,
    )
