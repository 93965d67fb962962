"""`system`: CPUs, memory, disk free, load (psutil, sampled in a thread)."""

from __future__ import annotations


import psutil

from mdm_console.plan.validator_params import SystemParams
from mdm_console.validators.base import Context, Outcome, failed, passed
from mdm_console import pools

GB = 1024**3


def _measure(p: SystemParams, disk_path: str) -> dict:
    m = {"cpus": psutil.cpu_count(logical=True) or 0}
    vm = psutil.virtual_memory()
    m["memory_gb"] = round(vm.total / GB, 2)
    m["memory_percent"] = vm.percent
    m["disk_free_gb"] = round(psutil.disk_usage(disk_path).free / GB, 2)
    if p.max_cpu_percent is not None:
        m["cpu_percent"] = psutil.cpu_percent(interval=0.5)
    if p.max_load_per_core is not None:
        m["load_per_core"] = round(psutil.getloadavg()[0] / max(1, m["cpus"]), 2)
    return m


async def check(p: SystemParams, ctx: Context) -> Outcome:
    disk_path = str(ctx.path(p.disk_path) if p.disk_path else ctx.base_dir)
    m = await pools.VALIDATORS.run(_measure, p, disk_path)
    rules = [
        ("cpus", p.min_cpus, ">=", ""),
        ("memory_gb", p.min_memory_gb, ">=", " GB"),
        ("disk_free_gb", p.min_disk_free_gb, ">=", " GB"),
        ("cpu_percent", p.max_cpu_percent, "<=", " %"),
        ("load_per_core", p.max_load_per_core, "<=", " (1-minute load per CPU)"),
        ("memory_percent", p.max_memory_percent, "<=", " %"),
    ]
    parts, bad = [], []
    for key, limit, op, unit in rules:
        if limit is None:
            continue
        value = m[key]
        ok = value >= limit if op == ">=" else value <= limit
        text = f"{key} {value:g}{unit} (needs {op} {limit:g}{unit})"
        parts.append(text)
        if not ok:
            bad.append(text)
    if bad:
        return failed("; ".join(bad), **m)
    return passed("; ".join(parts) or "measured, no thresholds set", **m)
