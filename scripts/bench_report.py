#!/usr/bin/env python3
"""Writes target/bench-report.md from criterion's estimates and the JSON
lines of the memory and end-to-end runs (see `make bench`).

Usage: bench_report.py TARGET_DIR
Reads TARGET_DIR/criterion/**/new/{estimates,benchmark}.json,
TARGET_DIR/bench-memory.json (one line per case),
TARGET_DIR/bench-dev-apps.json, TARGET_DIR/bench-api-load.json,
TARGET_DIR/bench-real-vs-sim.json and
TARGET_DIR/bench-e2e-STORE-N-agents.json (STORE memory or redis; each: the
last JSON line printed by the run). Reports only; asserts nothing.
"""
import glob
import json
import os
import sys

TARGETS = {
    "placement/cycle_10k_offers_1k_apps": "< 50 ms on one core",
    "status_updates/persisted_acked_512_memory_store": "> 20,000 updates/s",
    "status_updates/persisted_acked_512_redis_store": "> 5,000 updates/s",
}

STORES = ("memory", "redis")


def fmt_time(ns):
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def criterion_rows(target):
    rows = []
    for est in sorted(glob.glob(os.path.join(target, "criterion", "**", "new", "estimates.json"), recursive=True)):
        base = os.path.dirname(est)
        try:
            bench = json.load(open(os.path.join(base, "benchmark.json")))
            estimates = json.load(open(est))
        except (OSError, ValueError):
            continue
        name = bench.get("full_id") or bench.get("title") or base
        mean = estimates["mean"]["point_estimate"]
        through = bench.get("throughput") or {}
        extra = ""
        if "Bytes" in through:
            extra = f"{through['Bytes'] / (mean / 1e9) / 1e6:.1f} MB/s"
        elif "BytesDecimal" in through:
            extra = f"{through['BytesDecimal'] / (mean / 1e9) / 1e6:.1f} MB/s"
        elif "Elements" in through:
            n = through["Elements"]
            extra = f"{n / (mean / 1e9):,.0f} elem/s ({fmt_time(mean / n)} each)"
        rows.append((name, fmt_time(mean), extra, TARGETS.get(name, "")))
    return rows


def json_lines(path):
    try:
        lines = [l for l in open(path).read().splitlines() if l.strip().startswith("{")]
        return [json.loads(l) for l in lines]
    except (OSError, ValueError):
        return []


def figure_table(figures):
    rows = ["| figure | value |", "| --- | --- |"]
    rows += [f"| {k} | {v:,.0f} |" if isinstance(v, (int, float)) and not isinstance(v, bool)
             else f"| {k} | {v} |" for k, v in figures.items()]
    return rows


