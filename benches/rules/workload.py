"""The workload of rules_bench.py: series layout, sample values, rule files and the
remote-write 1.0 encoding (protobuf + snappy), in the Python standard library only.

Layout (per instance, 100 series; `--series N` gives N / 100 instances):

- `demo_cpu_usage{job="demo", instance="i-K", socket="S", cpu="C"}`: gauges, 5 sockets × 10
  cpus. A fixed, seeded fraction of them is "hot" (values in [0.85, 0.99), random each push),
  the rest "cold" (values in [0, 0.7)); so the set of alerts that fire is stable and known.
- `demo_requests_total{job="demo", instance="i-K", handler="/api/vH", code="..."}`: counters,
  5 handlers × 10 codes, each growing linearly at its own rate (`counter_rate`). A linear
  counter makes `rate(...[5m])` the same whatever the evaluation timestamp inside the 15 s
  interval, so the two servers (whose groups run at different offsets) must record the same
  values, and both can be checked against the known rate.

Rules (`--rules R`, split over `--groups G` files of one group each, alerting and recording
interleaved): alerting rule a selects the 10 gauges of one (instance, socket) pair,
`demo_cpu_usage{instance="i-K", socket="S"} > 0.8` with `for: 1m`; recording rule r selects
the 10 counters of one (instance, handler) pair, `rate(...[5m])` for handlers 0-2 and
`sum by (job, instance, handler) (rate(...[5m]))` for handlers 3 and 4. With R / 2 = 5 ×
instances every series is selected by exactly one rule.
"""
import random
import struct

SOCKETS, CPUS = 5, 10
HANDLERS = 5
CODES = ["200", "201", "204", "301", "400", "401", "404", "429", "500", "503"]
PER_INSTANCE = SOCKETS * CPUS + HANDLERS * len(CODES)  # 100
STEP_S = 15
THRESHOLD = 0.8
RECORD_RATE = "bench:demo_requests:rate5m"
RECORD_SUM = "bench:demo_requests_by_handler:rate5m"
ALERT = "DemoCpuHigh"


