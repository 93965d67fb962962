"""A small "orders" service moving its storage to a new code path, wired to mdm-console.

It is the integration guide (docs/integrate.md) as a program you can run:

- every order asks the flag `orders.new_storage` which storage path to take, through the OpenFeature
  SDK and the flagd provider reading the console's flag file in-process (file mode): no daemon needed;
- the customer id is the evaluation's `targeting_key`, so a customer stays on one path at a stage and the
  share of customers on the new path is the stage's percent;
- each order writes one metric line for the console: component, outcome, latency and `variant` (which
  path served it), as docs/metrics.md defines.

    python examples/orders/app.py --flags state/flags.flagd.json --metrics metrics/orders.jsonl

`--new-path-errors 0.1` makes the new path fail 10 % of orders (a fault drill for the auto-rollback).
Needs: pip install openfeature-sdk openfeature-provider-flagd (mdm-console already depends on both).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

from openfeature import api
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext

FLAG_KEY = "orders.new_storage"
COMPONENT = "storage"


class OldStorage:
    """Your existing code path (here: orders kept in memory)."""

    def __init__(self) -> None:
        self.orders: list[dict] = []

    def save(self, order: dict) -> None:
        self.orders.append(order)


class NewStorage(OldStorage):
    """The new code path, with the drill's injected fault."""

    def __init__(self, error_rate: float, rng: random.Random):
        super().__init__()
        self.error_rate, self.rng = error_rate, rng

    def save(self, order: dict) -> None:
        if self.rng.random() < self.error_rate:
            raise OSError("new storage refused the write")
        super().save(order)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flags", type=Path, required=True, help="the flag file mdm-console writes")
    ap.add_argument("--metrics", type=Path, required=True, help="the JSONL file mdm-console reads")
    ap.add_argument("--rate", type=float, default=200, help="orders per second")
    ap.add_argument("--customers", type=int, default=50_000)
    ap.add_argument("--new-path-errors", type=float, default=0.0, help="fault drill: new path error rate")
    ap.add_argument("--seed", type=int)
    args = ap.parse_args()

    running = True

    def stop(*_):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    rng = random.Random(args.seed)

    # 1. The flagd provider in file mode: it re-reads the flag file when it changes (it polls; a change is
    #    seen within about half a second). `deadline_ms` is how long an evaluation may wait for the file.
    api.set_provider_and_wait(FlagdProvider(resolver_type=ResolverType.FILE,
                                            offline_flag_source_path=str(args.flags), deadline_ms=500))
    flags = api.get_client()
    old, new = OldStorage(), NewStorage(args.new_path_errors, rng)
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    with open(args.metrics, "a", buffering=1) as out:
        next_at = time.monotonic()
        while running:
            customer = f"customer-{rng.randrange(args.customers)}"
            # 2. Every evaluation names its targeting key: without one the fractional rule has nothing to
            #    hash and every request gets the default ("off"), whatever the stage.
            use_new = flags.get_boolean_value(FLAG_KEY, False, EvaluationContext(targeting_key=customer))
            t0 = time.perf_counter()
            try:
                (new if use_new else old).save({"customer": customer})
                outcome = "success"
            except OSError:
                outcome = "error"
            latency_ms = (time.perf_counter() - t0) * 1000 + rng.lognormvariate(2.5, 0.3)  # + simulated I/O
            # 3. One line per operation, saying which path served it.
            out.write(json.dumps({
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "component": COMPONENT, "outcome": outcome, "latency_ms": round(latency_ms, 2),
                "variant": "new" if use_new else "old"}) + "\n")
            next_at += 1 / args.rate
            time.sleep(max(0.0, next_at - time.monotonic()))
    api.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
