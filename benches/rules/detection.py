#!/usr/bin/env python3
"""Time to detection: from the remote-write request carrying the sample that crosses a
threshold to the webhook receiving the notification, with the issue's settings (a 15 s
evaluation interval, `group_wait: 10s`), measured --runs times on one tickdb.

Each run uses a fresh series (label `run="N"`): a few samples below the threshold, then one
above it, pushed at a random moment of the 15 s interval (so the wait for the next evaluation
is sampled too), then one sample above it every 5 s until the webhook sees the alert.
The alert has no `for`, so the bound is interval + group_wait + delivery (< 30 s).

Usage: python3 benches/rules/detection.py [--runs 5] [--tickdb target/release/tickdb]
Prints each run's delay and the min / median / max. Needs nothing but tickdb.
"""
import argparse
import http.server
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHES = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCHES)
sys.path.insert(0, HERE)
sys.path.insert(0, BENCHES)
from benchlib import free_port, wait_http, stop_all  # noqa: E402
import workload as wl  # noqa: E402

RULES = """groups:
  - name: detection
    interval: 15s
    rules:
      - alert: TickRateLow
        expr: game_tick_rate < 15
        labels:
          severity: critical
        annotations:
          summary: "tick rate of {{ $labels.run }} at {{ $value }}"
"""

NOTIFY = """route:
  receiver: hook
  group_by: [run]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{port}/hook
"""


def encode(labels, t_ms, v):
    enc = b"".join(wl._label(k, labels[k]) for k in sorted(labels))
    sample = b"\x09" + __import__("struct").pack("<d", v) + b"\x10" + wl._varint(t_ms)
    ts = enc + b"\x12" + wl._varint(len(sample)) + sample
    return wl.snappy_literal(b"\x0a" + wl._varint(len(ts)) + ts)


def push(port, labels, v):
    body = encode(labels, int(time.time() * 1000), v)
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/write", data=body, method="POST", headers={
        "Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
        "X-Prometheus-Remote-Write-Version": "0.1.0"})
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tickdb", default=os.path.join(ROOT, "target/release/tickdb"))
    args = ap.parse_args()
    if not os.path.exists(args.tickdb):
        subprocess.check_call(["cargo", "build", "--release", "--bin", "tickdb"], cwd=ROOT)

    seen = {}  # run label -> time the webhook got its firing alert
    lock = threading.Lock()

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            now = time.time()
            with lock:
                for a in body.get("alerts", []):
                    if a.get("status") == "firing":
                        seen.setdefault(a["labels"].get("run"), now)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    tmp = tempfile.mkdtemp(prefix="tickdb-detect-")
    procs = []
    delays = []
    try:
        os.mkdir(os.path.join(tmp, "rules"))
        with open(os.path.join(tmp, "rules", "detect.yml"), "w") as f:
            f.write(RULES)
        with open(os.path.join(tmp, "notify.yml"), "w") as f:
            f.write(NOTIFY.format(port=hook.server_address[1]))
        port = free_port()
        binary = os.path.join(tmp, "tickdb-bin")
        shutil.copy2(args.tickdb, binary)
        procs.append(subprocess.Popen([binary, "serve", "--data-dir", os.path.join(tmp, "data"),
                                       "--listen", f"127.0.0.1:{port}", "--rules-dir", os.path.join(tmp, "rules"),
                                       "--notifications-file", os.path.join(tmp, "notify.yml")],
                                      stdout=open(os.path.join(tmp, "tickdb.log"), "w"), stderr=subprocess.STDOUT))
        wait_http(f"http://127.0.0.1:{port}/-/ready", deadline=60)
        for run in range(args.runs):
            labels = {"__name__": "game_tick_rate", "job": "game", "run": str(run)}
            for _ in range(3):
                push(port, labels, 20.0)
                time.sleep(1)
            time.sleep(random.uniform(0, 15))
            crossed = time.time()
            push(port, labels, 5.0)
            last_push = crossed
            while True:
                with lock:
                    got = seen.get(str(run))
                if got:
                    break
                if time.time() - crossed > 120:
                    sys.exit(f"run {run}: no notification within 120 s (see {tmp}/tickdb.log)")
                time.sleep(0.05)
                if time.time() - last_push >= 5:
                    last_push = time.time()
                    push(port, labels, 5.0)
            delays.append(got - crossed)
            print(f"run {run}: {got - crossed:.2f} s", flush=True)
    finally:
        stop_all(procs, tmp, False)
        hook.shutdown()
    delays.sort()
    print(f"time to detection over {len(delays)} runs (15 s interval, group_wait 10s): "
          f"min {delays[0]:.2f} s, median {delays[len(delays) // 2]:.2f} s, max {delays[-1]:.2f} s")


if __name__ == "__main__":
    main()
