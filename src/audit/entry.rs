//! Audit entries, their canonical JSON form and the hash chain.
//!
//! An entry's line is `serde_json` of [`Entry`]: fields in declaration order, no whitespace,
//! `before`/`after` with object keys sorted recursively (see [`canonical_value`]). Its hash is
//! `sha256(prev_hash_hex || canonical_json(entry without "hash"))`, as lowercase hex.

use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev_hash` of the first entry: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a caller records: everything of an [`Entry`] except its id, time and hashes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Subject of the token that performed the action (or the claimed one, for `auth.failure`).
    pub actor: String,
    pub role: String,
    pub source_ip: String,
    pub user_agent: String,
    /// Dotted action name, e.g. `rule.update`, `token.create`, `auth.failure`.
    pub action: String,
    /// What was acted on (a rule group, a token id, ...).
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub justification: Option<String>,
    /// `ok`, `refused: ...` or `error: ...`.
    pub result: String,
}

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1, 2, 3, ... without gaps.
    pub id: u64,
    /// RFC 3339, UTC, milliseconds: `2026-12-07T17:17:17.123Z` (the same instant as `time_ms`).
    pub time: String,
    /// Milliseconds since the Unix epoch; never less than the previous entry's.
    pub time_ms: i64,
    pub actor: String,
    pub role: String,
    pub source_ip: String,
    pub user_agent: String,
    pub action: String,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub justification: Option<String>,
    pub result: String,
    /// The previous entry's `hash` ([`GENESIS_HASH`] for id 1).
    pub prev_hash: String,
    /// See the module documentation.
    pub hash: String,
}

/// The hashed part of an entry: every field but `hash`, in the same order.
#[derive(Serialize)]
struct Body<'a> {
    id: u64,
    time: &'a str,
    time_ms: i64,
    actor: &'a str,
    role: &'a str,
    source_ip: &'a str,
    user_agent: &'a str,
    action: &'a str,
    target: &'a str,
    before: &'a Option<Value>,
    after: &'a Option<Value>,
    justification: &'a Option<String>,
    result: &'a str,
    prev_hash: &'a str,
}

impl Entry {
    /// The entry for `rec` at `id` and `time_ms` after `prev_hash`, with its hash computed and
    /// `before`/`after` made canonical.
    pub(crate) fn seal(rec: Record, id: u64, time_ms: i64, prev_hash: &str) -> Entry {
        let mut e = Entry {
            id,
            time: format_time(time_ms),
            time_ms,
            actor: rec.actor,
            role: rec.role,
            source_ip: rec.source_ip,
            user_agent: rec.user_agent,
            action: rec.action,
            target: rec.target,
            before: rec.before.map(canonical_value),
            after: rec.after.map(canonical_value),
            justification: rec.justification,
            result: rec.result,
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        e
    }

    /// `sha256(prev_hash || canonical_json(self without hash))` in lowercase hex.
    pub fn compute_hash(&self) -> String {
        let body = Body {
            id: self.id,
            time: &self.time,
            time_ms: self.time_ms,
            actor: &self.actor,
            role: &self.role,
            source_ip: &self.source_ip,
            user_agent: &self.user_agent,
            action: &self.action,
            target: &self.target,
            before: &self.before,
            after: &self.after,
            justification: &self.justification,
            result: &self.result,
            prev_hash: &self.prev_hash,
        };
        let mut h = Sha256::new();
        h.update(self.prev_hash.as_bytes());
        // Serialising plain strings, integers and JSON values into a Vec cannot fail.
        let json = serde_json::to_vec(&body).unwrap_or_default();
        h.update(&json);
        hex::encode(h.finalize())
    }

    /// The entry's line without the newline: its canonical JSON.
    pub fn to_line(&self) -> String {
        // Serialising plain strings, integers and JSON values cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `v` with the keys of every object sorted (recursively), so equal values serialise equally.
pub fn canonical_value(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut pairs: Vec<(String, Value)> = m.into_iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(pairs.into_iter().map(|(k, v)| (k, canonical_value(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(canonical_value).collect()),
        v => v,
    }
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn format_time(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_canonical(input: Value, expected: &str) {
        assert_eq!(serde_json::to_string(&canonical_value(input)).unwrap(), expected);
    }

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        check_canonical(json!({"b": 1, "a": 2}), r#"{"a":2,"b":1}"#);
        check_canonical(
            json!({"z": [{"y": 1, "x": 2}], "a": {"d": null, "c": "s"}}),
            r#"{"a":{"c":"s","d":null},"z":[{"x":2,"y":1}]}"#,
        );
        check_canonical(json!([3, "x", true]), r#"[3,"x",true]"#);
        check_canonical(json!("plain"), r#""plain""#);
    }

    #[test]
    fn time_format() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_time(1_765_000_000_123), "2025-12-06T05:46:40.123Z");
    }

    #[test]
    fn hash_is_sha256_of_prev_and_body() {
        let rec =
            Record { actor: "alice".into(), action: "rule.update".into(), result: "ok".into(), ..Record::default() };
        let e = Entry::seal(rec, 1, 0, GENESIS_HASH);
        let line = e.to_line();
        // The body is the line without its last field.
        let cut = line.find(",\"hash\":").unwrap();
        let body = format!("{}}}", &line[..cut]);
        let mut h = Sha256::new();
        h.update(GENESIS_HASH.as_bytes());
        h.update(body.as_bytes());
        assert_eq!(e.hash, hex::encode(h.finalize()));
        assert!(line.starts_with(r#"{"id":1,"time":"1970-01-01T00:00:00.000Z","time_ms":0,"actor":"alice""#), "{line}");
        let back: Entry = serde_json::from_str(&line).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.compute_hash(), e.hash);
    }
}