def instances_for(series):
    return max(1, series // PER_INSTANCE)


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _label(name, value):
    n, v = name.encode(), value.encode()
    body = b"\x0a" + _varint(len(n)) + n + b"\x12" + _varint(len(v)) + v
    return b"\x0a" + _varint(len(body)) + body  # TimeSeries.labels = 1


def _hot(i, fraction):
    # A fixed pseudo-random subset (Knuth's multiplicative hash), the same in every run.
    return (i * 2654435761 % 2**32) / 2**32 < fraction


class Series:
    """All series, with their pre-encoded label bytes, in a fixed order."""

    def __init__(self, series, hot_fraction):
        self.instances = instances_for(series)
        self.gauges = []  # (labels dict, hot)
        self.counters = []  # (labels dict, rate per second, base)
        for k in range(self.instances):
            inst = f"i-{k}"
            for s in range(SOCKETS):
                for c in range(CPUS):
                    labels = {"__name__": "demo_cpu_usage", "job": "demo", "instance": inst,
                              "socket": str(s), "cpu": str(s * CPUS + c)}
                    self.gauges.append((labels, _hot(len(self.gauges), hot_fraction)))
            for h in range(HANDLERS):
                for code in CODES:
                    labels = {"__name__": "demo_requests_total", "job": "demo", "instance": inst,
                              "handler": f"/api/v{h}", "code": code}
                    n = len(self.counters)
                    self.counters.append((labels, counter_rate(n), 1000.0 + n))
        self._prefix = []
        for labels, *_ in self.gauges + self.counters:
            enc = b"".join(_label(k, labels[k]) for k in sorted(labels))
            # TimeSeries bytes = labels + one Sample (field 2, 16 bytes: double + varint ts);
            # the prefix runs up to the double.
            ts_len = len(enc) + 2 + 16
            self._prefix.append(b"\x0a" + _varint(ts_len) + enc + b"\x12\x10\x09")
        self.count = len(self._prefix)

    def values(self, t_s, t_base_s, all_hot=False):
        """The sample values at `t_s` (gauges first, then counters)."""
        rnd = random.Random(t_s)
        out = []
        for _, hot in self.gauges:
            if hot or all_hot:
                out.append(0.85 + 0.14 * rnd.random())
            else:
                out.append(0.7 * rnd.random())
        dt = t_s - t_base_s
        out.extend(base + rate * dt for _, rate, base in self.counters)
        return out

    def requests(self, t_ms, values, batch):
        """Snappy-compressed WriteRequest bodies of `batch` series each, one sample per series."""
        ts = _varint(t_ms)
        assert len(ts) == 6, "timestamps must take 6 varint bytes (the 16-byte sample)"
        suffix = b"\x10" + ts
        pack = struct.Struct("<d").pack
        out = []
        for off in range(0, self.count, batch):
            body = b"".join(self._prefix[i] + pack(values[i]) + suffix
                            for i in range(off, min(off + batch, self.count)))
            out.append(snappy_literal(body))
        return out


def counter_rate(n):
    """Counter n's increase per second: 0.5 to 10.49, spread over the counters."""
    return 0.5 + (n * 7919 % 1000) / 100.0


def snappy_literal(data):
    """`data` in the snappy block format as literals only: valid snappy that every decoder
    reads, without the compression (which would cost this script more CPU than it saves)."""
    out = bytearray(_varint(len(data)))
    for off in range(0, len(data), 65536):
        chunk = data[off:off + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + n.to_bytes(2, "little")
        out += chunk
    return bytes(out)


def rule_files(rules, groups, instances):
    """{file name: YAML text}: `groups` files of one group each, `rules` rules in all."""
    alerting, recording = rules // 2, rules - rules // 2
    per_group = {g: [] for g in range(groups)}
    for j in range(max(alerting, recording)):
        g = j % groups
        if j < alerting:
            k, s = j % instances, (j // instances) % SOCKETS
            per_group[g].append(
                f"      - alert: {ALERT}\n"
                f"        expr: demo_cpu_usage{{instance=\"i-{k}\", socket=\"{s}\"}} > {THRESHOLD}\n"
                f"        for: 1m\n"
                f"        labels:\n          severity: warning\n"
                f"        annotations:\n"
                f"          summary: \"cpu {{{{ $labels.cpu }}}} of {{{{ $labels.instance }}}} at {{{{ $value }}}}\"\n")
        if j < recording:
            k, h = j % instances, (j // instances) % HANDLERS
            sel = f"demo_requests_total{{instance=\"i-{k}\", handler=\"/api/v{h}\"}}[5m]"
            if h < 3:
                per_group[g].append(f"      - record: {RECORD_RATE}\n        expr: rate({sel})\n")
            else:
                per_group[g].append(f"      - record: {RECORD_SUM}\n"
                                    f"        expr: sum by (job, instance, handler) (rate({sel}))\n")
    files = {}
    for g, body in per_group.items():
        name = f"bench_g{g:02d}"
        files[f"{name}.yml"] = f"groups:\n  - name: {name}\n    interval: {STEP_S}s\n    rules:\n" + "".join(body)
    return files


def expected(series, rules):
    """What the rules should produce: {recorded series labels (frozenset): value} and the set
    of firing alerts' label sets (without `alertstate`), given `series` (a Series)."""
    inst = series.instances
    alerting, recording = rules // 2, rules - rules // 2
    rec, alerts = {}, set()
    for a in range(alerting):
        k, s = a % inst, (a // inst) % SOCKETS
        for c in range(CPUS):
            gi = k * SOCKETS * CPUS + s * CPUS + c
            labels, hot = series.gauges[gi]
            if hot:
                ls = {n: v for n, v in labels.items() if n != "__name__"}
                alerts.add(frozenset(dict(ls, alertname=ALERT, severity="warning").items()))
    for r in range(recording):
        k, h = r % inst, (r // inst) % HANDLERS
        rates = []
        for c in range(len(CODES)):
            ci = k * HANDLERS * len(CODES) + h * len(CODES) + c
            labels, rate, _ = series.counters[ci]
            rates.append(rate)
            if h < 3:
                ls = {n: v for n, v in labels.items() if n != "__name__"}
                rec[frozenset(dict(ls, __name__=RECORD_RATE).items())] = rate
        if h >= 3:
            ls = {"__name__": RECORD_SUM, "job": "demo", "instance": f"i-{k}", "handler": f"/api/v{h}"}
            rec[frozenset(ls.items())] = sum(rates)
    return rec, alerts
