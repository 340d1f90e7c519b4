#!/usr/bin/env python3
"""Wall time and evaluations per second of `tickdb rules backtest`.

Builds a data dir with `tickdb tsdb import` (N instances x 1 gauge + 1 counter, one sample a
minute for D days), writes a rule file of 10 rules in one group at 1m (recording rules over
`rate` and `avg`, alerts over the gauge and over recorded series, with `for`), and times the
backtest over the whole window. Prints the backtest's summary and the measured wall time.

    python3 benches/backtest/backtest_bench.py --bin target/release/tickdb --series 1000 --days 7
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

BASE = 1_764_547_200  # 2025-12-01T00:00:00Z

RULES = """groups:
- name: backtest-bench
  interval: 1m
  rules:
  - record: instance:requests:rate5m
    expr: rate(bench_requests_total[5m])
  - record: job:requests:rate5m
    expr: sum by (job) (instance:requests:rate5m)
  - record: job:cpu:avg
    expr: avg by (job) (bench_cpu)
  - record: job:cpu:max
    expr: max by (job) (bench_cpu)
  - alert: HighCpu
    expr: bench_cpu > 0.9
    for: 5m
    labels: {severity: page}
  - alert: CpuBlip
    expr: bench_cpu > 0.95
  - alert: HighRequestRate
    expr: instance:requests:rate5m > 18
    for: 10m
  - alert: JobCpuHigh
    expr: job:cpu:avg > 0.6
    for: 15m
  - alert: JobTrafficDrop
    expr: job:requests:rate5m < 0.5 * job:requests:rate5m offset 1h
    for: 5m
  - alert: Absent
    expr: absent(bench_cpu{instance="i-0"})
"""


def write_history(path, series, days):
    """OpenMetrics text: per instance a cpu gauge (daily sine, a few hot hours) and a counter."""
    minutes = days * 24 * 60
    with open(path, "w") as f:
        f.write("# TYPE bench_cpu gauge\n")
        for i in range(series):
            job = f"job-{i % 10}"
            phase = (i * 37) % 1440
            lines = []
            for m in range(minutes):
                v = 0.5 + 0.4 * math.sin(2 * math.pi * (m + phase) / 1440)
                if (m // 60 + i) % 97 == 0:  # one hot hour every ~4 days per instance
                    v = 0.97
                lines.append(f'bench_cpu{{instance="i-{i}",job="{job}"}} {v:.4f} {BASE + m * 60}\n')
            f.writelines(lines)
        f.write("# TYPE bench_requests counter\n")
        for i in range(series):
            job = f"job-{i % 10}"
            total = 0.0
            lines = []
            for m in range(minutes):
                total += 600 + (i % 20) * 30 + (m % 1440) // 2
                lines.append(f'bench_requests_total{{instance="i-{i}",job="{job}"}} {total:.0f} {BASE + m * 60}\n')
            f.writelines(lines)
        f.write("# EOF\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/tickdb")
    ap.add_argument("--series", type=int, default=1000, help="instances (each a gauge and a counter)")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--keep", help="use (and keep) this work directory")
    a = ap.parse_args()
    work = a.keep or tempfile.mkdtemp(prefix="backtest-bench-")
    data = os.path.join(work, "data")
    if not os.path.isdir(data):
        om = os.path.join(work, "history.om")
        t = time.time()
        write_history(om, a.series, a.days)
        print(f"history written in {time.time() - t:.1f}s ({os.path.getsize(om) >> 20} MiB)", file=sys.stderr)
        t = time.time()
        subprocess.run([a.bin, "tsdb", "import", "--format", "openmetrics", om, "--data-dir", data], check=True)
        print(f"imported in {time.time() - t:.1f}s", file=sys.stderr)
        os.remove(om)
    rules = os.path.join(work, "rules.yml")
    with open(rules, "w") as f:
        f.write(RULES)
    end = BASE + a.days * 86400 - 60
    t = time.time()
    out = subprocess.run(
        [a.bin, "rules", "backtest", rules, "--from", str(BASE), "--to", str(end), "--data-dir", data,
         "--format", "json"],
        check=True, capture_output=True, text=True,
    ).stdout
    wall = time.time() - t
    r = json.loads(out)
    s = r["summary"]
    fired = sum(rule["alerts_fired"] for g in r["groups"] for rule in g["rules"])
    print(json.dumps({
        "series": a.series * 2,
        "days": a.days,
        "group_evaluations": r["groups"][0]["evaluations"],
        "rule_evaluations": s["rule_evaluations"],
        "alerts_fired": fired,
        "backtest_seconds": round(s["wall_seconds"], 2),
        "process_seconds": round(wall, 2),
        "evaluations_per_second": round(s["evaluations_per_second"]),
    }, indent=1))
    if not a.keep:
        import shutil
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
