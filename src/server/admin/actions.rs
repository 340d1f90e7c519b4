//! Scaling and recovery actions through the admin API (operator role; docs/scaling.md):
//!
//! - `GET /api/v1/admin/actions?policy=&status=&limit=`: the history, newest first: decision,
//!   inputs (metric values, replicas), status, before/after, duration, errors.
//! - `GET /api/v1/admin/actions/{id}`.
//! - `POST /api/v1/admin/actions/{id}/approve` (optional `justification`): runs a pending
//!   action now, audited under the operator's name.
//! - `POST /api/v1/admin/actions/{id}/reject` (`justification` required).
//! - `GET /api/v1/admin/policies`: the loaded policies, their last decision, breaker, cooldown.
//! - `POST /api/v1/admin/policies/{name}/reset` (`justification`): closes a policy's circuit
//!   breaker.
//! - `GET /api/v1/admin/targets/status?target=docker/game`: replicas through the actuator.
//! - `POST /api/v1/admin/targets/scale` (`{"target", "replicas", "justification"}`) and
//!   `POST /api/v1/admin/targets/restart` (`{"target", "instance"?, "justification"}`): manual
//!   actions, audited before they run.
//!
//! Parameters come as JSON bodies or as form/query parameters.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::actions::{ActionError, Actions, Op, Status};
use crate::server::AppState;
use crate::server::admin::{Actor, AuditEvent, SmallBody, admin, required_justification};
use crate::server::errors::{ApiError, ErrorType};
use crate::server::json::success_value;

fn actions(st: &AppState) -> Result<Arc<Actions>, ApiError> {
    st.actions.get().cloned().ok_or_else(|| ApiError::unavailable("the action engine is starting up"))
}

fn api_error(e: ActionError) -> ApiError {
    use crate::actuators::ActuatorError as A;
    let t = match &e {
        ActionError::UnknownAction(_) | ActionError::UnknownPolicy(_) => ErrorType::NotFound,
        ActionError::NotPending { .. } => ErrorType::Conflict,
        ActionError::Invalid(_) | ActionError::NoActuator(_) => ErrorType::BadData,
        ActionError::Audit(_) => ErrorType::Unavailable,
        ActionError::Actuator(a) => match a {
            A::NotFound(_) => ErrorType::NotFound,
            A::Conflict(_) => ErrorType::Conflict,
            A::Forbidden(_) => ErrorType::Forbidden,
            A::Invalid(_) | A::Refused(_) => ErrorType::BadData,
            A::Unavailable(_) => ErrorType::Unavailable,
        },
    };
    ApiError::new(t, e.to_string())
}

/// Body or parameters of the POST routes.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    replicas: Option<i64>,
    #[serde(default)]
    instance: Option<String>,
    #[serde(default)]
    justification: Option<String>,
}

fn params(body: &[u8], query: &HashMap<String, String>) -> Result<Params, ApiError> {
    let mut p: Params = if body.iter().all(u8::is_ascii_whitespace) {
        Params::default()
    } else if body.first() == Some(&b'{') {
        serde_json::from_slice(body).map_err(|e| ApiError::bad_data(format!("invalid JSON body: {e}")))?
    } else {
        serde_urlencoded::from_bytes(body).map_err(|e| ApiError::bad_data(format!("invalid form body: {e}")))?
    };
    let q = |k: &str| query.get(k).filter(|v| !v.is_empty()).cloned();
    p.target = p.target.or_else(|| q("target"));
    p.instance = p.instance.or_else(|| q("instance"));
    p.justification = p.justification.or_else(|| q("justification"));
    if p.replicas.is_none()
        && let Some(r) = q("replicas")
    {
        p.replicas =
            Some(r.parse().map_err(|_| ApiError::bad_data(format!("replicas must be an integer, got {r:?}")))?);
    }
    Ok(p)
}

pub async fn list(
    State(st): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let limit = match q.get("limit") {
        None => 100,
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| ApiError::bad_data(format!("limit must be a positive integer, got {l:?}")))?,
    };
    let status = q.get("status").filter(|s| !s.is_empty());
    if let Some(s) = status {
        let known = ["pending", "succeeded", "failed", "dry_run", "audit_failed", "rejected", "expired"];
        if !known.contains(&s.as_str()) {
            return Err(ApiError::bad_data(format!("unknown status {s:?}; one of {}", known.join(", "))));
        }
    }
    let h = actions(&st)?.history(
        q.get("policy").map(String::as_str).filter(|p| !p.is_empty()),
        status.map(String::as_str),
        limit.min(crate::actions::HISTORY_LEN),
    );
    Ok(success_value(&serde_json::to_value(h).map_err(ApiError::internal)?))
}

