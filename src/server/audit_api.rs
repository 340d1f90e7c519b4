//! The audit log API (mounted behind the admin authentication layer by the server):
//!
//! - `GET /api/v1/admin/audit`: search, newest first. Parameters `actor`, `action`, `target`,
//!   `start`/`end` (RFC 3339 or Unix seconds, inclusive), `text` (case-sensitive substring of
//!   the entry's JSON line), `limit` (default 100, at most 10000), `before_id` (the previous
//!   page's `next_before_id`), `format=json|jsonl|csv`. JSON answer:
//!   `{"status":"success","data":{"entries":[...],"next_before_id":N|null,"total_matched":N|null}}`;
//!   `jsonl` and `csv` send the page's entries only, with the cursor in the
//!   `X-Audit-Next-Before-Id` header.
//! - `GET /api/v1/admin/audit/anchor`: `{"status":"success","data":{"id":..,"hash":..,"time":..}}`,
//!   to keep for `tickdb audit verify --anchor`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::audit::{AuditError, AuditLog, MAX_LIMIT, Query};
use crate::server::errors::ApiError;
use crate::server::json::success_value;
use crate::server::params::{Params, invalid_param, parse_time};

/// The audit routes, with the log as their state.
pub fn router(log: Arc<AuditLog>) -> Router {
    Router::new()
        .route("/api/v1/admin/audit", get(search))
        .route("/api/v1/admin/audit/anchor", get(anchor))
        .with_state(log)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Jsonl,
    Csv,
}

/// The query and output format of a search request.
fn parse_request(p: &Params) -> Result<(Query, Format), ApiError> {
    let time = |name: &str| p.get(name).map(|s| parse_time(s).map_err(|e| invalid_param(name, &e))).transpose();
    let limit = match p.get("limit") {
        None => crate::audit::DEFAULT_LIMIT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(invalid_param("limit", &format!("{s:?} is not a number from 1 to {MAX_LIMIT}"))),
        },
    };
    let before_id = match p.get("before_id") {
        None => None,
        Some(s) => {
            Some(s.parse::<u64>().map_err(|_| invalid_param("before_id", &format!("{s:?} is not an entry id")))?)
        }
    };
    let format = match p.get("format") {
        None | Some("json") => Format::Json,
        Some("jsonl") => Format::Jsonl,
        Some("csv") => Format::Csv,
        Some(f) => return Err(invalid_param("format", &format!("{f:?} is not one of json, jsonl, csv"))),
    };
    let q = Query {
        actor: p.get("actor").map(str::to_string),
        action: p.get("action").map(str::to_string),
        target: p.get("target").map(str::to_string),
        from_ms: time("start")?,
        to_ms: time("end")?,
        text: p.get("text").map(str::to_string),
        limit,
        before_id,
    };
    if let (Some(from), Some(to)) = (q.from_ms, q.to_ms)
        && to < from
    {
        return Err(invalid_param("end", "end timestamp must not be before start time"));
    }
    Ok((q, format))
}

async fn search(State(log): State<Arc<AuditLog>>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let (q, format) = parse_request(&Params::from_query(raw.as_deref())?)?;
    let page = tokio::task::spawn_blocking(move || log.search(&q))
        .await
        .map_err(|e| ApiError::internal(format!("audit search panicked: {e}")))?
        .map_err(|e| match e {
            AuditError::InvalidQuery(m) => ApiError::bad_data(m),
            e => ApiError::internal(e),
        })?;
    let (body, ctype) = match format {
        Format::Json => {
            let data = json!({
                "entries": page.entries,
                "next_before_id": page.next_before_id,
                "total_matched": page.total_matched,
            });
            return Ok(success_value(&data));
        }
        Format::Jsonl => {
            let mut out = Vec::new();
            crate::audit::write_jsonl(&page.entries, &mut out).map_err(ApiError::internal)?;
            (out, "application/x-ndjson")
        }
        Format::Csv => {
            let mut out = Vec::new();
            crate::audit::write_csv(&page.entries, &mut out).map_err(ApiError::internal)?;
            (out, "text/csv; charset=utf-8")
        }
    };
    let mut r = body.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Some(next) = page.next_before_id {
        r.headers_mut().insert("x-audit-next-before-id", HeaderValue::from(next));
    }
    Ok(r)
}

