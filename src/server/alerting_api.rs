//! The notification API: acknowledge and resolve alerts, silences, and the dispatcher's view of
//! the alerts (state, silences and inhibitions, acks, receivers).
//!
//! - `POST /api/v1/alerts/{fingerprint}/ack` (`by`, `comment`; form, query or JSON)
//! - `POST /api/v1/alerts/{fingerprint}/resolve` (same parameters)
//! - `GET /api/v1/notifications/alerts`, `GET /api/v1/notifications/status`
//! - `GET /api/v1/silences`, `POST /api/v1/silences` (JSON: `matchers` as strings like
//!   `severity="critical"` or Alertmanager's `{name, value, isRegex, isEqual}`, `startsAt`,
//!   `endsAt` (RFC 3339 or Unix seconds), `createdBy`, `comment`), `DELETE /api/v1/silences/{id}`
//!
//! Fingerprints are the 16-digit hex of Alertmanager's API.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use rules::alert::Fingerprint;
use rules::notify::{NotifyError, SilenceDef};
use serde_json::{Value as Json, json};

use crate::alerting::Routing;
use crate::server::AppState;
use crate::server::admin::{Actor, SmallBody, audited};
use crate::server::errors::{ApiError, ErrorType};
use crate::server::json::success_value;
use crate::server::params::parse_time;

fn routing(st: &AppState) -> Result<&Arc<Routing>, ApiError> {
    st.alerting.get().and_then(|a| a.routing()).ok_or_else(|| {
        ApiError::new(
            ErrorType::NotFound,
            "tickdb's own notifications are not configured (alerting.notifications_file)",
        )
    })
}

fn notify_error(e: NotifyError) -> ApiError {
    match e {
        NotifyError::UnknownAlert(_) | NotifyError::UnknownSilence(_) => {
            ApiError::new(ErrorType::NotFound, e.to_string())
        }
        other => ApiError::bad_data(other.to_string()),
    }
}

fn parse_fp(s: &str) -> Result<Fingerprint, ApiError> {
    s.parse().map_err(|_| ApiError::bad_data(format!("invalid fingerprint {s:?}: want 16 hex digits")))
}

/// `by` and `comment` from the query string, a form body or a JSON body.
fn who_why(query: Option<&str>, headers: &HeaderMap, body: &axum::body::Bytes) -> Result<(String, String), ApiError> {
    let ctype = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut fields: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| ApiError::bad_data(format!("invalid query string: {e}")))?;
    if ctype.starts_with("application/json") && !body.is_empty() {
        let v: Json =
            serde_json::from_slice(body).map_err(|e| ApiError::bad_data(format!("invalid JSON body: {e}")))?;
        for k in ["by", "comment"] {
            if let Some(x) = v[k].as_str() {
                fields.insert(0, (k.to_string(), x.to_string()));
            }
        }
    } else if ctype.starts_with("application/x-www-form-urlencoded") {
        let form: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|e| ApiError::bad_data(format!("invalid form body: {e}")))?;
        fields.splice(0..0, form);
    }
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let by = get("by")
        .filter(|b| !b.trim().is_empty())
        .ok_or_else(|| ApiError::bad_data("missing parameter \"by\" (who acts)"))?;
    Ok((by, get("comment").unwrap_or_default()))
}

pub async fn ack(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Path(fp): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    let fp = parse_fp(&fp)?;
    let (by, comment) = who_why(q.as_deref(), &headers, &body)?;
    let r = routing(&st)?;
    r.check(|d, _| d.check_alert(fp)).map_err(notify_error)?;
    let after = Some(json!({"acknowledgedBy": by}));
    audited(&st, &actor, "alert.ack", fp.to_string(), after, Some(comment.clone()), async {
        r.ack(fp, &by, &comment).map_err(notify_error)
    })
    .await?;
    tracing::info!(fingerprint = %fp, by = %by, comment = %comment, "alert acknowledged");
    Ok(success_value(&json!({"fingerprint": fp.to_string(), "acknowledgedBy": by})))
}

pub async fn resolve(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Path(fp): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    let fp = parse_fp(&fp)?;
    let (by, comment) = who_why(q.as_deref(), &headers, &body)?;
    let r = routing(&st)?;
    r.check(|d, _| d.check_alert(fp)).map_err(notify_error)?;
    let after = Some(json!({"resolvedBy": by}));
    let sent = audited(&st, &actor, "alert.resolve", fp.to_string(), after, Some(comment.clone()), async {
        r.resolve(fp, &by, &comment).await.map_err(notify_error)
    })
    .await?;
    tracing::info!(fingerprint = %fp, by = %by, comment = %comment, "alert resolved by hand");
    Ok(success_value(&json!({"fingerprint": fp.to_string(), "resolvedBy": by, "notifications": sent})))
}

