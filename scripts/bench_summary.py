#!/usr/bin/env python3
"""Summarises the `tacos-load --json` reports of one scripts/bench.sh section as markdown.

Usage: bench_summary.py ceiling|flows|rush|memory|smoke DIR

Every figure is the median over the section's runs (file names end in -<run>.json); the raw
reports stay in DIR. Exits non-zero when a run broke a rule that makes its figures meaningless:
an unbalanced ledger anywhere, or (smoke) any run that was not clean.
"""
import glob
import json
import os
import re
import statistics
import sys


def reports(directory, stem):
    """The reports named <stem>-<run>.json, in run order."""
    pattern = re.compile(re.escape(stem) + r"-(\d+)\.json$")
    found = []
    for path in glob.glob(os.path.join(directory, stem + "-*.json")):
        m = pattern.search(os.path.basename(path))
        if m:
            with open(path) as f:
                found.append((int(m.group(1)), json.load(f)))
    return [r for _, r in sorted(found, key=lambda x: x[0])]


def median(values):
    values = list(values)
    return statistics.median(values) if values else float("nan")


def route(report, name):
    for r in report["routes"]:
        if r["route"] == name:
            return r
    return None


def pct(report, name, key):
    r = route(report, name)
    return r["latency_ms"][key] if r else float("nan")


def slowest(report):
    """The route of a run with the highest p99, and that p99: a flow is as fast as its slowest step."""
    worst = max(report["routes"], key=lambda r: r["latency_ms"]["p99"])
    return f"{worst['latency_ms']['p99']:.2f} ({worst['label']})"


def check_ledgers(all_reports):
    bad = [r for r in all_reports if r.get("ledger") and r["ledger"]["problems"]]
    for r in bad:
        print(f"LEDGER DOES NOT BALANCE: {r['ledger']['problems']}", file=sys.stderr)
    return not bad


