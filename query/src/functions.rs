//! The math of PromQL's functions on floats, mirroring Prometheus's `functions.go` and
//! `quantile.go` operation for operation (so results agree to the last bit): Kahan sums,
//! rate extrapolation, linear regression, quantiles, classic-histogram buckets.

use storage::Sample;

/// Neumaier-compensated summation step: returns the new (sum, compensation).
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Prometheus's `quantile`: linear interpolation between ranks, NaN sorting first.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| {
        if a.is_nan() && b.is_nan() {
            std::cmp::Ordering::Equal
        } else if a.is_nan() {
            std::cmp::Ordering::Less
        } else if b.is_nan() {
            std::cmp::Ordering::Greater
        } else {
            a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal)
        }
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (n - 1.0).min(lower + 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// `rate`, `increase` and `delta` with Prometheus's extrapolation. `range_start` is
/// exclusive, `range_end` inclusive; `range_secs` is the selector range.
pub(crate) fn extrapolated_rate(
    samples: &[Sample],
    range_start: i64,
    range_end: i64,
    range_secs: f64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    extrapolated_rate_with(samples, None, range_start, range_end, range_secs, is_counter, is_rate)
}

/// [`extrapolated_rate`] with the counter resets of `samples` already found: `resets` yields,
/// in order, the values `v[i]` with `v[i+1] < v[i]` (the corrections Prometheus adds), so a
/// caller sliding a window over a series finds them once instead of rescanning every window.
/// The corrections are added in the same order as the scan would, so results are identical.
pub(crate) fn extrapolated_rate_with(
    samples: &[Sample],
    resets: Option<&mut dyn Iterator<Item = f64>>,
    range_start: i64,
    range_end: i64,
    range_secs: f64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let n1 = samples.len() - 1;
    let first = samples[0];
    let last = samples[n1];
    let mut result = last.v - first.v;
    if is_counter {
        match resets {
            Some(it) => {
                for v in it {
                    result += v;
                }
            }
            None => {
                for w in samples.windows(2) {
                    if w[1].v < w[0].v {
                        result += w[0].v;
                    }
                }
            }
        }
    }
    let mut duration_to_start = (first.t - range_start) as f64 / 1000.0;
    let mut duration_to_end = (range_end - last.t) as f64 / 1000.0;
    let sampled_interval = (last.t - first.t) as f64 / 1000.0;
    let avg = sampled_interval / n1 as f64;
    let threshold = avg * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = avg / 2.0;
    }
    if is_counter {
        let mut duration_to_zero = duration_to_start;
        if result > 0.0 && first.v >= 0.0 {
            duration_to_zero = sampled_interval * (first.v / result);
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = avg / 2.0;
    }
    let mut factor = 1.0;
    if sampled_interval != 0.0 {
        factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    }
    if is_rate {
        factor /= range_secs;
    }
    Some(result * factor)
}

/// `irate` (`is_rate`) and `idelta` from the last two samples.
pub(crate) fn instant_value(samples: &[Sample], is_rate: bool) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let a = samples[samples.len() - 2];
    let b = samples[samples.len() - 1];
    let interval = b.t - a.t;
    if interval == 0 {
        return None;
    }
    // A counter reset (b < a) keeps b itself; NaNs compare false and take the difference.
    let reset = is_rate && b.v < a.v;
    let mut v = if reset { b.v } else { b.v - a.v };
    if is_rate {
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

pub(crate) fn sum_over_time(s: &[Sample]) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for p in s {
        (sum, c) = kahan_inc(p.v, sum, c);
    }
    if sum.is_infinite() { sum } else { sum + c }
}

pub(crate) fn avg_over_time(s: &[Sample]) -> f64 {
    let mut sum = s[0].v;
    let mut count = 1.0;
    let (mut mean, mut c) = (0.0, 0.0);
    let mut incremental = false;
    for (i, p) in s[1..].iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (ns, nc) = kahan_inc(p.v, sum, c);
            if !ns.is_infinite() {
                sum = ns;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(p.v / count, q * mean, q * c);
    }
    if incremental { mean + c } else { sum / count + c / count }
}

pub(crate) fn variance_over_time(s: &[Sample]) -> f64 {
    let (mut count, mut mean, mut cmean, mut aux, mut caux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in s {
        count += 1.0;
        let delta = p.v - (mean + cmean);
        (mean, cmean) = kahan_inc(delta / count, mean, cmean);
        (aux, caux) = kahan_inc(delta * (p.v - (mean + cmean)), aux, caux);
    }
    (aux + caux) / count
}

pub(crate) fn mad_over_time(s: &[Sample]) -> f64 {
    let mut vals: Vec<f64> = Vec::with_capacity(s.len());
    for p in s {
        if p.v.is_nan() {
            return f64::NAN;
        }
        vals.push(p.v);
    }
    let median = quantile(0.5, &mut vals);
    for v in vals.iter_mut() {
        *v = (*v - median).abs();
    }
    quantile(0.5, &mut vals)
}

/// max/min_over_time and ts_of_max/min_over_time: (value, timestamp) chosen by `better`.
pub(crate) fn compare_over_time(s: &[Sample], better: impl Fn(f64, f64) -> bool) -> (f64, i64) {
    let mut best = s[0].v;
    let mut t = s[0].t;
    for p in s {
        if better(p.v, best) {
            best = p.v;
            t = p.t;
        }
    }
    (best, t)
}

/// Least-squares fit of the samples; x is seconds relative to `intercept_time`.
pub(crate) fn linear_regression(s: &[Sample], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = s[0].v;
    let mut const_y = true;
    for (i, p) in s.iter().enumerate() {
        if const_y && i > 0 && p.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - intercept_time) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(p.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * p.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    let intercept = sy / n - slope * sx / n;
    (slope, intercept)
}

/// `double_exponential_smoothing` (formerly `holt_winters`); `None` for fewer than 2 samples.
pub(crate) fn double_exponential_smoothing(s: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let trend = |i: usize, s0: f64, s1: f64, b: f64| if i == 0 { b } else { tf * (s1 - s0) + (1.0 - tf) * b };
    let mut s0 = 0.0;
    let mut s1 = s[0].v;
    let mut b = s[1].v - s[0].v;
    for (i, p) in s.iter().enumerate().skip(1) {
        let x = sf * p.v;
        b = trend(i - 1, s0, s1, b);
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

pub(crate) fn resets(s: &[Sample]) -> f64 {
    s.windows(2).filter(|w| w[1].v < w[0].v).count() as f64
}

pub(crate) fn changes(s: &[Sample]) -> f64 {
    s.windows(2).filter(|w| w[1].v != w[0].v && !(w[1].v.is_nan() && w[0].v.is_nan())).count() as f64
}

/// One classic-histogram bucket.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bucket {
    pub upper: f64,
    pub count: f64,
}

/// Result of [`bucket_quantile`] with the monotonicity-fix details.
pub(crate) struct BucketQuantile {
    pub value: f64,
    pub forced_monotonic: bool,
    pub min_bucket: f64,
    pub max_bucket: f64,
    pub max_diff: f64,
}

fn sort_buckets(b: &mut [Bucket]) {
    b.sort_by(|x, y| x.upper.partial_cmp(&y.upper).unwrap_or(std::cmp::Ordering::Equal));
}

fn coalesce(b: &mut Vec<Bucket>) {
    let mut last = b[0];
    let mut i = 0;
    for j in 1..b.len() {
        let x = b[j];
        if x.upper == last.upper {
            last.count += x.count;
        } else {
            b[i] = last;
            last = x;
            i += 1;
        }
    }
    b[i] = last;
    b.truncate(i + 1);
}

fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < eps * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

/// `histogram_quantile` on classic buckets.
pub(crate) fn bucket_quantile(q: f64, mut b: Vec<Bucket>) -> BucketQuantile {
    let mut r =
        BucketQuantile { value: f64::NAN, forced_monotonic: false, min_bucket: 0.0, max_bucket: 0.0, max_diff: 0.0 };
    if q.is_nan() {
        return r;
    }
    if q < 0.0 {
        r.value = f64::NEG_INFINITY;
        return r;
    }
    if q > 1.0 {
        r.value = f64::INFINITY;
        return r;
    }
    sort_buckets(&mut b);
    if b.last().is_none_or(|x| x.upper != f64::INFINITY) {
        return r;
    }
    coalesce(&mut b);
    // Monotonicity fix.
    r.min_bucket = f64::INFINITY;
    r.max_bucket = f64::NEG_INFINITY;
    let mut prev = b[0].count;
    for bk in b.iter_mut().skip(1) {
        let curr = bk.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, 1e-12) {
            bk.count = prev;
            continue;
        }
        if curr < prev {
            bk.count = prev;
            r.forced_monotonic = true;
            r.min_bucket = r.min_bucket.min(bk.upper);
            r.max_bucket = r.max_bucket.max(bk.upper);
            if prev - curr > r.max_diff {
                r.max_diff = prev - curr;
            }
            continue;
        }
        prev = curr;
    }
    if b.len() < 2 {
        return r;
    }
    let observations = b[b.len() - 1].count;
    if observations == 0.0 {
        return r;
    }
    let mut rank = q * observations;
    let n = b.len() - 1;
    let idx = (0..n).find(|&i| b[i].count >= rank).unwrap_or(n);
    r.value = if idx == n {
        b[n - 1].upper
    } else if idx == 0 && b[0].upper <= 0.0 {
        b[0].upper
    } else {
        let mut start = 0.0;
        let end = b[idx].upper;
        let mut count = b[idx].count;
        if idx > 0 {
            start = b[idx - 1].upper;
            count -= b[idx - 1].count;
            rank -= b[idx - 1].count;
        }
        start + (end - start) * (rank / count)
    };
    r
}

/// `histogram_fraction` on classic buckets.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, mut b: Vec<Bucket>) -> f64 {
    sort_buckets(&mut b);
    if b.last().is_none_or(|x| x.upper != f64::INFINITY) {
        return f64::NAN;
    }
    coalesce(&mut b);
    let count = b[b.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if b[0].upper <= 0.0 { f64::NEG_INFINITY } else { 0.0 };
    for i in 0..b.len() {
        if i > 0 {
            lower_bound = b[i - 1].upper;
        }
        let upper_bound = b[i].upper;
        let bc = b[i].count;
        let interp = |v: f64, rank: f64| {
            if lower_bound == f64::NEG_INFINITY {
                return bc;
            }
            rank + (bc - rank) * (v - lower_bound) / (upper_bound - lower_bound)
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interp(lower, rank);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interp(upper, rank);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = bc;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// Natural-order string comparison (digit runs compare numerically), as `sort_by_label` uses.
pub(crate) fn natural_less(a: &str, b: &str) -> bool {
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(cb.iter()) {
        if x == y {
            continue;
        }
        let xd = x.bytes().all(|c| c.is_ascii_digit());
        let yd = y.bytes().all(|c| c.is_ascii_digit());
        if xd && yd {
            let xt = x.trim_start_matches('0');
            let yt = y.trim_start_matches('0');
            if xt.len() != yt.len() {
                return xt.len() < yt.len();
            }
            if xt != yt {
                return xt < yt;
            }
            continue;
        }
        return x < y;
    }
    ca.len() < cb.len()
}

fn chunks(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut start = 0;
    for i in 1..=b.len() {
        if i == b.len() || b[i].is_ascii_digit() != b[i - 1].is_ascii_digit() {
            out.push(&s[start..i]);
            start = i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: i64, v: f64) -> Sample {
        Sample { t, v }
    }

    #[test]
    fn quantiles() {
        let check = |q: f64, v: &[f64], want: f64| {
            let mut v = v.to_vec();
            let got = quantile(q, &mut v);
            assert!(got == want || (got.is_nan() && want.is_nan()), "q={q} got {got} want {want}");
        };
        check(0.5, &[1.0, 2.0, 3.0], 2.0);
        check(0.25, &[4.0, 1.0, 3.0, 2.0], 1.75);
        check(2.0, &[1.0], f64::INFINITY);
        check(0.5, &[], f64::NAN);
    }

    #[test]
    fn rate_extrapolation() {
        // A counter increasing by 10 per minute, sampled every minute over a 5m window.
        let v: Vec<Sample> = (1..=5).map(|i| s(i * 60_000, (i * 10) as f64)).collect();
        let r = extrapolated_rate(&v, 0, 300_000, 300.0, true, true).unwrap();
        assert!((r - 10.0 / 60.0).abs() < 1e-12, "{r}");
        assert_eq!(extrapolated_rate(&v[..1], 0, 300_000, 300.0, true, true), None);
    }

    #[test]
    fn irate_and_idelta() {
        let v = [s(0, 10.0), s(10_000, 5.0)];
        assert_eq!(instant_value(&v, true), Some(0.5));
        assert_eq!(instant_value(&v, false), Some(-5.0));
    }

    #[test]
    fn buckets() {
        let b = vec![
            Bucket { upper: 1.0, count: 1.0 },
            Bucket { upper: 2.0, count: 3.0 },
            Bucket { upper: f64::INFINITY, count: 4.0 },
        ];
        assert_eq!(bucket_quantile(0.5, b.clone()).value, 1.5);
        assert_eq!(bucket_fraction(0.0, 1.0, b), 0.25);
    }

    #[test]
    fn natural_order() {
        assert!(natural_less("a2", "a10"));
        assert!(!natural_less("a10", "a2"));
        assert!(natural_less("a", "b"));
    }
}
