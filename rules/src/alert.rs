//! The alert handed from the rule engine to notification routing and transports: the shape of
//! Alertmanager's `PostableAlert` (labels, annotations, `startsAt`, `endsAt`, `generatorURL`).
//!
//! Label sets here are `BTreeMap<String, String>` (sorted by name), the form every transport
//! serialises; [`fingerprint`] is Prometheus's `model.LabelSet.Fingerprint` (FNV-1a 64 over
//! `name \xff value \xff` pairs in name order), shown as 16 hex digits as Alertmanager does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A label set or an annotation set.
pub type LabelMap = BTreeMap<String, String>;

/// One alert as sent to Alertmanager and to receivers. Times are Unix milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub labels: LabelMap,
    pub annotations: LabelMap,
    /// When the alert became active (its `activeAt`, which survives restarts).
    pub starts_at_ms: i64,
    /// For a firing alert, the time until which it is valid unless re-sent (Prometheus: now +
    /// 4 × max(resend delay, group interval)); for a resolved alert, when it resolved.
    pub ends_at_ms: i64,
    /// Set when the rule engine saw the alert resolve (so `ends_at_ms` is the resolution time).
    pub resolved: bool,
    /// Link back to the expression (Prometheus's `generatorURL`).
    pub generator_url: String,
}

impl Alert {
    /// The fingerprint of the alert's labels.
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint(&self.labels)
    }

    /// Whether the alert counts as resolved at `now_ms` (resolved by the engine, or its
    /// `endsAt` passed without a resend).
    pub fn is_resolved_at(&self, now_ms: i64) -> bool {
        self.resolved || (self.ends_at_ms > 0 && self.ends_at_ms <= now_ms)
    }
}

/// A label-set fingerprint (Prometheus's `model.Fingerprint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fingerprint(pub u64);

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(Fingerprint)
    }
}

const FNV_OFFSET: u64 = 0xcbf29ce484222325;
const FNV_PRIME: u64 = 0x100000001b3;

/// Prometheus's `LabelSet.Fingerprint`: FNV-1a 64 over each `name, 0xff, value, 0xff` in name
/// order; the empty set has the FNV offset basis.
pub fn fingerprint(labels: &LabelMap) -> Fingerprint {
    let mut h = FNV_OFFSET;
    let mut mix = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    };
    for (n, v) in labels {
        n.bytes().for_each(&mut mix);
        mix(0xff);
        v.bytes().for_each(&mut mix);
        mix(0xff);
    }
    Fingerprint(h)
}

/// A label map from storage labels.
pub fn label_map(labels: &storage::Labels) -> LabelMap {
    labels.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lm(pairs: &[(&str, &str)]) -> LabelMap {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn fingerprints_match_prometheus_common() {
        // Values from prometheus/common model/signature_test.go (TestLabelsToSignature and
        // TestMetricToFingerprint use the same hash).
        assert_eq!(fingerprint(&lm(&[])).0, 14695981039346656037);
        assert_eq!(
            fingerprint(&lm(&[("name", "garland, briggs"), ("fear", "love is not enough")])).0,
            5799056148416392346
        );
    }

    #[test]
    fn fingerprint_hex_round_trips() {
        let f = Fingerprint(0x00ab_cdef_0123_4567);
        assert_eq!(f.to_string(), "00abcdef01234567");
        assert_eq!("00abcdef01234567".parse::<Fingerprint>().unwrap(), f);
    }
}
