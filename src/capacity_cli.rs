//! `tickdb capacity`: the capacity report of a running server (`GET /api/v1/capacity`) as a
//! table: per target, each forecast resource, its value now, the forecast at the horizon with
//! its band, and when it crosses its threshold, soonest first.

use std::io::Write;

use serde_json::Value;

use crate::cli::CapacityArgs;

/// Fetches the report and prints it.
pub fn run(a: &CapacityArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let url = format!("{}/api/v1/capacity", a.url.trim_end_matches('/'));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let body: Value = rt.block_on(async {
        let client = crate::tls::client_builder().timeout(std::time::Duration::from_secs(30)).build()?;
        let mut req = client.get(&url);
        if let Some(by) = &a.by {
            req = req.query(&[("by", by)]);
        }
        if let Some(t) = &a.token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.map_err(|e| anyhow::anyhow!("GET {url}: {e}"))?;
        let status = r.status();
        let text = r.text().await?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|_| anyhow::anyhow!("GET {url}: {status}: {}", text.chars().take(300).collect::<String>()))?;
        if !status.is_success() {
            anyhow::bail!("GET {url}: {status}: {}", v["error"].as_str().unwrap_or(&text));
        }
        Ok::<Value, anyhow::Error>(v)
    })?;
    render(&body["data"], crate::server::now_ms(), out)
}

fn parse_ms(v: &Value) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok().map(|t| t.timestamp_millis())
}

fn human(ms: i64) -> String {
    rules::notify::duration::Duration((ms.max(0) / 60_000) * 60_000).to_string()
}

fn num(v: &Value) -> String {
    v.as_f64().map_or_else(|| "-".into(), query::format_go_g)
}

/// The table of the API's `data` as of `now_ms`.
pub fn render(data: &Value, now_ms: i64, out: &mut dyn Write) -> anyhow::Result<()> {
    let targets = data["targets"].as_array().cloned().unwrap_or_default();
    if targets.is_empty() {
        writeln!(out, "no forecasts (no forecast: rules, or none with enough data yet)")?;
        return Ok(());
    }
    writeln!(out, "{:<20} {:<40} {:>14} {:>34}  THRESHOLD", "TARGET", "RESOURCE", "NOW", "AT HORIZON (BAND)")?;
    for t in &targets {
        let target = t["target"].as_str().filter(|s| !s.is_empty()).unwrap_or("(none)");
        for r in t["resources"].as_array().into_iter().flatten() {
            let labels: Vec<String> = r["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| Some(k.as_str()) != data["by"].as_str())
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            let resource = format!("{} {{{}}}", r["rule"].as_str().unwrap_or_default(), labels.join(","));
            let f = &r["forecast"];
            let at_horizon = format!(
                "{} in {} ({}..{})",
                num(&f["value"]),
                r["horizon"].as_str().unwrap_or("?"),
                num(&f["lower"]),
                num(&f["upper"])
            );
            let when = match parse_ms(&r["crossingAt"]) {
                Some(at) => {
                    let band = match (parse_ms(&r["crossingEarliest"]), parse_ms(&r["crossingLatest"])) {
                        (Some(e), Some(l)) => format!("; band {}..{}", human(e - now_ms), human(l - now_ms)),
                        (Some(e), None) => format!("; band from {}", human(e - now_ms)),
                        _ => String::new(),
                    };
                    format!("crosses in {} at {}{band}", human(at - now_ms), r["crossingAt"].as_str().unwrap_or(""))
                }
                None => "not within the horizon".into(),
            };
            writeln!(
                out,
                "{:<20} {:<40} {:>14} {:>34}  {} {}: {when}",
                target,
                resource,
                num(&r["value"]),
                at_horizon,
                r["direction"].as_str().unwrap_or(""),
                num(&r["threshold"]),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_lists_targets_soonest_first() {
        let data = serde_json::json!({"by": "instance", "targets": [
            {"target": "game-1", "firstCrossingAt": "2026-12-08T02:00:00Z", "resources": [
                {"rule": "DiskFullSoon", "labels": {"instance": "game-1", "mount": "/"}, "value": 9400.0,
                 "threshold": 0.0, "direction": "below", "horizon": "1d",
                 "forecast": {"at": "2026-12-09T00:00:00Z", "value": -4960.5, "lower": -5100.0, "upper": -4800.0},
                 "crossingAt": "2026-12-08T02:00:00Z", "crossingEarliest": "2026-12-08T01:30:00Z",
                 "crossingLatest": "2026-12-08T02:45:00Z"}]},
            {"target": "", "firstCrossingAt": null, "resources": [
                {"rule": "Players", "labels": {}, "value": 10.0, "threshold": 100.0, "direction": "above",
                 "horizon": "7d", "forecast": {"at": "x", "value": 12.0, "lower": 9.0, "upper": 15.0},
                 "crossingAt": null, "crossingEarliest": null, "crossingLatest": null}]}
        ]});
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-08T00:00:00Z").unwrap().timestamp_millis();
        let mut out = Vec::new();
        render(&data, now, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[1].starts_with("game-1 "), "{text}");
        assert!(lines[1].contains("DiskFullSoon {mount=/}"), "{text}");
        assert!(lines[1].contains("-4960.5 in 1d (-5100..-4800)"), "{text}");
        assert!(lines[1].ends_with("below 0: crosses in 2h at 2026-12-08T02:00:00Z; band 1h30m..2h45m"), "{text}");
        assert!(lines[2].starts_with("(none) "), "{text}");
        assert!(lines[2].ends_with("above 100: not within the horizon"), "{text}");
        let mut out = Vec::new();
        render(&serde_json::json!({"by": "instance", "targets": []}), now, &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().starts_with("no forecasts"));
    }
}
