"""Helpers shared by the benchmark harnesses (compare/compare.py, query_latency.py).

Everything they start listens on 127.0.0.1 only.
"""
import socket
import time
import urllib.request


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_http(url, deadline=60):
    """Polls `url` until it answers 2xx, failing after `deadline` seconds."""
    end = time.time() + deadline
    while time.time() < end:
        try:
            http_get(url, timeout=2)
            return
        except Exception:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def stop_all(procs, tmp, keep):
    """Stops the processes a harness started (SIGTERM, then SIGKILL after 30 s; the newest
    first, so senders stop before receivers), then removes `tmp` unless `keep`."""
    import shutil
    import signal
    import subprocess
    import sys

    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
    if keep:
        print(f"kept {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
