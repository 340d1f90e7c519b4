//! Escalation policies through the admin API (admin role), each change audited before it
//! applies (see [`crate::alerting::escalations`] for how overrides sit over the
//! notifications file):
//!
//! - `GET /api/v1/admin/escalations`: every route of the notifications file by path
//!   (`route`, `route.routes[0]`...) with its receiver, matchers, the file's escalation steps,
//!   the override set through the API, and the effective steps.
//! - `PUT /api/v1/admin/escalations` (JSON `{"route": "route.routes[0]", "steps": [{"after":
//!   "10m", "receiver": "pager"}], "justification": "..."}`): sets that route's steps (`[]`:
//!   no escalation below it). Checked like the file: the route and receivers must exist, delays
//!   positive and increasing; a bad policy is a 400 and nothing changes.
//! - `DELETE /api/v1/admin/escalations?route=...&justification=...`: removes the override
//!   (the file's steps apply again).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use serde_json::json;

use crate::alerting::escalations::{StepsBody, steps_json};
use crate::server::AppState;
use crate::server::admin::{Actor, AuditEvent, SmallBody, admin, required_justification};
use crate::server::errors::{ApiError, ErrorType};
use crate::server::json::success_value;

fn not_configured() -> ApiError {
    ApiError::new(
        ErrorType::NotFound,
        "tickdb's own notifications are not configured (alerting.notifications_file): no escalation policies",
    )
}

fn alerting(st: &AppState) -> Result<&Arc<crate::alerting::Alerting>, ApiError> {
    st.alerting.get().ok_or_else(|| ApiError::unavailable("alerting is starting up"))
}

pub async fn list(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let v = alerting(&st)?.escalations_view().ok_or_else(not_configured)?;
    Ok(success_value(&v))
}

async fn change(
    st: &Arc<AppState>,
    actor: &Actor,
    route: String,
    steps: Option<Vec<rules::notify::EscalationStep>>,
    justification: Option<String>,
) -> Result<Response, ApiError> {
    let a = alerting(st)?.clone();
    let refused = |e: Option<String>| match e {
        Some(msg) => ApiError::bad_data(msg),
        None => not_configured(),
    };
    // Refused before the audit entry: a policy that cannot apply leaves none.
    a.check_escalation(&route, steps.as_deref()).map_err(refused)?;
    let before = a.escalation_of(&route).ok_or_else(not_configured)?;
    let (action, after) = match &steps {
        Some(s) => ("escalation.update", json!({"steps": steps_json(Some(s))})),
        None => ("escalation.delete", json!({"override": null})),
    };
    let ev = AuditEvent {
        before: Some(json!({"effective": before})),
        after: Some(after),
        justification,
        ..actor.event(action, route.clone())
    };
    let effective =
        admin(st)?.audited(ev, async { a.set_escalation(&route, steps.as_deref()).map_err(refused) }).await?;
    tracing::info!(route = %route, by = %actor.subject, action, "escalation policy changed");
    Ok(success_value(&json!({"route": route, "effective": effective})))
}

pub async fn put(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    let b: StepsBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_data(format!("invalid JSON body: {e}")))?;
    let justification = b.justification.filter(|j| !j.trim().is_empty());
    change(&st, &actor, b.route, Some(b.steps), justification).await
}

pub async fn delete(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let route =
        p.get("route").filter(|r| !r.is_empty()).ok_or_else(|| ApiError::bad_data("missing parameter \"route\""))?;
    let justification =
        required_justification(p.get("justification").map(String::as_str), "removing an escalation override")?;
    change(&st, &actor, route.clone(), None, Some(justification)).await
}
