#!/usr/bin/env python3
"""Side-by-side ingestion and query benchmark: tickdb vs Prometheus vs VictoriaMetrics.

vmagent scrapes N copies of node_exporter (distinct `replica` labels) and remote-writes the
identical stream to Prometheus (remote-write receiver), VictoriaMetrics and tickdb. The N targets
are served by a small caching proxy in this script that asks the real node_exporter at most once
a second (values change between scrapes; node_exporter is not scraped hundreds of times per
interval on the CPUs being measured). After the run it reports, per system, CPU seconds per
million samples, peak RSS (VmHWM) per series and disk bytes per sample (allocated blocks), as
ratios to VictoriaMetrics, checks that all three stored the same number of samples and that
vmagent got no errors, then measures p50/p99 latency of a fixed query mix against Prometheus
and tickdb on the same data.

Everything listens on 127.0.0.1 and is stopped at the end. Needs the Debian packages
prometheus, prometheus-node-exporter and victoria-metrics (vmagent), and a release build of tickdb
(`cargo build --release`; the script builds it when missing). docs/benchmarks.md has results.

Usage: benches/compare/compare.py [--replicas 540] [--interval 10] [--duration 300]
  [--keep] [--tickdb PATH] [--tickdb-arg=--wal-fsync=never ...] [--perf perf.data]
(on a small VM node_exporter exposes about 513 series: 540 replicas make about 277k series.
--keep keeps the temp dir, with rss.tsv, a 5-second RSS timeline of each system.)
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import free_port, http_get, wait_http, stop_all  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLK_TCK = os.sysconf("SC_CLK_TCK")





def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime, stime are fields 14, 15 (1-based) of the whole line; after ')' they are at 11, 12.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def proc_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def du(path):
    """Bytes allocated on disk under `path` (blocks, not apparent size: preallocated or sparse
    files count for what they really use)."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for fn in files:
            try:
                total += os.lstat(os.path.join(dirpath, fn)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def metric_value(text, name, label_filter=""):
    total = None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if line.startswith(name + "{") or line.startswith(name + " "):
            if label_filter and label_filter not in line:
                continue
            total = (total or 0) + float(line.rsplit(" ", 1)[1])
    return total


class CachedTarget:
    """Serves node_exporter's /metrics to the N scrape targets from a copy refreshed at most once
    a second: values still change between scrapes, but node_exporter itself is asked about once
    a second instead of N / interval times (on a 2-core machine, hundreds of real node_exporter
    scrapes per 10 s would take the CPU the databases are measured on)."""

    def __init__(self, upstream):
        import http.server
        import threading

        self.upstream, self.body, self.at, self.lock = upstream, b"", 0.0, threading.Lock()
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = target.get()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def get(self):
        with self.lock:
            if time.time() - self.at >= 1.0:
                with urllib.request.urlopen(self.upstream, timeout=10) as r:
                    self.body = r.read()
                self.at = time.time()
            return self.body

    def close(self):
        self.server.shutdown()


class System:
    def __init__(self, name, proc, port, datadir):
        self.name, self.proc, self.port, self.datadir = name, proc, port, datadir

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replicas", type=int, default=200, help="scrape targets (copies of node_exporter)")
    ap.add_argument("--interval", type=int, default=10, help="scrape interval, seconds")
    ap.add_argument("--duration", type=int, default=300, help="ingestion time, seconds")
    ap.add_argument("--query-rounds", type=int, default=20, help="times each query of the mix is asked")
    ap.add_argument("--tickdb", default=os.path.join(ROOT, "target/release/tickdb"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--tickdb-arg", action="append", default=[],
                    help="extra argument for `tickdb serve` (repeatable), e.g. --tickdb-arg=--wal-fsync=never")
    ap.add_argument("--token", action="store_true",
                    help="vmagent sends a writer token (HS256 JWT) on every remote-write request to tickdb, "
                         "so the run measures the cost of authentication")
    ap.add_argument("--perf", metavar="FILE",
                    help="record a `perf record -g` profile of tickdb during ingestion into FILE")
    args = ap.parse_args()

    for b in ["prometheus", "prometheus-node-exporter", "victoria-metrics", "vmagent"]:
        if not shutil.which(b):
            sys.exit(f"missing {b}: apt-get install prometheus prometheus-node-exporter victoria-metrics")
    if not os.path.exists(args.tickdb):
        subprocess.check_call(["cargo", "build", "--release", "--bin", "tickdb"], cwd=ROOT)

    tmp = tempfile.mkdtemp(prefix="tickdb-compare-")
    procs = []

    def start(cmd, log):
        p = subprocess.Popen(cmd, stdout=open(os.path.join(tmp, log), "w"), stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    try:
        ne_port = free_port()
        start(["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{ne_port}"], "node_exporter.log")
        wait_http(f"http://127.0.0.1:{ne_port}/metrics")
        cached = CachedTarget(f"http://127.0.0.1:{ne_port}/metrics")

        systems = []
        p_port = free_port()
        p_dir = os.path.join(tmp, "prometheus")
        cfg = os.path.join(tmp, "prometheus.yml")
        open(cfg, "w").write("global:\n  scrape_interval: 1h\n")
        p = start(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={p_dir}",
                   f"--web.listen-address=127.0.0.1:{p_port}", "--web.enable-remote-write-receiver"],
                  "prometheus.log")
        systems.append(System("prometheus", p, p_port, p_dir))

        v_port = free_port()
        v_dir = os.path.join(tmp, "victoria")
        p = start(["victoria-metrics", f"-storageDataPath={v_dir}", f"-httpListenAddr=127.0.0.1:{v_port}"],
                  "victoria.log")
        systems.append(System("victoriametrics", p, v_port, v_dir))

        t_port = free_port()
        t_dir = os.path.join(tmp, "tickdb")
        token = None
        if args.token:
            # Issued into the data dir before the server starts (it creates the HS256 key there).
            token = subprocess.check_output([args.tickdb, "token", "create", "--data-dir", t_dir, "--role", "writer",
                                             "--ttl", "6h", "--subject", "bench-vmagent"],
                                            stderr=subprocess.DEVNULL, text=True).strip()
        p = start([args.tickdb, "serve", "--data-dir", t_dir, "--listen", f"127.0.0.1:{t_port}"] + args.tickdb_arg,
                  "tickdb.log")
        systems.append(System("tickdb", p, t_port, t_dir))

        wait_http(systems[0].url("/-/ready"))
        wait_http(systems[1].url("/health"))
        wait_http(systems[2].url("/-/ready"), deadline=120)

        scfg = os.path.join(tmp, "vmagent.yml")
        with open(scfg, "w") as f:
            f.write(f"global:\n  scrape_interval: {args.interval}s\nscrape_configs:\n  - job_name: node\n    static_configs:\n")
            for i in range(args.replicas):
                f.write(f"      - targets: ['127.0.0.1:{cached.port}']\n        labels: {{replica: 'r{i}'}}\n")
        va_port = free_port()
        write_urls = [systems[0].url("/api/v1/write"), systems[1].url("/api/v1/write"), systems[2].url("/api/v1/write")]
        cmd = ["vmagent", f"-promscrape.config={scfg}", f"-httpListenAddr=127.0.0.1:{va_port}",
               f"-remoteWrite.tmpDataPath={os.path.join(tmp, 'vmagent-data')}", "-remoteWrite.showURL"]
        cmd += [f"-remoteWrite.url={u}" for u in write_urls]
        if token:
            # One value per URL, in order: only tickdb's carries the token.
            cmd += ["-remoteWrite.bearerToken=", "-remoteWrite.bearerToken=", f"-remoteWrite.bearerToken={token}"]
        start(cmd, "vmagent.log")

        vmagent = procs[-1]
        cpu0 = {s.name: proc_cpu_seconds(s.proc.pid) for s in systems}
        t0 = time.time()
        perf = None
        if args.perf:
            # Skip the first scrape round (series creation) so the profile shows steady state.
            time.sleep(min(args.interval * 2, args.duration / 4))
            perf = subprocess.Popen(["perf", "record", "-g", "-o", args.perf, "-p", str(systems[2].proc.pid)],
                                    stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "perf.log"), "w"))
        rss_log = open(os.path.join(tmp, "rss.tsv"), "w")
        while time.time() - t0 < args.duration:
            time.sleep(5)
            done = time.time() - t0
            rss_log.write(f"{done:.0f}\t" + "\t".join(f"{s.name}={proc_rss(s.proc.pid) >> 20}MB" for s in systems) + "\n")
            rss_log.flush()
            print(f"\ringesting: {done:5.0f}/{args.duration} s", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=120)
        # What vmagent sent to each receiver, by HTTP status (non-2xx answers are retried).
        va_metrics = http_get(f"http://127.0.0.1:{va_port}/metrics")
        open(os.path.join(tmp, "vmagent-metrics.txt"), "w").write(va_metrics)
        sent = {}
        for s, u in zip(systems, write_urls):
            codes = {}
            for line in va_metrics.splitlines():
                # vmagent labels each remote-write URL as url="<n>:<url>".
                if line.startswith("vmagent_remotewrite_requests_total{") and f':{u}"' in line:
                    code = line.split('status_code="', 1)[1].split('"', 1)[0]
                    codes[code] = codes.get(code, 0) + int(float(line.rsplit(" ", 1)[1]))
            codes["retries"] = int(metric_value(va_metrics, "vmagent_remotewrite_retries_count_total", f':{u}"') or 0)
            sent[s.name] = codes
        scraped = metric_value(va_metrics, "vmagent_remotewrite_global_rows_pushed_before_relabel_total")
        # Stop the sender (it flushes what it holds), let the receivers finish.
        vmagent.send_signal(signal.SIGINT)
        vmagent.wait(timeout=60)
        time.sleep(5)

        results = {}
        for s in systems:
            cpu = proc_cpu_seconds(s.proc.pid) - cpu0[s.name]
            rss = proc_peak_rss(s.proc.pid)
            if s.name == "prometheus":
                m = http_get(s.url("/metrics"))
                samples = metric_value(m, "prometheus_tsdb_head_samples_appended_total")
                series = metric_value(m, "prometheus_tsdb_head_series")
            elif s.name == "victoriametrics":
                m = http_get(s.url("/metrics"))
                samples = metric_value(m, "vm_rows_inserted_total", 'type="promremotewrite"')
                series = float(json.loads(http_get(s.url("/api/v1/series/count")))["data"][0])
            else:
                m = http_get(s.url("/metrics"))
                samples = metric_value(m, "tickdb_samples_appended_total")
                series = metric_value(m, "tickdb_head_series")
            results[s.name] = dict(cpu=cpu, rss=rss, samples=samples or 0, series=series or 0)
        counts = [r["samples"] for r in results.values()]
        if max(counts) - min(counts) > 0.01 * max(counts):
            print(f"warning: the systems stored different sample counts: "
                  f"{ {n: r['samples'] for n, r in results.items()} }", file=sys.stderr)

        # Query latency on the same data: Prometheus vs tickdb.
        now = time.time()
        mix = [
            ("instant", "up"),
            ("instant", 'sum by (mode) (rate(node_cpu_seconds_total[1m]))'),
            ("instant", 'topk(5, node_memory_MemAvailable_bytes)'),
            ("instant", 'count by (replica) (node_network_receive_bytes_total)'),
            ("range", 'sum by (replica) (rate(node_network_receive_bytes_total[1m]))'),
            ("range", 'avg(node_load1)'),
            ("range", 'histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[1m])))'),
            ("instant", 'node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.5'),
        ]
        lat = {}
        for s in (systems[0], systems[2]):
            times = []
            for _ in range(args.query_rounds):
                for kind, q in mix:
                    if kind == "instant":
                        u = s.url("/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": now}))
                    else:
                        u = s.url("/api/v1/query_range?" + urllib.parse.urlencode(
                            {"query": q, "start": now - args.duration, "end": now, "step": args.interval}))
                    t = time.perf_counter()
                    http_get(u, timeout=120)
                    times.append(time.perf_counter() - t)
            times.sort()
            lat[s.name] = (statistics.median(times), times[int(len(times) * 0.99) - 1])

        for s in systems:
            results[s.name]["disk"] = du(s.datadir)
    finally:
        stop_all(procs, tmp, args.keep)

    vm = results["victoriametrics"]

    def per(r):
        cpu_per_m = r["cpu"] / max(r["samples"], 1) * 1e6
        rss_per_series = r["rss"] / max(r["series"], 1)
        disk_per_sample = r["disk"] / max(r["samples"], 1)
        return cpu_per_m, rss_per_series, disk_per_sample

    vcpu, vrss, vdisk = per(vm)
    print(f"\n{args.replicas} targets x node_exporter at {args.interval}s for {args.duration}s")
    print(f"{'system':16} {'samples':>12} {'series':>9} {'cpu s/M':>9} {'x VM':>6} {'rss B/ser':>10} {'x VM':>6} {'disk B/smp':>10} {'x VM':>6}")
    for name, r in results.items():
        c, m, d = per(r)
        print(f"{name:16} {r['samples']:12.0f} {r['series']:9.0f} {c:9.3f} {c / vcpu:6.2f} {m:10.0f} {m / vrss:6.2f} {d:10.2f} {d / vdisk:6.2f}")
    print(f"\nvmagent scraped {scraped:.0f} samples before it was stopped (a final flush and staleness"
          " markers follow); remote-write requests it sent, by status: " +
          "; ".join(f"{n} {c}" for n, c in sent.items()))
    print("\nquery mix latency (seconds)")
    for name, (p50, p99) in lat.items():
        print(f"{name:16} p50 {p50:.4f}  p99 {p99:.4f}")
    if "prometheus" in lat and "tickdb" in lat:
        print(f"tickdb / prometheus: p50 {lat['tickdb'][0] / lat['prometheus'][0]:.2f}  p99 {lat['tickdb'][1] / lat['prometheus'][1]:.2f}")


if __name__ == "__main__":
    main()