pub async fn alerts(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let r = routing(&st)?;
    let v = serde_json::to_value(r.alerts()).map_err(ApiError::internal)?;
    Ok(success_value(&v))
}

pub async fn status(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let r = routing(&st)?;
    let v = serde_json::to_value(r.stats()).map_err(ApiError::internal)?;
    Ok(success_value(&json!({"dispatcher": v})))
}

pub async fn silences(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let r = routing(&st)?;
    let v = serde_json::to_value(r.silences()).map_err(ApiError::internal)?;
    Ok(success_value(&v))
}

/// A matcher given as a string (`name="value"`, `=~`, `!=`, `!~`) or as Alertmanager's object.
fn matcher_string(m: &Json) -> Result<String, ApiError> {
    if let Some(s) = m.as_str() {
        return Ok(s.to_string());
    }
    let name = m["name"].as_str().ok_or_else(|| ApiError::bad_data("matcher without \"name\""))?;
    let value = m["value"].as_str().ok_or_else(|| ApiError::bad_data("matcher without \"value\""))?;
    let re = m["isRegex"].as_bool().unwrap_or(false);
    let eq = m["isEqual"].as_bool().unwrap_or(true);
    let op = match (re, eq) {
        (false, true) => "=",
        (false, false) => "!=",
        (true, true) => "=~",
        (true, false) => "!~",
    };
    Ok(format!("{name}{op}{}", serde_json::to_string(value).map_err(ApiError::internal)?))
}

fn time_field(v: &Json, key: &str) -> Result<Option<i64>, ApiError> {
    match &v[key] {
        Json::Null => Ok(None),
        Json::String(s) => parse_time(s).map(Some).map_err(|e| ApiError::bad_data(format!("{key}: {e}"))),
        Json::Number(n) => parse_time(&n.to_string()).map(Some).map_err(|e| ApiError::bad_data(format!("{key}: {e}"))),
        other => Err(ApiError::bad_data(format!("{key}: not a time: {other}"))),
    }
}

pub async fn add_silence(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    let r = routing(&st)?;
    let v: Json = serde_json::from_slice(&body).map_err(|e| ApiError::bad_data(format!("invalid JSON body: {e}")))?;
    let matchers = v["matchers"]
        .as_array()
        .ok_or_else(|| ApiError::bad_data("\"matchers\" must be a non-empty list"))?
        .iter()
        .map(matcher_string)
        .collect::<Result<Vec<_>, _>>()?;
    let now = st.now();
    let def = SilenceDef {
        matchers,
        starts_at_ms: time_field(&v, "startsAt")?.unwrap_or(now),
        ends_at_ms: time_field(&v, "endsAt")?.ok_or_else(|| ApiError::bad_data("missing \"endsAt\""))?,
        created_by: v["createdBy"].as_str().unwrap_or_default().to_string(),
        comment: v["comment"].as_str().unwrap_or_default().to_string(),
    };
    let after = Some(json!({
        "matchers": def.matchers, "startsAt": def.starts_at_ms, "endsAt": def.ends_at_ms, "createdBy": def.created_by,
    }));
    r.check(|d, now| d.check_silence(&def, now)).map_err(notify_error)?;
    let (target, comment) = (def.matchers.join(","), def.comment.clone());
    let id = audited(&st, &actor, "silence.create", target, after, Some(comment), async {
        r.add_silence(def).map_err(notify_error)
    })
    .await?;
    tracing::info!(silence = %id, "silence added");
    Ok(success_value(&json!({"silenceID": id})))
}

pub async fn expire_silence(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = routing(&st)?;
    r.check(|d, now| d.check_expire(&id, now)).map_err(notify_error)?;
    let before = r.silences().into_iter().find(|s| s.id == id).and_then(|s| serde_json::to_value(s).ok());
    let ev = crate::server::admin::AuditEvent { before, ..actor.event("silence.expire", id.clone()) };
    crate::server::admin::admin(&st)?.audited(ev, async { r.expire_silence(&id).map_err(notify_error) }).await?;
    tracing::info!(silence = %id, "silence expired");
    Ok(success_value(&json!({"silenceID": id})))
}
