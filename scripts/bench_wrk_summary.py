#!/usr/bin/env python3
"""Summarises scripts/bench_wrk.sh's wrk outputs: medians per target and route, ratios.

Usage: scripts/bench_wrk_summary.py target/bench/wrk
"""
from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path

TARGETS = ("ceiling", "durable", "memory", "baseline")
ROUTES = ("healthz", "status", "join")


def parse(path: Path) -> tuple[float, int, int, float]:
    """(requests/s, requests, non-2xx, p99 ms) of one wrk output."""
    text = path.read_text()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    total = int(re.search(r"(\d+) requests in", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return (
        rps,
        total,
        int(non2xx.group(1)) if non2xx else 0,
        float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
    )


def main() -> int:
    out = Path(sys.argv[1])
    rows = {}
    for target in TARGETS:
        for route in ROUTES:
            runs = [parse(p) for p in sorted(out.glob(f"{target}-{route}-*.txt"))]
            if runs:
                rows[(target, route)] = runs
    print("| route | target | runs | requests/s (median) | runs' requests/s | p99 ms (median) | non-2xx | of the ceiling |")
    print("|---|---|---:|---:|---|---:|---:|---:|")
    medians = {k: statistics.median(r[0] for r in v) for k, v in rows.items()}
    for route in ROUTES:
        for target in TARGETS:
            runs = rows.get((target, route))
            if not runs:
                continue
            ceiling = medians.get(("ceiling", route))
            ratio = f"{medians[(target, route)] / ceiling:.2f}" if ceiling and target != "ceiling" else ""
            print(
                f"| {route} | {target} | {len(runs)} | {medians[(target, route)]:,.0f} | "
                + ", ".join(f"{r[0]:,.0f}" for r in runs)
                + f" | {statistics.median(r[3] for r in runs):.2f} | {sum(r[2] for r in runs)} | {ratio} |"
            )
    print()
    for route in ROUTES:
        if ("durable", route) in medians and ("memory", route) in medians:
            print(
                f"- {route}: durable / memory = {medians[('durable', route)] / medians[('memory', route)]:.2f}"
            )
        if ("durable", route) in medians and ("baseline", route) in medians:
            print(
                f"- {route}: durable / baseline = {medians[('durable', route)] / medians[('baseline', route)]:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