def ceiling(directory):
    rows = []
    for scenario, name in (("join", "join"), ("status", "status")):
        ceil = reports(directory, f"ceiling-{scenario}")
        ours = reports(directory, scenario)
        c_rps = median(r["requests_per_sec"] for r in ceil)
        o_rps = median(r["requests_per_sec"] for r in ours)
        rows.append(
            f"| {scenario} | {o_rps:,.0f} | {c_rps:,.0f} | **{o_rps / c_rps:.2f}** "
            f"| {median(pct(r, name, 'p50') for r in ours):.2f} "
            f"| {median(pct(r, name, 'p99') for r in ours):.2f} "
            f"| {median(pct(r, name, 'p99') for r in ceil):.2f} "
            f"| {sum(r['errors'] for r in ours)} | {len(ours)} |"
        )
    print("| route | requests/s (median) | ceiling requests/s | ratio | p50 ms | p99 ms "
          "| ceiling p99 ms | errors (all runs) | runs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print()
    rates = sorted({int(m.group(1)) for p in glob.glob(os.path.join(directory, "join-at-*.json"))
                    if (m := re.search(r"join-at-(\d+)-\d+\.json$", p))})
    print("| offered joins/s | ceiling achieved/s | ceiling p99 ms | join achieved/s | join p50 ms "
          "| join p99 ms | join errors + skips |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    sustained = quick = None
    for rate in rates:
        ceil = reports(directory, f"ceiling-join-at-{rate}")
        ours = reports(directory, f"join-at-{rate}")
        c_rps = median(r["requests_per_sec"] for r in ceil)
        c_p99 = median(pct(r, "join", "p99") for r in ceil)
        o_rps = median(r["requests_per_sec"] for r in ours)
        faults = sum(r["errors"] + r["paced"]["skipped"] for r in ours)
        print(f"| {rate:,} | {c_rps:,.0f} | {c_p99:.2f} | {o_rps:,.0f} "
              f"| {median(pct(r, 'join', 'p50') for r in ours):.2f} "
              f"| {median(pct(r, 'join', 'p99') for r in ours):.2f} | {faults} |")
        if c_rps >= 0.97 * rate and all(r["paced"]["skipped"] == 0 for r in ceil):
            sustained = rate
            if c_p99 <= 10:
                quick = rate
    print()
    for name, rate in (("keeps up with (≥ 97% achieved, nothing skipped)", sustained),
                       ("keeps up with at p99 ≤ 10 ms", quick)):
        print(f"Highest offered rate the ceiling {name}: {rate:,}/s." if rate
              else f"The ceiling {name} none of the offered rates.")
    return True


def flows(directory):
    ok = True
    print("| run kind | runs | bought/s (median) | bought (median) | failed (all runs) "
          "| sold out | reserve p99 ms | join p99 ms | status p99 ms "
          "| slowest route's p99 ms, each run | ledger |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for stem, kind in (("flows", "max rate (closed)"), ("flows-at-1000", "1,000 buyers/s (open)")):
        rs = reports(directory, stem)
        if not rs:
            continue
        ok &= check_ledgers(rs)
        balanced = all(r["ledger"] and not r["ledger"]["problems"] for r in rs)
        print(f"| {kind} | {len(rs)} | {median(r['flows']['bought_per_sec'] for r in rs):,.0f} "
              f"| {median(r['flows']['bought'] for r in rs):,.0f} "
              f"| {sum(r['flows']['failed'] for r in rs)} "
              f"| {sum(r['flows']['sold_out'] for r in rs)} "
              f"| {median(pct(r, 'reserve', 'p99') for r in rs):.2f} "
              f"| {median(pct(r, 'join', 'p99') for r in rs):.2f} "
              f"| {median(pct(r, 'status', 'p99') for r in rs):.2f} "
              f"| {', '.join(slowest(r) for r in rs)} "
              f"| {'balanced' if balanced else 'DOES NOT BALANCE'} |")
    return ok


def rush(directory):
    rs = reports(directory, "rush")
    ok = check_ledgers(rs)
    print("| run | buyers | bought | told sold out | failed | completion | seconds | ledger |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for i, r in enumerate(rs, 1):
        f = r["flows"]
        n = r["paced"]["started"]
        done = (f["bought"] + f["sold_out"]) / n if n else 0
        ledger = "balanced" if r["ledger"] and not r["ledger"]["problems"] else "DOES NOT BALANCE"
        print(f"| {i} | {n:,} | {f['bought']:,} | {f['sold_out']:,} | {f['failed']} "
              f"| {done:.2%} | {r['paced']['seconds']:.0f} | {ledger} |")
    print()
    print("| route (median of runs) | requests | p50 ms | p95 ms | p99 ms | max ms | non-2xx answers |")
    print("|---|---:|---:|---:|---:|---:|---|")
    names = [x["route"] for x in rs[0]["routes"]] if rs else []
    for name in names:
        per = [route(r, name) for r in rs if route(r, name)]
        answers = {}
        for p in per:
            for a, n in p["answers"].items():
                if not a.startswith("2"):
                    answers[a] = answers.get(a, 0) + n
        print(f"| {per[0]['label']} | {median(p['requests'] for p in per):,.0f} "
              + " ".join(f"| {median(p['latency_ms'][k] for p in per):.2f}"
                         for k in ("p50", "p95", "p99", "max"))
              + f" | {', '.join(f'{n} × {a}' for a, n in answers.items()) or 'none'} |")
    return ok


def memory(directory):
    def kib(name):
        with open(os.path.join(directory, name)) as f:
            return int(f.read().strip())
    runs = sorted(int(m.group(1)) for p in glob.glob(os.path.join(directory, "peak-kib-*"))
                  if (m := re.search(r"(\d+)$", p)))
    rs = reports(directory, "memory")
    def disk(run):  # the data directory's bytes (durable store only)
        path = os.path.join(directory, f"disk-bytes-{run}")
        return f"{int(open(path).read().strip()) / 2**20:,.0f}" if os.path.exists(path) else "-"
    print("| run | joins answered 202 | joins/s | errors | idle RSS MiB | peak RSS MiB (VmHWM) "
          "| RSS after MiB | disk MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run, r in zip(runs, rs):
        joined = route(r, "join")["answers"].get("202", 0)
        rate = route(r, "join")["per_sec"]
        print(f"| {run} | {joined:,} | {rate:,.0f} | {r['errors']} "
              f"| {kib(f'idle-kib-{run}') / 1024:.0f} | {kib(f'peak-kib-{run}') / 1024:.0f} "
              f"| {kib(f'rss-kib-{run}') / 1024:.0f} | {disk(run)} |")
    print()
    print(f"Median peak RSS: {median(kib(f'peak-kib-{run}') for run in runs) / 1024:.0f} MiB.")
    return True


def smoke(directory):
    ok = True
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        with open(path) as f:
            r = json.load(f)
        name = os.path.basename(path)
        flows_ok = r["flows"] is None or r["flows"]["failed"] == 0
        clean = flows_ok and r["paced"]["skipped"] == 0 and (r["flows"] or r["errors"] == 0)
        ledger = r.get("ledger")
        if ledger is not None and ledger["problems"]:
            clean = False
        answered = sum(x["requests"] for x in r["routes"])
        print(f"{name}: {answered} answered, {r['errors']} non-2xx, "
              f"{'clean' if clean and answered else 'NOT CLEAN'}")
        ok &= bool(clean and answered)
        if not os.path.exists(path[:-5] + ".html"):
            print(f"{name}: no plot written", file=sys.stderr)
            ok = False
    return ok


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    section, directory = sys.argv[1], sys.argv[2]
    fn = {"ceiling": ceiling, "flows": flows, "rush": rush, "memory": memory, "smoke": smoke}.get(section)
    if fn is None:
        sys.exit(__doc__)
    sys.exit(0 if fn(directory) else 1)


if __name__ == "__main__":
    main()
