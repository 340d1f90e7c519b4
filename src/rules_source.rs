//! Rule queries against a remote Prometheus-API datasource (`rules.datasource_url`): Mimir,
//! Thanos, a VictoriaMetrics cluster or Prometheus itself. The rule engine stays local; only
//! its PromQL goes to `POST <url>/api/v1/query`.

use std::collections::BTreeMap;
use std::time::Duration;

use query::InstantSample;
use rules::source::{QueryFailed, QuerySource};
use serde::Deserialize;
use storage::Labels;

/// A [`QuerySource`] over HTTP. Its [`QuerySource::instant`] blocks on the server's runtime,
/// so it must be called from a blocking thread (the rule manager does).
pub struct RemoteSource {
    base: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl RemoteSource {
    /// `url` is the API root (the part before `/api/v1/query`).
    pub fn new(url: &str, timeout: Duration, runtime: tokio::runtime::Handle) -> Result<RemoteSource, String> {
        crate::tls::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("tickdb/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("building the datasource client: {e}"))?;
        Ok(RemoteSource { base: url.trim_end_matches('/').to_string(), client, runtime })
    }

    async fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<InstantSample>, QueryFailed> {
        let url = format!("{}/api/v1/query", self.base);
        let time = format!("{}.{:03}", t_ms.div_euclid(1000), t_ms.rem_euclid(1000));
        let resp = self
            .client
            .post(&url)
            .form(&[("query", expr), ("time", time.as_str())])
            .send()
            .await
            .map_err(|e| QueryFailed(format!("datasource {url}: {e}")))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| QueryFailed(format!("datasource {url}: reading body: {e}")))?;
        parse_response(&body).map_err(|e| QueryFailed(format!("datasource {url} ({status}): {e}")))
    }
}

impl QuerySource for RemoteSource {
    fn instant(&self, expr: &str, t_ms: i64) -> Result<Vec<InstantSample>, QueryFailed> {
        self.runtime.block_on(self.query(expr, t_ms))
    }
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct VectorElem {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// Converts a Prometheus `/api/v1/query` answer into a rule vector (a scalar becomes one sample
/// without labels, as the local engine's result does).
pub fn parse_response(body: &[u8]) -> Result<Vec<InstantSample>, String> {
    let env: Envelope = serde_json::from_slice(body).map_err(|e| format!("not a Prometheus API answer: {e}"))?;
    if env.status != "success" {
        return Err(format!(
            "{}: {}",
            env.error_type.as_deref().unwrap_or("error"),
            env.error.as_deref().unwrap_or("(no message)")
        ));
    }
    let data = env.data.ok_or("answer without data")?;
    let ts = |t: f64| (t * 1000.0).round() as i64;
    match data.result_type.as_str() {
        "vector" => {
            let elems: Vec<VectorElem> = serde_json::from_value(data.result).map_err(|e| format!("bad vector: {e}"))?;
            elems
                .into_iter()
                .map(|e| {
                    Ok(InstantSample {
                        labels: Labels::from_pairs(e.metric),
                        t: ts(e.value.0),
                        v: parse_value(&e.value.1)?,
                    })
                })
                .collect()
        }
        "scalar" => {
            let (t, v): (f64, String) = serde_json::from_value(data.result).map_err(|e| format!("bad scalar: {e}"))?;
            Ok(vec![InstantSample { labels: Labels::empty(), t: ts(t), v: parse_value(&v)? }])
        }
        other => Err(format!("rule result is not a vector or scalar (got {other})")),
    }
}

/// Prometheus's sample value strings, including `NaN`, `+Inf` and `-Inf`.
fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|_| format!("bad sample value {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vectors_scalars_and_errors() {
        let v = parse_response(
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[1700000000.5,"1"]},{"metric":{},"value":[1700000000.5,"+Inf"]}]}}"#,
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].labels, Labels::from_pairs([("__name__", "up"), ("job", "a")]));
        assert_eq!(v[0].t, 1_700_000_000_500);
        assert_eq!(v[0].v, 1.0);
        assert_eq!(v[1].v, f64::INFINITY);
        let s = parse_response(br#"{"status":"success","data":{"resultType":"scalar","result":[10,"NaN"]}}"#).unwrap();
        assert!(s[0].labels.is_empty() && s[0].v.is_nan() && s[0].t == 10_000);
        let e = parse_response(br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#).unwrap_err();
        assert_eq!(e, "bad_data: parse error");
        let m = parse_response(br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#).unwrap_err();
        assert!(m.contains("not a vector or scalar"), "{m}");
        assert!(parse_response(b"<html>").unwrap_err().contains("not a Prometheus API answer"));
        assert!(
            parse_response(
                br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}"#
            )
            .is_err()
        );
    }
}
