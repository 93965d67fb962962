"""Secret masking of free text (validator output, error messages, URLs): time per MiB, realistic and hostile.

Usage: python benchmarks/redact.py [--size BYTES] [--json]

Inputs: log-like output (requests, latencies, a `token=` every 50 lines); and the hostile shapes that made
the earlier pattern quadratic (a long run of name characters, a keyword repeated without a separator,
"://" repeated, a huge value). Baseline in the same run: `str.replace` of one known secret over the same
realistic text, the least any masking has to do."""

from __future__ import annotations

import random
import time

from _common import emit, parse_args

from mdm_console.redact import redact_text


def timed(fn, text: str, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def main() -> None:
    args = parse_args(size=1_000_000)
    n = args.size
    rnd = random.Random(20261125)
    words = ["GET", "/api/v1/orders", "200", "ok", "latency_ms=12", "user=alice", "connected", "db", "retry", "503"]
    lines = [" ".join(rnd.choice(words) for _ in range(10)) + (" token=abc123" if i % 50 == 0 else "")
             for i in range(n // 40)]
    realistic = "\n".join(lines)[:n]
    base = timed(lambda t: t.replace("hunter2-secret", "***"), realistic)
    rows = []
    cases = {"log-like output": realistic, "a run of name characters": "a" * n,
             "a keyword repeated without a separator": "token" * (n // 5), '"://" repeated': "a://" * (n // 4),
             "one huge value": "password=" + "v" * n}
    for name, text in cases.items():
        ms = timed(redact_text, text)
        rows.append({"figure": f"mask 1 MB: {name}", "goal": "< 100 ms", "value": round(ms, 1), "unit": "ms",
                     "baseline": round(base, 2), "ratio": round(ms / base, 1),
                     "how": f"redact_text over {len(text)} characters, best of 5; baseline = str.replace of one "
                            "known secret over the log-like text"})
    emit(rows, args.json)


if __name__ == "__main__":
    main()
