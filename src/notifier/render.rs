//! What the transports share when they render a [`Notification`]: Alertmanager's subject line
//! (`[FIRING:2] <group label values> (<other common label values>)`), Go's `time.Time` JSON
//! format, severities and their colours, and truncation that respects character boundaries and
//! counts in UTF-16 units (what Discord's and Slack's limits count; never fewer than chars).

use rules::alert::LabelMap;

use super::{Notification, NotifiedAlert, Status};

/// Go's zero `time.Time` as `encoding/json` writes it (a firing alert's `endsAt` in
/// Alertmanager's webhook payload).
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A Unix-ms timestamp as Go's `time.Time.MarshalJSON` writes a UTC time: RFC 3339 with the
/// fraction's trailing zeros dropped (`2023-11-14T22:13:20Z`, `...:20.5Z`, `...:20.123Z`).
pub fn go_time(ms: i64) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return GO_ZERO_TIME.to_string();
    };
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let frac = ms.rem_euclid(1000);
    if frac != 0 {
        let f = format!(".{frac:03}");
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Serialises like Go's `json.Encoder` with its defaults: `<`, `>`, `&`, U+2028 and U+2029
/// escaped as `\u003c` etc., and a trailing newline. (Those characters occur only inside
/// strings in JSON text, so replacing them everywhere is exact.)
pub fn go_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let s = serde_json::to_string(v).unwrap_or_else(|_| "null".to_string());
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('\n');
    out.into_bytes()
}

/// `firing` / `resolved`.
pub fn status_str(s: Status) -> &'static str {
    match s {
        Status::Firing => "firing",
        Status::Resolved => "resolved",
    }
}

/// Alertmanager's `KV.SortedPairs` order: `alertname` first, then by name.
pub fn sorted_pairs(kv: &LabelMap) -> Vec<(&str, &str)> {
    let mut v: Vec<(&str, &str)> = Vec::with_capacity(kv.len());
    if let Some(a) = kv.get("alertname") {
        v.push(("alertname", a));
    }
    v.extend(kv.iter().filter(|(k, _)| *k != "alertname").map(|(k, v)| (k.as_str(), v.as_str())));
    v
}

