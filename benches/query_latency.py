#!/usr/bin/env python3
"""Query latency: tickdb vs Prometheus on the same backfilled data.

Generates a synthetic OpenMetrics file (by default 2000 series x 2 h at 15 s: counters, a
histogram and gauges), backfills it into Prometheus with
`promtool tsdb create-blocks-from openmetrics` and into tickdb with
`tickdb tsdb import --format openmetrics`, starts both on 127.0.0.1, then asks a fixed query
mix (selectors, rate, sum by, topk, histogram_quantile; instant queries at the end of the data
and range queries over its last hour at 15 s step) --rounds times each, one system after the
other, and prints p50/p99 latency per query and over the mix, with tickdb/Prometheus ratios.
Results of both systems are compared (series counts) so a fast wrong answer does not pass.

Needs the Debian package `prometheus` (prometheus + promtool) and a release build of tickdb
(`cargo build --release --bin tickdb`; built when missing). Python standard library only.

Usage: benches/query_latency.py [--series 2000] [--hours 2] [--rounds 20] [--keep]
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import free_port, http_get, wait_http, stop_all  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEP = 15  # seconds between samples, and the step of range queries

MIX = [
    ("selector", "instant", 'up'),
    ("selector_match", "instant", 'http_requests_total{job="api-2", code=~"5.."}'),
    ("rate", "instant", 'rate(http_requests_total[5m])'),
    ("sum_by_rate", "instant", 'sum by (job) (rate(http_requests_total[5m]))'),
    ("topk", "instant", 'topk(5, rate(http_requests_total[5m]))'),
    ("hist_quantile", "instant",
     'histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))'),
    ("range_selector", "range", 'node_memory_used_bytes{job="api-1"}'),
    ("range_rate", "range", 'rate(http_requests_total{code="200"}[5m])'),
    ("range_sum_by_rate", "range", 'sum by (job, code) (rate(http_requests_total[5m]))'),
    ("range_topk", "range", 'topk(3, sum by (instance) (rate(http_requests_total[5m])))'),
    ("range_hist_quantile", "range",
     'histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'),
    ("range_avg_gauge", "range", 'avg by (job) (node_memory_used_bytes)'),
]

LE = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]





def series_layout(n):
    """Label sets of about n series: 40% counters, 50% histogram buckets, 5% + 5% gauges."""
    targets = max(1, n // 20)  # each target has 8 counters, 10 buckets, 1 gauge, 1 up
    jobs = max(1, min(10, targets // 10 or 1))
    out = {"http_requests_total": [], "http_request_duration_seconds_bucket": [],
           "node_memory_used_bytes": [], "up": []}
    for t in range(targets):
        job, inst = f"api-{t % jobs}", f"10.0.{t // 250}.{t % 250}:9100"
        base = {"job": job, "instance": inst}
        for method in ("GET", "POST"):
            for code in ("200", "404", "500", "503"):
                out["http_requests_total"].append(dict(base, method=method, code=code))
        for le in LE:
            out["http_request_duration_seconds_bucket"].append(dict(base, le=le))
        out["node_memory_used_bytes"].append(dict(base))
        out["up"].append(dict(base))
    return out


def fmt_labels(ls):
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(ls.items())) + "}"


def write_openmetrics(path, layout, start, hours):
    """One metric family after the other, each series' samples in time order."""
    rnd = random.Random(42)
    points = int(hours * 3600 / STEP)
    n = 0
    with open(path, "w") as f:
        for name, sets in layout.items():
            f.write(f"# TYPE {name} gauge\n")
            for i, ls in enumerate(sets):
                lab = fmt_labels(ls)
                if name == "http_requests_total":
                    v, rate = 0.0, rnd.uniform(0.1, 50)
                    for k in range(points):
                        v += rate * STEP * rnd.uniform(0.5, 1.5)
                        f.write(f"{name}{lab} {v:.3f} {start + k * STEP}\n")
                elif name == "http_request_duration_seconds_bucket":
                    # Cumulative buckets: the bucket index scales the count.
                    idx = LE.index(ls["le"])
                    v, rate = 0.0, rnd.uniform(1, 10)
                    for k in range(points):
                        v += rate * STEP * (idx + 1) / len(LE)
                        f.write(f"{name}{lab} {v:.3f} {start + k * STEP}\n")
                elif name == "up":
                    for k in range(points):
                        f.write(f"{name}{lab} 1 {start + k * STEP}\n")
                else:
                    v = rnd.uniform(1e8, 1e9)
                    for k in range(points):
                        v = max(0.0, v + rnd.uniform(-1e6, 1e6))
                        f.write(f"{name}{lab} {v:.0f} {start + k * STEP}\n")
                n += 1
        f.write("# EOF\n")
    return n, n * points


def result_size(body):
    data = json.loads(body)
    if data.get("status") != "success":
        raise RuntimeError(f"query failed: {body[:300]}")
    r = data["data"]["result"]
    return len(r) if isinstance(r, list) else 1


