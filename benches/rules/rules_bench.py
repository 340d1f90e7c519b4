#!/usr/bin/env python3
"""Rule evaluation cost: tickdb vs Prometheus 2.42, the same rules over the same data.

Both servers run side by side on 127.0.0.1 and get the same remote-write 1.0 stream (this
script is the sender: one sample per series every 15 s, the same bytes to both; Prometheus
with `--web.enable-remote-write-receiver`). The workload (series, values, rules) is described
in benches/rules/workload.py: by default-full size 100k series (1000 instances × 100) and
10 groups × 1000 rules, half `demo_cpu_usage{instance=..., socket=...} > 0.8` alerts with
`for: 1m`, half `rate(demo_requests_total{instance=..., handler=...}[5m])` recordings, each
rule selecting its own 10 series.

Phases, on 15 s ticks (a tick: CPU of both processes read from /proc, then one push):
  backfill  5 minutes of history pushed at once (so `rate(...[5m])` has a full window)
  A         ingest only (no rule files): --ingest-rounds rounds measured
  reload    the rule files are written and both servers reload (SIGHUP / POST /-/reload)
  warm-up   6 rounds (alerts go pending, then fire after `for: 1m`)
  B         --rounds rounds measured: CPU, group time (sum over groups of
            *_rule_group_last_duration_seconds, read after every push), missed iterations
  check     recorded `bench:*` series and `ALERTS` of both servers compared at one timestamp,
            with each other and with the values the workload implies; RSS, firing alerts
  C         every gauge made hot: after 6 rounds every alerting rule fires for all its series;
            (RSS_C - RSS_B) / (alerts_C - alerts_B) is the memory per active alert
  D         rule files removed, reload, one settling round, --ingest-rounds rounds of ingest only
Rule CPU per round = CPU per round in B - ingest CPU per round (mean of A and D).

Usage: python3 benches/rules/rules_bench.py [--series 10000] [--rules 1000] [--rounds 4]
  full size: --series 100000 --rules 10000 --rounds 10 --ingest-rounds 4
  [--tickdb PATH] [--tickdb-arg=...] [--keep] [--perf perf.data] [--no-alert-memory]
The tickdb binary is copied into the temp dir first (others may rebuild it during the run).
Needs the Debian package `prometheus` (2.42). docs/benchmarks.md has results.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHES = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCHES)
sys.path.insert(0, HERE)
sys.path.insert(0, BENCHES)
sys.path.insert(0, os.path.join(BENCHES, "compare"))
from benchlib import free_port, http_get, wait_http, stop_all  # noqa: E402
try:  # the /proc readers live in compare.py (benchlib may take them over)
    from benchlib import proc_cpu_seconds, proc_rss, proc_peak_rss, metric_value  # noqa: E402
except ImportError:
    from compare import proc_cpu_seconds, proc_rss, proc_peak_rss, metric_value  # noqa: E402
import workload as wl  # noqa: E402

STEP = wl.STEP_S
BACKFILL = 21  # samples of history per series before the first tick: a full 5m window
WARMUP = 6  # rounds after the reload before B: the first evaluation, then `for: 1m`
BATCH = 5000  # series per remote-write request


class Server:
    def __init__(self, name, proc, port, prefix):
        self.name, self.proc, self.port, self.prefix = name, proc, port, prefix
        self.write_status = {}
        self.lock = threading.Lock()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def push(self, bodies):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            for b in bodies:
                conn.request("POST", "/api/v1/write", body=b, headers={
                    "Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                    "X-Prometheus-Remote-Write-Version": "0.1.0"})
                r = conn.getresponse()
                text = r.read()
                with self.lock:
                    self.write_status[r.status] = self.write_status.get(r.status, 0) + 1
                    if r.status >= 300 and "first_error" not in self.__dict__:
                        self.first_error = text[:300].decode(errors="replace")
        finally:
            conn.close()

    def metrics(self):
        return http_get(self.url("/metrics"))

    def query(self, q, t):
        body = http_get(self.url("/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": f"{t:.3f}"})),
                        timeout=300)
        d = json.loads(body)
        if d.get("status") != "success":
            raise RuntimeError(f"{self.name}: query {q!r} failed: {body[:300]}")
        return d["data"]["result"]

    def reload(self):
        if self.name == "prometheus":
            self.proc.send_signal(signal.SIGHUP)
        else:
            req = urllib.request.Request(self.url("/-/reload"), method="POST", data=b"")
            with urllib.request.urlopen(req, timeout=300) as r:
                r.read()

    def wait_rules(self, n, deadline=300):
        """Waits until the loaded groups hold `n` rules in all."""
        end = time.time() + deadline
        while time.time() < end:
            got = metric_value(self.metrics(), f"{self.prefix}_rule_group_rules") or 0
            if int(got) == n:
                return
            time.sleep(0.5)
        raise RuntimeError(f"{self.name}: rules not loaded ({got} of {n})")


class Snapshot:
    """What one tick saw of one server: CPU before the push, rule metrics after it."""

    def __init__(self, cpu):
        self.cpu = cpu
        self.group_time = self.iterations = self.missed = self.failures = self.samples = None


def rule_metrics(s, snap):
    m = s.metrics()
    p = s.prefix
    snap.group_time = metric_value(m, f"{p}_rule_group_last_duration_seconds") or 0.0
    snap.iterations = metric_value(m, f"{p}_rule_group_iterations_total") or 0.0
    snap.missed = metric_value(m, f"{p}_rule_group_iterations_missed_total") or 0.0
    snap.failures = metric_value(m, f"{p}_rule_evaluation_failures_total") or 0.0
    snap.samples = metric_value(m, f"{p}_rule_group_last_evaluation_samples") or 0.0
    heap = "go_memstats_heap_inuse_bytes" if s.name == "prometheus" else "tickdb_allocator_allocated_bytes"
    snap.heap = metric_value(m, heap)


def vector_map(result):
    out = {}
    for r in result:
        out[frozenset(r["metric"].items())] = float(r["value"][1])
    return out


def fmt_labels(ls):
    d = dict(ls)
    name = d.pop("__name__", "")
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(d.items())) + "}"


def close(a, b):
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def compare_recorded(got, want, who):
    """Lines describing how `got` differs from `want` (label sets and values)."""
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    wrong = [k for k in want if k in got and not close(got[k], want[k])]
    exact = sum(1 for k in want if k in got and got[k] == want[k])
    lines = [f"{who}: {len(got)} series, {len(missing)} missing, {len(extra)} extra, "
             f"{len(wrong)} with other values (relative 1e-9), {exact} bit-identical"]
    for k in missing[:3]:
        lines.append(f"  missing {fmt_labels(k)} (want {want[k]!r})")
    for k in extra[:3]:
        lines.append(f"  extra {fmt_labels(k)} = {got[k]!r}")
    for k in wrong[:3]:
        lines.append(f"  {fmt_labels(k)} = {got[k]!r}, want {want[k]!r}")
    return lines, len(missing) + len(extra) + len(wrong)


def compare_sets(got, want, who):
    missing, extra = want - got, got - want
    lines = [f"{who}: {len(got)} alerts, {len(missing)} missing, {len(extra)} extra"]
    lines += [f"  missing {fmt_labels(k)}" for k in list(missing)[:3]]
    lines += [f"  extra {fmt_labels(k)}" for k in list(extra)[:3]]
    return lines, len(missing) + len(extra)


def alert_counts(s, t):
    out = {}
    for r in s.query("count by (alertstate) (ALERTS)", t):
        out[r["metric"].get("alertstate", "")] = int(float(r["value"][1]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=10000, help="series (100 per instance); full size 100000")
    ap.add_argument("--rules", type=int, default=1000, help="rules in all, half alerting; full size 10000")
    ap.add_argument("--groups", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=4, help="measured rounds with rules (phase B)")
    ap.add_argument("--ingest-rounds", type=int, default=2, help="measured ingest-only rounds (A and D each)")
    ap.add_argument("--hot", type=float, default=0.2, help="fraction of the gauges above the threshold in B")
    ap.add_argument("--no-alert-memory", action="store_true", help="skip phase C (memory per alert)")
    ap.add_argument("--tickdb", default=os.path.join(ROOT, "target/release/tickdb"))
    ap.add_argument("--tickdb-arg", action="append", default=[], help="extra argument for `tickdb serve`")
    ap.add_argument("--prometheus", default="prometheus")
    ap.add_argument("--perf", metavar="FILE", help="`perf record -g` tickdb during phase B into FILE "
                    "(perf's own overhead lands in tickdb's CPU figure: do not quote that run's ratio)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, rule files, results.json)")
    args = ap.parse_args()

    if not shutil.which(args.prometheus):
        sys.exit("missing prometheus: apt-get install prometheus")
    if not os.path.exists(args.tickdb):
        subprocess.check_call(["cargo", "build", "--release", "--bin", "tickdb"], cwd=ROOT)

    # SIGTERM (e.g. a timeout) must run the clean-up below as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="tickdb-rules-")
    procs = []
    perf = None
    try:
        t = time.time()
        series = wl.Series(args.series, args.hot)
        files = wl.rule_files(args.rules, args.groups, series.instances)
        want_rec, want_alerts = wl.expected(series, args.rules)
        print(f"{series.count} series ({series.instances} instances), {args.rules} rules in {args.groups} groups; "
              f"{len(want_rec)} recorded series and {len(want_alerts)} firing alerts expected "
              f"(built in {time.time() - t:.1f}s)", file=sys.stderr)
        rules_dir = os.path.join(tmp, "rules")
        os.mkdir(rules_dir)

        tickdb = os.path.join(tmp, "tickdb-bin")
        shutil.copy2(args.tickdb, tickdb)

        def start(cmd, log):
            p = subprocess.Popen(cmd, stdout=open(os.path.join(tmp, log), "w"), stderr=subprocess.STDOUT)
            procs.append(p)
            return p

        p_port = free_port()
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write(f"global:\n  scrape_interval: 1h\n  evaluation_interval: {STEP}s\n"
                    f"rule_files:\n  - {rules_dir}/*.yml\n")
        prom = Server("prometheus", start([args.prometheus, f"--config.file={cfg}",
                                           f"--storage.tsdb.path={os.path.join(tmp, 'prometheus')}",
                                           f"--web.listen-address=127.0.0.1:{p_port}",
                                           "--web.enable-remote-write-receiver"], "prometheus.log"),
                      p_port, "prometheus")
        t_port = free_port()
        tick = Server("tickdb", start([tickdb, "serve", "--data-dir", os.path.join(tmp, "tickdb"),
                                       "--listen", f"127.0.0.1:{t_port}", "--rules-dir", rules_dir,
                                       "--rules-evaluation-interval", f"{STEP}s"] + args.tickdb_arg,
                                      "tickdb.log"),
                      t_port, "tickdb")
        servers = [prom, tick]
        wait_http(prom.url("/-/ready"), deadline=120)
        wait_http(tick.url("/-/ready"), deadline=120)

        def push_all(bodies):
            ths = [threading.Thread(target=s.push, args=(bodies,)) for s in servers]
            for th in ths:
                th.start()
            for th in ths:
                th.join()

        # The first tick, and the base of the counters (positive and growing from there).
        t0 = (int(time.time()) // STEP + 2) * STEP
        t_base = t0 - (BACKFILL + 1) * STEP
        t = time.time()
        for k in range(BACKFILL, 0, -1):
            ts = t0 - k * STEP
            push_all(series.requests(ts * 1000, series.values(ts, t_base), BATCH))
        print(f"backfilled {BACKFILL} samples per series in {time.time() - t:.1f}s", file=sys.stderr)

        snaps = []  # per round: {server name: Snapshot}
        late = [0]

        def round_(r, all_hot=False, rules=False):
            at = t0 + r * STEP
            now = time.time()
            if now > at + 1:
                late[0] += 1
                print(f"\nround {r} started {now - at:.1f}s late", file=sys.stderr)
            elif now < at:
                time.sleep(at - now)
            snap = {s.name: Snapshot(proc_cpu_seconds(s.proc.pid)) for s in servers}
            snap["wall"] = time.time()
            push_all(series.requests(at * 1000, series.values(at, t_base, all_hot), BATCH))
            for s in servers:
                rule_metrics(s, snap[s.name])
            snaps.append(snap)
            print(f"\rround {r}: push took {time.time() - at:.1f}s", end="", file=sys.stderr, flush=True)
            return snap

        def per_round(a, b, name):
            return (snaps[b][name].cpu - snaps[a][name].cpu) / (b - a)

        r = 0
        round_(r)  # settle
        a0 = r + 1
        for r in range(a0, a0 + args.ingest_rounds + 1):
            round_(r)
        a1 = r  # snaps[a0]..snaps[a1]: ingest-only rounds
        rss_a = {s.name: proc_rss(s.proc.pid) for s in servers}
        for name, text in files.items():
            with open(os.path.join(rules_dir, name), "w") as f:
                f.write(text)
        t = time.time()
        for s in servers:
            s.reload()
        for s in servers:
            s.wait_rules(args.rules)
        print(f"\nrules loaded in {time.time() - t:.1f}s", file=sys.stderr)
        for r in range(a1 + 1, a1 + WARMUP):
            round_(r)
        b0 = r + 1
        for r in range(b0, b0 + args.rounds + 1):
            if r == b0 and args.perf:
                perf = subprocess.Popen(["perf", "record", "-g", "-o", args.perf, "-p", str(tick.proc.pid)],
                                        stdout=subprocess.DEVNULL,
                                        stderr=open(os.path.join(tmp, "perf.log"), "w"))
            round_(r)
        b1 = r
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=300)
            perf = None
        results = {s.name: {} for s in servers}
        for s in servers:
            res = results[s.name]
            res["cpu_rules_ingest"] = per_round(b0, b1, s.name)
            # Group time read after each push of B: the last evaluation of every group.
            gts = [snaps[i][s.name].group_time for i in range(b0 + 1, b1 + 1)]
            res["group_time"] = sum(gts) / len(gts)
            res["group_time_min"], res["group_time_max"] = min(gts), max(gts)
            res["iterations"] = snaps[b1][s.name].iterations - snaps[b0][s.name].iterations
            res["missed"] = snaps[b1][s.name].missed - snaps[b0][s.name].missed
            res["failures"] = snaps[b1][s.name].failures - snaps[b0][s.name].failures
            res["samples"] = snaps[b1][s.name].samples
            res["rss_b"] = proc_rss(s.proc.pid)
            res["heap_b"] = snaps[b1][s.name].heap
            res["cpu_ingest_a"] = per_round(a0, a1, s.name)
            res["rss_a"] = rss_a[s.name]

        # Correctness: both servers at one timestamp (in the interval after B's last push).
        t_check = time.time()
        report = [f"check at {t_check:.3f}"]
        rec, alerts = {}, {}
        for s in servers:
            rec[s.name] = vector_map(s.query('{__name__=~"bench:.*"}', t_check))
            alerts[s.name] = {k for k in vector_map(s.query("ALERTS", t_check))}
        mismatches = {}
        lines, n = compare_recorded(rec["tickdb"], rec["prometheus"], "recorded: tickdb vs prometheus")
        report += lines
        mismatches["recorded tickdb vs prometheus"] = n
        for s in servers:
            lines, n = compare_recorded(rec[s.name], want_rec, f"recorded: {s.name} vs the workload's rates")
            report += lines
            mismatches[f"recorded {s.name} vs expected"] = n
        lines, n = compare_sets(alerts["tickdb"], alerts["prometheus"], "ALERTS: tickdb vs prometheus")
        report += lines
        mismatches["ALERTS tickdb vs prometheus"] = n
        want_firing = {frozenset(set(a) | {("__name__", "ALERTS"), ("alertstate", "firing")}) for a in want_alerts}
        for s in servers:
            lines, n = compare_sets(alerts[s.name], want_firing, f"ALERTS: {s.name} vs the hot gauges (firing)")
            report += lines
            mismatches[f"ALERTS {s.name} vs expected"] = n
        for s in servers:
            results[s.name]["alerts_b"] = alert_counts(s, t_check)
        print("\n" + "\n".join(report), file=sys.stderr)

        r = b1
        if not args.no_alert_memory:
            c0 = r + 1
            for r in range(c0, c0 + WARMUP + 1):
                round_(r, all_hot=True)
            t_c = time.time()
            for s in servers:
                res = results[s.name]
                res["rss_c"] = proc_rss(s.proc.pid)
                res["heap_c"] = snaps[r][s.name].heap
                res["alerts_c"] = alert_counts(s, t_c)
                res["group_time_c"] = snaps[r][s.name].group_time
                res["cpu_c"] = per_round(r - 2, r, s.name)
        for s in servers:
            results[s.name]["peak_rss"] = proc_peak_rss(s.proc.pid)

        for name in files:
            os.remove(os.path.join(rules_dir, name))
        for s in servers:
            s.reload()
        for s in servers:
            s.wait_rules(0)
        r += 1
        round_(r)  # settle: stale markers of the removed groups
        d0 = r + 1
        for r in range(d0, d0 + args.ingest_rounds + 1):
            round_(r)
        d1 = r
        print(file=sys.stderr)
        for s in servers:
            res = results[s.name]
            res["cpu_ingest_d"] = per_round(d0, d1, s.name)
            res["cpu_ingest"] = (res["cpu_ingest_a"] + res["cpu_ingest_d"]) / 2
            res["cpu_rules"] = res["cpu_rules_ingest"] - res["cpu_ingest"]
            res["write_status"] = {str(k): v for k, v in s.write_status.items()}
            if getattr(s, "first_error", None):
                res["first_write_error"] = s.first_error
        with open(os.path.join(tmp, "results.json"), "w") as f:
            json.dump({"args": vars(args), "results": results, "mismatches": mismatches, "check": report,
                       "late_rounds": late[0]}, f, indent=1, default=str)
    finally:
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=300)
        stop_all(procs, tmp, args.keep)

    p, k = results["prometheus"], results["tickdb"]

    def row(label, key, scale=1.0, fmt="{:.3f}"):
        a, b = p.get(key), k.get(key)
        if a is None or b is None:
            return
        ratio = f"{b / a:.3f}" if a else "-"
        print(f"{label:44} {fmt.format(a * scale):>12} {fmt.format(b * scale):>12} {ratio:>10}")

    print(f"\n{series.count} series, {args.rules} rules in {args.groups} groups at {STEP}s; "
          f"{args.rounds} measured rounds, ingest-only {args.ingest_rounds} rounds before and after")
    print(f"{'':44} {'prometheus':>12} {'tickdb':>12} {'tickdb/prom':>10}")
    row("CPU s/round, ingest only (A, before rules)", "cpu_ingest_a")
    row("CPU s/round, ingest only (D, after rules)", "cpu_ingest_d")
    row("CPU s/round, rules + ingest (B)", "cpu_rules_ingest")
    row("CPU s/round, rules (B - mean(A, D))", "cpu_rules")
    row("group time s/round (sum of last durations)", "group_time")
    row("  smallest round", "group_time_min")
    row("  largest round", "group_time_max")
    row("RSS MB, end of A (no rules)", "rss_a", 1 / 2**20, "{:.1f}")
    row("RSS MB, end of B", "rss_b", 1 / 2**20, "{:.1f}")
    row("peak RSS MB", "peak_rss", 1 / 2**20, "{:.1f}")
    row("rule output samples per round", "samples", 1, "{:.0f}")
    for name, res in (("prometheus", p), ("tickdb", k)):
        print(f"{name}: iterations in B {res['iterations']:.0f}, missed {res['missed']:.0f}, "
              f"rule failures {res['failures']:.0f}; alerts at the check {res['alerts_b']}; "
              f"remote-write answers {res['write_status']}")
    if not args.no_alert_memory:
        row("CPU s/round, all gauges hot (C, 2 rounds)", "cpu_c")
        row("group time s/round, all gauges hot (C)", "group_time_c")
        row("RSS MB, all gauges hot (C)", "rss_c", 1 / 2**20, "{:.1f}")
        for key, res in (("prometheus", p), ("tickdb", k)):
            n = sum(res["alerts_c"].values()) - sum(res["alerts_b"].values())
            res["alert_rss"] = (res["rss_c"] - res["rss_b"]) / n if n else None
            if res["heap_c"] is not None and res["heap_b"] is not None and n:
                res["alert_heap"] = (res["heap_c"] - res["heap_b"]) / n
            print(f"{key}: alerts at the end of C {res['alerts_c']} ({n:+d} active)")
        row("bytes per active alert (RSS)", "alert_rss", 1, "{:.0f}")
        row("bytes per active alert (heap: Go in-use / jemalloc allocated)", "alert_heap", 1, "{:.0f}")
    total = sum(mismatches.values())
    print(f"correctness: {total} mismatches " + ", ".join(f"{n}: {v}" for n, v in mismatches.items()))
    if late[0]:
        print(f"warning: {late[0]} rounds started late (the sender fell behind)", file=sys.stderr)
    if total:
        sys.exit(1)


if __name__ == "__main__":
    main()