/// `name=value, name=value` in [`sorted_pairs`] order.
pub fn pairs_text(kv: &LabelMap) -> String {
    sorted_pairs(kv).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

/// The `[ESCALATED level N] ` prefix of an escalated notification's title ("" at level 0).
pub fn escalation_prefix(n: &Notification) -> String {
    if n.escalation_level > 0 { format!("[ESCALATED level {}] ", n.escalation_level) } else { String::new() }
}

/// Alertmanager's default `__subject` template, with the trailing space it leaves trimmed:
/// `[FIRING:<firing count>] <group label values> (<common label values not in the group>)`,
/// or `[RESOLVED] ...`; prefixed by [`escalation_prefix`].
pub fn subject(n: &Notification) -> String {
    let mut s = escalation_prefix(n);
    match n.status {
        Status::Firing => {
            let firing = n.alerts.iter().filter(|a| a.status == Status::Firing).count();
            s.push_str(&format!("[FIRING:{firing}]"));
        }
        Status::Resolved => s.push_str("[RESOLVED]"),
    }
    s.push(' ');
    let values: Vec<&str> = sorted_pairs(&n.group_labels).into_iter().map(|(_, v)| v).collect();
    s.push_str(&values.join(" "));
    if n.common_labels.len() > n.group_labels.len() {
        let rest: LabelMap = n
            .common_labels
            .iter()
            .filter(|(k, _)| !n.group_labels.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let vals: Vec<&str> = sorted_pairs(&rest).into_iter().map(|(_, v)| v).collect();
        s.push_str(&format!(" ({})", vals.join(" ")));
    }
    s.trim_end().to_string()
}

/// An alert's severity class, from its `severity` label (or `priority`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    /// `critical`, `error`, `page`, `high` and alerts without a recognised severity (a firing
    /// alert is an emergency unless it says otherwise, as Alertmanager's red embeds).
    Critical,
}

pub fn severity(a: &NotifiedAlert) -> Severity {
    let l = &a.alert.labels;
    let v = l.get("severity").or_else(|| l.get("priority")).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
    match v.as_str() {
        "info" | "informational" | "notice" | "low" | "none" | "debug" | "ok" => Severity::Info,
        "warning" | "warn" | "medium" | "minor" => Severity::Warning,
        _ => Severity::Critical,
    }
}

/// The worst severity among the firing alerts; `None` when nothing fires.
pub fn worst_severity(n: &Notification) -> Option<Severity> {
    n.alerts.iter().filter(|a| a.status == Status::Firing).map(severity).max()
}

/// Colours (24-bit RGB) by severity and for resolved.
pub const COLOR_CRITICAL: u32 = 0xE0_1E_2D;
pub const COLOR_WARNING: u32 = 0xF3_9C_12;
pub const COLOR_INFO: u32 = 0x34_98_DB;
pub const COLOR_RESOLVED: u32 = 0x2E_CC_71;

/// The colour of a notification: the worst firing severity's, green when all resolved.
pub fn color(n: &Notification) -> u32 {
    match worst_severity(n) {
        None => COLOR_RESOLVED,
        Some(Severity::Critical) => COLOR_CRITICAL,
        Some(Severity::Warning) => COLOR_WARNING,
        Some(Severity::Info) => COLOR_INFO,
    }
}

/// The length in UTF-16 code units (JavaScript's `String.length`).
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Truncates to at most `max` UTF-16 units on a character boundary, ending in `…` when
/// anything was cut (as Alertmanager's `TruncateInRunes`). Returns whether it cut.
pub fn truncate(s: &str, max: usize) -> (String, bool) {
    if utf16_len(s) <= max {
        return (s.to_string(), false);
    }
    if max == 0 {
        return (String::new(), true);
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        if used + c.len_utf16() > max - 1 {
            break;
        }
        used += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    (out, true)
}

/// The alerts of a notification by status: (firing, resolved), order kept.
pub fn split(n: &Notification) -> (Vec<&NotifiedAlert>, Vec<&NotifiedAlert>) {
    n.alerts.iter().partition(|a| a.status == Status::Firing)
}

/// An alert's display name: its `alertname` label, or `alert`.
pub fn alert_name(a: &NotifiedAlert) -> &str {
    a.alert.labels.get("alertname").map(String::as_str).unwrap_or("alert")
}

/// Labels of an alert worth listing: all but `alertname` (shown as the name).
pub fn detail_labels(a: &NotifiedAlert) -> LabelMap {
    a.alert.labels.iter().filter(|(k, _)| *k != "alertname").map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rules::alert::{Alert, fingerprint};

    pub fn lm(pairs: &[(&str, &str)]) -> LabelMap {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    pub fn alert(status: Status, labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> NotifiedAlert {
        let labels = lm(labels);
        NotifiedAlert {
            status,
            fingerprint: fingerprint(&labels),
            alert: Alert {
                labels,
                annotations: lm(annotations),
                starts_at_ms: 1_700_000_000_000,
                ends_at_ms: if status == Status::Resolved { 1_700_000_300_500 } else { 1_700_000_240_000 },
                resolved: status == Status::Resolved,
                generator_url: "http://tickdb:9201/graph?g0.expr=up+%3D%3D+0".into(),
            },
        }
    }

    pub fn notification(alerts: Vec<NotifiedAlert>, group: &[(&str, &str)], common: &[(&str, &str)]) -> Notification {
        let status = if alerts.iter().any(|a| a.status == Status::Firing) { Status::Firing } else { Status::Resolved };
        Notification {
            receiver: "team".into(),
            group_key: "{}:{alertname=\"HighLatency\"}".into(),
            status,
            group_labels: lm(group),
            common_labels: lm(common),
            common_annotations: LabelMap::new(),
            alerts,
            escalation_level: 0,
            created_ms: 1_700_000_360_000,
        }
    }

    #[test]
    fn formats_times_as_go() {
        for (ms, want) in [
            (1_700_000_000_000, "2023-11-14T22:13:20Z"),
            (1_700_000_000_500, "2023-11-14T22:13:20.5Z"),
            (1_700_000_000_120, "2023-11-14T22:13:20.12Z"),
            (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
            (0, "1970-01-01T00:00:00Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
        ] {
            assert_eq!(go_time(ms), want, "{ms}");
        }
    }

    #[test]
    fn escapes_json_as_go() {
        let v = serde_json::json!({"a": "<b>&\u{2028}é"});
        assert_eq!(String::from_utf8(go_json(&v)).unwrap(), "{\"a\":\"\\u003cb\\u003e\\u0026\\u2028é\"}\n");
    }

    fn check_subject(n: &Notification, want: &str) {
        assert_eq!(subject(n), want);
    }

    #[test]
    fn subjects_follow_alertmanager() {
        let a = alert(Status::Firing, &[("alertname", "HighLatency"), ("job", "api"), ("instance", "a")], &[]);
        let b = alert(Status::Firing, &[("alertname", "HighLatency"), ("job", "api"), ("instance", "b")], &[]);
        let r = alert(Status::Resolved, &[("alertname", "HighLatency"), ("job", "api"), ("instance", "c")], &[]);
        let common = [("alertname", "HighLatency"), ("job", "api")];
        check_subject(
            &notification(vec![a.clone(), b.clone(), r.clone()], &[("alertname", "HighLatency")], &common),
            "[FIRING:2] HighLatency (api)",
        );
        // alertname first even though `a...` < `alertname` would sort it later.
        check_subject(
            &notification(vec![a.clone()], &[("job", "api"), ("alertname", "HighLatency")], &common),
            "[FIRING:1] HighLatency api",
        );
        check_subject(&notification(vec![r.clone()], &[], &[]), "[RESOLVED]");
        let mut n = notification(vec![a], &[("alertname", "HighLatency")], &[("alertname", "HighLatency")]);
        n.escalation_level = 2;
        check_subject(&n, "[ESCALATED level 2] [FIRING:1] HighLatency");
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("abc", 3), ("abc".to_string(), false));
        assert_eq!(truncate("abcd", 3), ("ab…".to_string(), true));
        // é is 1 unit, 😀 is 2 (a surrogate pair): never split it.
        assert_eq!(truncate("é😀x", 3), ("é…".to_string(), true));
        assert_eq!(truncate("😀😀😀", 4), ("😀…".to_string(), true));
        assert_eq!(truncate("abc", 0), (String::new(), true));
        for s in ["ääääää", "😀😀😀😀", "a😀b😀c"] {
            for max in 1..10 {
                let (t, _) = truncate(s, max);
                assert!(utf16_len(&t) <= max, "{s} {max} {t}");
            }
        }
    }

    #[test]
    fn colours_by_worst_firing_severity() {
        let f = |sev: &str| alert(Status::Firing, &[("alertname", "X"), ("severity", sev)], &[]);
        let r = alert(Status::Resolved, &[("alertname", "X"), ("severity", "critical")], &[]);
        assert_eq!(color(&notification(vec![f("info")], &[], &[])), COLOR_INFO);
        assert_eq!(color(&notification(vec![f("info"), f("warning")], &[], &[])), COLOR_WARNING);
        assert_eq!(color(&notification(vec![f("warning"), f("critical")], &[], &[])), COLOR_CRITICAL);
        assert_eq!(color(&notification(vec![f("info"), r.clone()], &[], &[])), COLOR_INFO);
        assert_eq!(color(&notification(vec![r], &[], &[])), COLOR_RESOLVED);
        let none = alert(Status::Firing, &[("alertname", "X")], &[]);
        assert_eq!(color(&notification(vec![none], &[], &[])), COLOR_CRITICAL);
    }
}
