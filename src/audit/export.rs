//! Export of entries as JSON lines (the log's own line format) or CSV.

use std::io::{self, Write};

use super::Entry;

/// Writes each entry as its canonical JSON line (what the log file holds).
pub fn write_jsonl<'a>(entries: impl IntoIterator<Item = &'a Entry>, mut out: impl Write) -> io::Result<()> {
    for e in entries {
        out.write_all(e.to_line().as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// The CSV columns, in order.
pub const CSV_HEADER: [&str; 15] = [
    "id",
    "time",
    "time_ms",
    "actor",
    "role",
    "source_ip",
    "user_agent",
    "action",
    "target",
    "before",
    "after",
    "justification",
    "result",
    "prev_hash",
    "hash",
];

/// Writes a header row and one row per entry (RFC 4180: fields with a comma, quote, CR or LF
/// are quoted, quotes doubled; lines end with CRLF). `before`/`after` are compact JSON; absent
/// optional fields are empty. Values are written as they are: a spreadsheet may interpret a
/// field starting with `=`, `+`, `-` or `@` as a formula.
pub fn write_csv<'a>(entries: impl IntoIterator<Item = &'a Entry>, mut out: impl Write) -> io::Result<()> {
    write_csv_header(&mut out)?;
    for e in entries {
        write_csv_row(e, &mut out)?;
    }
    out.flush()
}

/// The header row of [`write_csv`].
pub fn write_csv_header(mut out: impl Write) -> io::Result<()> {
    write_row(&mut out, CSV_HEADER.iter().map(|s| s.to_string()))
}

/// One row of [`write_csv`].
pub fn write_csv_row(e: &Entry, mut out: impl Write) -> io::Result<()> {
    let json = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let row = [
        e.id.to_string(),
        e.time.clone(),
        e.time_ms.to_string(),
        e.actor.clone(),
        e.role.clone(),
        e.source_ip.clone(),
        e.user_agent.clone(),
        e.action.clone(),
        e.target.clone(),
        json(&e.before),
        json(&e.after),
        e.justification.clone().unwrap_or_default(),
        e.result.clone(),
        e.prev_hash.clone(),
        e.hash.clone(),
    ];
    write_row(&mut out, row.into_iter())
}

fn write_row(out: &mut impl Write, fields: impl Iterator<Item = String>) -> io::Result<()> {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(csv_field(&f).as_bytes())?;
    }
    out.write_all(b"\r\n")
}

fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\r', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")).into() } else { s.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::entry::{GENESIS_HASH, Record};
    use serde_json::json;

    fn check_field(input: &str, expected: &str) {
        assert_eq!(csv_field(input), expected);
    }

    #[test]
    fn csv_quoting() {
        check_field("plain", "plain");
        check_field("", "");
        check_field("a,b", "\"a,b\"");
        check_field("say \"hi\"", "\"say \"\"hi\"\"\"");
        check_field("two\nlines", "\"two\nlines\"");
        check_field("cr\r", "\"cr\r\"");
        check_field("{\"a\":1}", "\"{\"\"a\"\":1}\"");
    }

    fn entry() -> Entry {
        let rec = Record {
            actor: "alice".into(),
            role: "admin".into(),
            source_ip: "10.0.0.1".into(),
            user_agent: "curl/8, test".into(),
            action: "rule.update".into(),
            target: "g1".into(),
            before: None,
            after: Some(json!({"b": 1, "a": "x"})),
            justification: Some("ticket 42".into()),
            result: "ok".into(),
        };
        Entry::seal(rec, 1, 0, GENESIS_HASH)
    }

    #[test]
    fn csv_rows() {
        let e = entry();
        let mut out = Vec::new();
        write_csv([&e], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = format!(
            "id,time,time_ms,actor,role,source_ip,user_agent,action,target,before,after,justification,result,prev_hash,hash\r\n\
             1,1970-01-01T00:00:00.000Z,0,alice,admin,10.0.0.1,\"curl/8, test\",rule.update,g1,,\"{{\"\"a\"\":\"\"x\"\",\"\"b\"\":1}}\",ticket 42,ok,{GENESIS_HASH},{}\r\n",
            e.hash
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn jsonl_is_the_log_line() {
        let e = entry();
        let mut out = Vec::new();
        write_jsonl([&e, &e], &mut out).unwrap();
        let line = e.to_line();
        assert_eq!(String::from_utf8(out).unwrap(), format!("{line}\n{line}\n"));
        assert!(line.contains(r#""after":{"a":"x","b":1}"#), "{line}");
    }
}
