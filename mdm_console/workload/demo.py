"""The demo workload: a separate process that plays the migrated application.

Many simulated users; for each request it evaluates the component's flag through the real
OpenFeature SDK with the flagd provider in FILE mode on the console's flag file, so only
users in the rollout take the new code path. The new path gets the injected errors and
latency. It writes one JSONL line per operation (per-second aggregate lines at high rates)
and can serve the same counts as Prometheus text. It learns the components from the flag
file's metadata and follows every change of the file (the provider re-reads it).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PER_OP_MAX_RATE = 1000  # above this many ops/s, write aggregate lines (per component, variant, second)
BASE_ERROR_RATE = 0.001
BASE_LATENCY_MS = 20.0
POLL_MS = 500  # the flagd provider re-reads the flag file this often


@dataclass
class Config:
    flags: Path
    metrics: Path
    rate: float = 200.0
    faults: dict[str, float] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    prometheus_port: int | None = None
    users: int = 100_000
    seed: int | None = None
    rotate_bytes: int = 4 << 20  # the metrics file is rotated to <name>.1 at this size (0: never)
    per_op: bool = False  # one line per operation at any rate (else aggregates above PER_OP_MAX_RATE)


def components_from(flags_path: Path) -> dict[str, str]:
    """{flag_key: component} from the flag file's metadata (flags without one are not ours)."""
    try:
        doc = json.loads(flags_path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: f.get("metadata", {}).get("component") for k, f in doc.get("flags", {}).items()
            if isinstance(f, dict) and f.get("metadata", {}).get("component")}


class Metrics:
    """Optional Prometheus counters, mirroring what goes into the JSONL file."""

    def __init__(self, port: int):
        from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

        self.registry = CollectorRegistry()
        self.ops = Counter("mdm_operations", "operations", ["component", "outcome", "variant"], registry=self.registry)
        self.latency = Histogram("mdm_operation_duration_seconds", "latency", ["component", "variant"],
                                 registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        start_http_server(port, addr="127.0.0.1", registry=self.registry)

    def observe(self, comp: str, ok: bool, variant: str, latency_ms: float) -> None:
        self.ops.labels(comp, "success" if ok else "error", variant).inc()
        self.latency.labels(comp, variant).observe(latency_ms / 1000)


def run(cfg: Config) -> int:
    from openfeature import api
    from openfeature.contrib.provider.flagd import FlagdProvider
    from openfeature.contrib.provider.flagd.config import ResolverType
    from openfeature.evaluation_context import EvaluationContext

    stop = {"now": False}

    def _stop(*_):
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    parent = os.getppid()
    rng = random.Random(cfg.seed)
    while not cfg.flags.exists() and not stop["now"]:
        time.sleep(0.2)  # the console writes the flag file at start
    api.set_provider_and_wait(FlagdProvider(resolver_type=ResolverType.FILE,
                                            offline_flag_source_path=str(cfg.flags), deadline_ms=POLL_MS))
    client = api.get_client()
    prom = None
    if cfg.prometheus_port:
        try:
            prom = Metrics(cfg.prometheus_port)
        except OSError as exc:  # the port is taken: keep simulating, just without the Prometheus text
            print(f"demo-workload: cannot serve Prometheus on 127.0.0.1:{cfg.prometheus_port}: {exc}",
                  file=sys.stderr, flush=True)
    cfg.metrics.parent.mkdir(parents=True, exist_ok=True)
    out = open(cfg.metrics, "a", buffering=1)  # noqa: SIM115 - reopened on rotation below
    comps: dict[str, str] = {}
    comps_checked = 0.0
    aggregate = cfg.rate > PER_OP_MAX_RATE and not cfg.per_op
    agg: dict[tuple[str, str], list] = {}
    agg_second = int(time.time())
    tick = 0.01
    budget = 0.0
    last = time.perf_counter()
    while not stop["now"]:
        if os.getppid() != parent:
            break  # the console is gone: so are we (no orphan)
        now = time.time()
        if now - comps_checked > POLL_MS / 1000:
            comps = components_from(cfg.flags) or comps
            comps_checked = now
            if not cfg.metrics.exists():  # rotated or removed: start a new file
                out.close()
                out = open(cfg.metrics, "a", buffering=1)  # noqa: SIM115
        t = time.perf_counter()
        budget += (t - last) * cfg.rate
        last = t
        n = int(budget)
        budget -= n
        if comps:
            keys = list(comps)
            lines = []
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            for _ in range(n):
                flag = keys[rng.randrange(len(keys))]
                comp = comps[flag]
                user = f"user-{rng.randrange(cfg.users)}"
                new = client.get_boolean_value(flag, False, EvaluationContext(targeting_key=user))
                variant = "new" if new else "old"
                err_rate = cfg.faults.get(comp, BASE_ERROR_RATE) if new else BASE_ERROR_RATE
                ok = rng.random() >= err_rate
                latency = rng.lognormvariate(0, 0.35) * BASE_LATENCY_MS + (cfg.latency.get(comp, 0) if new else 0)
                if prom:
                    prom.observe(comp, ok, variant, latency)
                if aggregate:
                    a = agg.setdefault((comp, variant), [0, 0, []])
                    a[0 if ok else 1] += 1
                    a[2].append(latency)
                else:
                    lines.append(json.dumps({"ts": stamp, "component": comp, "outcome": "success" if ok else "error",
                                             "latency_ms": round(latency, 2), "variant": variant}))
            if lines:
                out.write("\n".join(lines) + "\n")
                out = rotate_if_full(out, cfg)
        if aggregate and int(now) != agg_second:
            stamp = datetime.fromtimestamp(agg_second, UTC).isoformat().replace("+00:00", "Z")
            for (comp, variant), (s, e, lat) in agg.items():
                lat.sort()
                p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else None
                out.write(json.dumps({"ts": stamp, "component": comp, "success": s, "error": e,
                                      "latency_p99_ms": round(p99, 2) if p99 else None, "variant": variant}) + "\n")
            out = rotate_if_full(out, cfg)
            agg.clear()
            agg_second = int(now)
        time.sleep(tick)
    out.close()
    api.shutdown()
    return 0


def rotate_if_full(out, cfg: Config):
    """At the size cap the file becomes <name>.1 (replacing the one before) and a new one starts: the demo's own
    files stay small however long it runs. The console's feed reads the old file to its end, then the new one."""
    if not cfg.rotate_bytes or out.tell() < cfg.rotate_bytes:
        return out
    out.close()
    os.replace(cfg.metrics, cfg.metrics.with_name(cfg.metrics.name + ".1"))
    return open(cfg.metrics, "a", buffering=1)  # noqa: SIM115 - the writer's file until the next rotation


def parse_pairs(values: list[str], what: str) -> dict[str, float]:
    out = {}
    for v in values or []:
        comp, sep, num = v.partition(":")
        try:
            out[comp] = float(num)
        except ValueError:
            raise SystemExit(f"--{what} {v!r}: expected COMPONENT:NUMBER") from None
        if not sep or not comp:
            raise SystemExit(f"--{what} {v!r}: expected COMPONENT:NUMBER")
    return out


if __name__ == "__main__":
    sys.exit(run(Config(Path(sys.argv[1]), Path(sys.argv[2]))))