def percentile(sorted_times, p):
    i = min(len(sorted_times) - 1, max(0, int(round(p * len(sorted_times))) - 1))
    return sorted_times[i]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=20, help="times each query of the mix is asked")
    ap.add_argument("--tickdb", default=os.path.join(ROOT, "target/release/tickdb"))
    ap.add_argument("--only", choices=["tickdb", "prometheus"], help="benchmark one system only")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    if not os.path.exists(args.tickdb):
        subprocess.check_call(["cargo", "build", "--release", "--bin", "tickdb"], cwd=ROOT)

    tmp = tempfile.mkdtemp(prefix="tickdb-qlat-")
    procs = []
    # Data ends on a 2 h boundary a few hours ago: both systems then hold it in blocks only.
    end = (int(time.time()) // 7200 - 2) * 7200
    start = end - int(args.hours * 3600)
    eval_t = end - STEP
    try:
        om = os.path.join(tmp, "data.om")
        layout = series_layout(args.series)
        t = time.time()
        nseries, nsamples = write_openmetrics(om, layout, start, args.hours)
        print(f"generated {nseries} series, {nsamples} samples in {time.time() - t:.1f}s", file=sys.stderr)

        systems = []
        if args.only != "prometheus":
            t_dir = os.path.join(tmp, "tickdb")
            t = time.time()
            subprocess.check_call([args.tickdb, "tsdb", "import", "--format", "openmetrics", om, "--data-dir", t_dir],
                                  stdout=subprocess.DEVNULL)
            print(f"tickdb import {time.time() - t:.1f}s", file=sys.stderr)
            port = free_port()
            p = subprocess.Popen([args.tickdb, "serve", "--data-dir", t_dir, "--listen", f"127.0.0.1:{port}"],
                                 stdout=open(os.path.join(tmp, "tickdb.log"), "w"), stderr=subprocess.STDOUT)
            procs.append(p)
            systems.append(("tickdb", port))
        if args.only != "tickdb":
            p_dir = os.path.join(tmp, "prometheus")
            t = time.time()
            subprocess.check_call(["promtool", "tsdb", "create-blocks-from", "openmetrics", om, p_dir],
                                  stdout=subprocess.DEVNULL)
            print(f"promtool backfill {time.time() - t:.1f}s", file=sys.stderr)
            cfg = os.path.join(tmp, "prometheus.yml")
            with open(cfg, "w") as f:
                f.write("global:\n  scrape_interval: 15s\n")
            port = free_port()
            p = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={p_dir}",
                                  f"--web.listen-address=127.0.0.1:{port}", "--web.enable-remote-write-receiver",
                                  "--storage.tsdb.retention.time=30d"],
                                 stdout=open(os.path.join(tmp, "prometheus.log"), "w"), stderr=subprocess.STDOUT)
            procs.append(p)
            systems.append(("prometheus", port))
        for name, port in systems:
            wait_http(f"http://127.0.0.1:{port}/api/v1/query?query=1", deadline=120)

        def url(port, kind, q):
            if kind == "instant":
                qs = {"query": q, "time": eval_t}
            else:
                qs = {"query": q, "start": eval_t - 3600, "end": eval_t, "step": STEP}
            path = "/api/v1/query" if kind == "instant" else "/api/v1/query_range"
            return f"http://127.0.0.1:{port}{path}?" + urllib.parse.urlencode(qs)

        sizes = {}
        for name, port in systems:
            # Warm up (page cache, lazily opened blocks) and record result sizes.
            for label, kind, q in MIX:
                sizes.setdefault(label, {})[name] = result_size(http_get(url(port, kind, q), timeout=120))
        # The systems take turns query by query (in alternating order), so background load on
        # the machine hits both alike.
        lat = {name: {label: [] for label, _, _ in MIX} for name, _ in systems}
        for r in range(args.rounds):
            for label, kind, q in MIX:
                for name, port in (systems if r % 2 == 0 else systems[::-1]):
                    u = url(port, kind, q)
                    t = time.perf_counter()
                    http_get(u, timeout=120)
                    lat[name][label].append(time.perf_counter() - t)
    finally:
        stop_all(procs, tmp, args.keep)

    names = [n for n in ("tickdb", "prometheus") if n in lat]
    print(f"\n{nseries} series x {args.hours} h at {STEP}s ({nsamples} samples); {args.rounds} rounds; latency in ms")
    head = f"{'query':22}" + "".join(f" {n + ' p50':>15} {n + ' p99':>15}" for n in names)
    if len(names) == 2:
        head += f" {'p50 ratio':>10} {'p99 ratio':>10}  results"
    print(head)
    mismatches = 0
    for label, _, _ in MIX:
        row = f"{label:22}"
        stats = {}
        for n in names:
            ts = sorted(lat[n][label])
            stats[n] = (statistics.median(ts), percentile(ts, 0.99))
            row += f" {stats[n][0] * 1000:15.2f} {stats[n][1] * 1000:15.2f}"
        if len(names) == 2:
            row += f" {stats['tickdb'][0] / stats['prometheus'][0]:10.2f} {stats['tickdb'][1] / stats['prometheus'][1]:10.2f}"
            s = sizes[label]
            row += f"  {s['tickdb']}/{s['prometheus']}"
            if s["tickdb"] != s["prometheus"]:
                row += " MISMATCH"
                mismatches += 1
        print(row)
    overall = {}
    for n in names:
        ts = sorted(x for v in lat[n].values() for x in v)
        overall[n] = (statistics.median(ts), percentile(ts, 0.99))
    row = f"{'ALL':22}" + "".join(f" {overall[n][0] * 1000:15.2f} {overall[n][1] * 1000:15.2f}" for n in names)
    if len(names) == 2:
        row += f" {overall['tickdb'][0] / overall['prometheus'][0]:10.2f} {overall['tickdb'][1] / overall['prometheus'][1]:10.2f}"
    print(row)
    if mismatches:
        print(f"{mismatches} queries returned different numbers of series", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