async fn anchor(State(log): State<Arc<AuditLog>>) -> Response {
    success_value(&json!(log.anchor()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditOptions, Record};
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn check_params(qs: &str, expected: Result<(Query, Format), &str>) {
        let p = Params::from_query(Some(qs)).unwrap();
        match (parse_request(&p), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{qs}"),
            (Err(got), Err(want)) => assert_eq!(got.message, want, "{qs}"),
            (got, want) => panic!("{qs}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parameters() {
        let q = Query::default;
        check_params("", Ok((q(), Format::Json)));
        check_params(
            "actor=alice&action=rule.update&target=g1&text=x&limit=5&before_id=9&format=csv",
            Ok((
                Query {
                    actor: Some("alice".into()),
                    action: Some("rule.update".into()),
                    target: Some("g1".into()),
                    text: Some("x".into()),
                    limit: 5,
                    before_id: Some(9),
                    ..q()
                },
                Format::Csv,
            )),
        );
        check_params(
            "start=1700000000&end=2023-11-14T22:13:21.5Z",
            Ok((Query { from_ms: Some(1_700_000_000_000), to_ms: Some(1_700_000_001_500), ..q() }, Format::Json)),
        );
        check_params("start=1.5", Ok((Query { from_ms: Some(1500), ..q() }, Format::Json)));
        check_params(
            "start=yesterday",
            Err("invalid parameter \"start\": cannot parse \"yesterday\" to a valid timestamp"),
        );
        check_params("start=20&end=10", Err("invalid parameter \"end\": end timestamp must not be before start time"));
        check_params("limit=0", Err("invalid parameter \"limit\": \"0\" is not a number from 1 to 10000"));
        check_params("limit=10001", Err("invalid parameter \"limit\": \"10001\" is not a number from 1 to 10000"));
        check_params("before_id=-1", Err("invalid parameter \"before_id\": \"-1\" is not an entry id"));
        check_params("format=xml", Err("invalid parameter \"format\": \"xml\" is not one of json, jsonl, csv"));
    }

    async fn get(app: &Router, uri: &str) -> (u16, String, Option<String>) {
        let resp = app.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
        let status = resp.status().as_u16();
        let next = resp.headers().get("x-audit-next-before-id").map(|v| v.to_str().unwrap().to_string());
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap(), next)
    }

    #[tokio::test]
    async fn serves_search_and_anchor() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open_with_clock(
            dir.path(),
            AuditOptions { fsync: false, ..AuditOptions::default() },
            Arc::new(|| 1_700_000_000_000),
        )
        .unwrap();
        for i in 0..3 {
            let actor = if i == 1 { "bob" } else { "alice" };
            log.append(Record {
                actor: actor.into(),
                action: "rule.update".into(),
                result: "ok".into(),
                ..Record::default()
            })
            .unwrap();
        }
        let app = router(log.clone());

        let (status, body, _) = get(&app, "/api/v1/admin/audit?actor=alice&limit=1").await;
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "success");
        assert_eq!(v["data"]["entries"][0]["id"], 3);
        assert_eq!(v["data"]["next_before_id"], 3);
        assert_eq!(v["data"]["total_matched"], 2);

        let (_, body, _) = get(&app, "/api/v1/admin/audit?actor=alice&before_id=3").await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["data"]["entries"].as_array().unwrap().len(), 1);
        assert_eq!(v["data"]["entries"][0]["id"], 1);
        assert!(v["data"]["next_before_id"].is_null());

        let (status, body, next) = get(&app, "/api/v1/admin/audit?format=jsonl&limit=2").await;
        assert_eq!((status, body.lines().count(), next.as_deref()), (200, 2, Some("2")));
        let (status, body, _) = get(&app, "/api/v1/admin/audit?format=csv&actor=bob").await;
        assert_eq!(status, 200);
        assert!(body.starts_with("id,time,") && body.contains(",bob,"), "{body}");

        let (status, body, _) = get(&app, "/api/v1/admin/audit?limit=abc").await;
        assert_eq!(status, 400);
        assert_eq!(
            body,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"limit\": \"abc\" is not a number from 1 to 10000"}"#
        );

        let (status, body, _) = get(&app, "/api/v1/admin/audit/anchor").await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["data"]["id"], 3);
        assert_eq!(v["data"]["hash"], log.anchor().hash);
    }
}