fn parse_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::bad_data(format!("invalid action id {id:?}")))
}

pub async fn get_action(State(st): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let rec = actions(&st)?.action(parse_id(&id)?).map_err(api_error)?;
    Ok(success_value(&serde_json::to_value(rec).map_err(ApiError::internal)?))
}

pub async fn approve(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let p = params(&body, &q)?;
    let a = actions(&st)?;
    a.check_pending(id).map_err(api_error)?;
    // The action's own entry (actuator.scale/restart, actor = the approver) is written before it
    // runs; no entry, no action.
    let done = a.approve(id, &actor, p.justification).await.map_err(api_error)?;
    if done.status == Status::AuditFailed {
        return Err(ApiError::unavailable(format!(
            "the audit log cannot be written, so the action was refused: {}",
            done.error.unwrap_or_default()
        )));
    }
    tracing::info!(id, by = %actor.subject, status = done.status.as_str(), "action approved");
    Ok(success_value(&serde_json::to_value(done).map_err(ApiError::internal)?))
}

pub async fn reject(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let p = params(&body, &q)?;
    let justification = required_justification(p.justification.as_deref(), "rejecting an action")?;
    let a = actions(&st)?;
    let rec = a.check_pending(id).map_err(api_error)?;
    let ev = AuditEvent {
        after: Some(json!({"status": "rejected", "op": rec.op, "policy": rec.policy})),
        justification: Some(justification),
        ..actor.event("action.reject", format!("action/{id}"))
    };
    let done = admin(&st)?.audited(ev, async { a.reject(id, &actor).await.map_err(api_error) }).await?;
    Ok(success_value(&serde_json::to_value(done).map_err(ApiError::internal)?))
}

pub async fn policies(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let v = actions(&st)?.policies().await;
    Ok(success_value(&serde_json::to_value(v).map_err(ApiError::internal)?))
}

pub async fn reset(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    let p = params(&body, &q)?;
    let justification = required_justification(p.justification.as_deref(), "resetting a circuit breaker")?;
    let a = actions(&st)?;
    if !a.has_policy(&name) {
        return Err(api_error(ActionError::UnknownPolicy(name)));
    }
    let ev = AuditEvent {
        after: Some(json!({"breaker": "closed"})),
        justification: Some(justification),
        ..actor.event("policy.reset", format!("policy/{name}"))
    };
    admin(&st)?.audited(ev, async { a.reset(&name).await.map_err(api_error) }).await?;
    Ok(success_value(&json!({"policy": name, "breaker": "closed"})))
}

fn target_of(p: &Params) -> Result<rules::scaling::Target, ApiError> {
    let t = p
        .target
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_data("missing parameter \"target\""))?;
    t.parse().map_err(ApiError::bad_data)
}

pub async fn target_status(
    State(st): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let target = target_of(&params(b"", &q)?)?;
    let s = actions(&st)?.target_status(&target).await.map_err(api_error)?;
    Ok(success_value(&json!({"target": target.to_string(), "status": s})))
}

pub async fn scale(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Query(q): Query<HashMap<String, String>>,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    let p = params(&body, &q)?;
    let target = target_of(&p)?;
    let replicas = match p.replicas {
        Some(r) if (0..=100_000).contains(&r) => r as u32,
        Some(r) => return Err(ApiError::bad_data(format!("replicas must be between 0 and 100000, got {r}"))),
        None => return Err(ApiError::bad_data("missing parameter \"replicas\"")),
    };
    let justification = required_justification(p.justification.as_deref(), "scaling a target by hand")?;
    manual(&st, &actor, target, Op::Scale { replicas }, justification).await
}

pub async fn restart(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Query(q): Query<HashMap<String, String>>,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    let p = params(&body, &q)?;
    let target = target_of(&p)?;
    let justification = required_justification(p.justification.as_deref(), "restarting a target by hand")?;
    let instance = p.instance.filter(|i| !i.is_empty());
    manual(&st, &actor, target, Op::Restart { instance }, justification).await
}

async fn manual(
    st: &AppState,
    actor: &Actor,
    target: rules::scaling::Target,
    op: Op,
    justification: String,
) -> Result<Response, ApiError> {
    let a = actions(st)?;
    let done = a.manual(actor, target, op, justification).await.map_err(api_error)?;
    if done.status == Status::Failed {
        let msg = done.error.clone().unwrap_or_default();
        return Err(ApiError::new(ErrorType::Execution, format!("action {} failed: {msg}", done.id)));
    }
    Ok(success_value(&serde_json::to_value(done).map_err(ApiError::internal)?))
}