def last_json(path):
    try:
        lines = [l for l in open(path).read().splitlines() if l.strip().startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def e2e_runs(target):
    """{agents: {store: figures}} from the e2e result files."""
    runs = {}
    for path in glob.glob(os.path.join(target, "bench-e2e-*-agents.json")):
        parts = os.path.basename(path)[len("bench-e2e-"):-len("-agents.json")].split("-")
        store, agents = (parts[0], parts[-1]) if len(parts) == 2 else ("memory", parts[0])
        if not agents.isdigit():
            continue
        runs.setdefault(int(agents), {})[store] = last_json(path)
    return runs


def cell(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.3f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def e2e_section(target):
    out = ["## End to end (`hydrogen bench e2e`)", "",
           "100 apps × (agents / 10) instances; then a tenth of the agents lost at once (the storm). "
           "Redis: a throwaway local redis-server with AOF `appendfsync always`; "
           "framework CPU excludes the Redis server's.", ""]
    runs = e2e_runs(target)
    if not runs:
        return out + ["(no result)", ""]
    for agents in sorted(runs):
        by_store = runs[agents]
        stores = [s for s in STORES if s in by_store] + sorted(s for s in by_store if s not in STORES)
        keys = []
        for s in stores:
            for k in (by_store[s] or {}):
                if k not in keys:
                    keys.append(k)
        out += [f"### {agents:,} agents", ""]
        out += ["| figure | " + " | ".join(stores) + " |", "| --- |" + " --- |" * len(stores)]
        for k in keys:
            out.append(f"| {k} | " + " | ".join(cell((by_store[s] or {}).get(k)) if by_store[s] else "(no result)" for s in stores) + " |")
        out.append("")
    out += ["Targets: 10,000 tasks placed within min_offer_cycles + 1; status updates persisted and "
            "acknowledged at > 20,000/s (memory store) and > 5,000/s (Redis).", ""]
    return out


def real_vs_sim_section(target):
    out = ["## Real Mesos vs `hydrogen sim` (`cargo bench --bench real_vs_sim`)", ""]
    run = last_json(os.path.join(target, "bench-real-vs-sim.json"))
    if not run:
        return out + ["(no result)", ""]
    if run.get("skipped"):
        return out + [f"skipped: {run['skipped']}", ""]
    out.append(f"One app × {run.get('tasks', '?')} tasks of {run.get('task_cpus', '?')} cpu on "
               f"{run.get('agents', '?')} agents of {run.get('agent_cpus', '?')} cpus; "
               "framework CPU is the `hydrogen serve` process's, deploy to all RUNNING.")
    out += ["", "| master | all RUNNING | framework CPU |", "| --- | --- | --- |"]
    for name in ("real", "sim"):
        r = run.get(name) or {}
        out.append(f"| {name} | {cell(r.get('all_running_seconds'))} s | {cell(r.get('framework_cpu_seconds'))} s |")
    out.append("")
    return out


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else "target"
    out = ["# Hydrogen benchmark report", "",
           "Generated by `make bench`. Figures from one run on this machine; benchmarks report, they never assert.", ""]
    rows = criterion_rows(target)
    out += ["## Micro benchmarks (criterion, mean)", "", "| benchmark | time | throughput | target |", "| --- | --- | --- | --- |"]
    out += [f"| {n} | {t} | {x} | {g} |" for n, t, x, g in rows]
    out.append("")
    # bench-memory.json: one line per case, the tasks case first (no "case").
    mems = json_lines(os.path.join(target, "bench-memory.json"))
    mem = next((m for m in mems if "case" not in m), None)
    out += ["## Memory per tracked task", ""]
    if mem:
        out += figure_table(mem)
        out.append("")
        out.append("Target: < 1 KiB (1024 bytes) per tracked task at 100,000 tasks.")
    else:
        out.append("(no result)")
    out.append("")
    apps = next((m for m in mems if m.get("case") == "apps"), None)
    dev = last_json(os.path.join(target, "bench-dev-apps.json"))
    out += ["## Leader memory per app (10,000 apps)", ""]
    for figures in (apps, dev):
        if figures:
            out += figure_table(figures)
            out.append("")
    out.append("Target: < 3,000 bytes per app with 0 instances." if apps or dev else "(no result)")
    out.append("")
    for name, title in (("bench-api-load.json", "API load (`cargo bench --bench api_load`)"),
                        ("bench-api-load-100k.json", "API load at 100,000 tasks (memory store)")):
        api = last_json(os.path.join(target, name))
        out += [f"## {title}", ""]
        if api and api.get("results"):
            out.append(f"{api.get('tasks', '?'):,} tasks stored ({api.get('apps', '?')} apps), "
                       f"{api.get('clients', '?')} concurrent clients, {api.get('secs_per_scenario', '?')} s per row. "
                       "redis: two `hydrogen serve` sharing one redis-server (leader and follower); "
                       "memory: one in-process instance.")
            out += ["", "| store | instance | face | call | req/s | p50 | p99 | errors |",
                    "| --- | --- | --- | --- | --- | --- | --- | --- |"]
            for r in api["results"]:
                out.append(f"| {r['setup']} | {r['instance']} | {r['face']} | {r['call']} | "
                           f"{r['requests_per_s']:,.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | {r['errors']} |")
            out.append("")
            out.append("Target: State p99 < 20 ms at 64 clients.")
        else:
            out.append("(no result)")
        out.append("")
    out += ["## Failover (leader SIGKILLed, Redis; until the new leader has reconciled)", "",
            "| tasks | kills | p50 | max |", "| --- | --- | --- | --- |"]
    for name in ("bench-failover.txt", "bench-failover-100k.txt"):
        run = last_json(os.path.join(target, name))
        if run:
            out.append(f"| {run.get('tasks', 0):,} | {run.get('kills', '?')} | "
                       f"{run.get('p50_seconds', 0):.3f} s | {run.get('max_seconds', 0):.3f} s |")
    out += ["", "Target: p50 < 2 s at 100,000 tasks.", ""]
    out += real_vs_sim_section(target)
    out += e2e_section(target)
    path = os.path.join(target, "bench-report.md")
    with open(path, "w") as f:
        f.write("\n".join(out))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
