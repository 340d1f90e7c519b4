//! API tokens through the admin API (admin role), each change audited before it applies:
//!
//! - `GET /api/v1/admin/tokens`: every issued token by id (never the token itself).
//! - `POST /api/v1/admin/tokens` (JSON `{"role": "writer", "ttl": "30d", "subject": "agent-eu",
//!   "scope": {"tenant": "eu-1"}}`): creates one and returns it once (`token`).
//! - `DELETE /api/v1/admin/tokens/{id}?justification=...`: revokes it (checked on every request
//!   from then on).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::auth::{AuthError, Role, TokenInfo};
use crate::server::AppState;
use crate::server::admin::{Actor, AuditEvent, SmallBody, admin, required_justification};
use crate::server::errors::{ApiError, ErrorType};
use crate::server::json::success_value;

fn info_json(t: &TokenInfo) -> Json {
    json!({
        "id": t.id,
        "subject": t.subject,
        "role": t.role.as_str(),
        "scope": t.scope,
        "issued_at": t.issued_at,
        "expires_at": t.expires_at,
        "revoked_at": t.revoked_at,
    })
}

fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::UnknownToken(_) => ApiError::new(ErrorType::NotFound, e.to_string()),
        e => ApiError::internal(e),
    }
}

pub async fn list(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let tokens: Vec<Json> = st.auth.tokens().list().iter().map(info_json).collect();
    Ok(success_value(&json!({"tokens": tokens})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    role: String,
    ttl: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    scope: BTreeMap<String, String>,
}

pub async fn create(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    let b: CreateBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_data(format!("invalid JSON body: {e}")))?;
    let role: Role = b.role.parse().map_err(|e| ApiError::bad_data(format!("invalid role: {e}")))?;
    let ttl: crate::duration::PromDuration =
        b.ttl.parse().map_err(|e| ApiError::bad_data(format!("invalid ttl: {e}")))?;
    if ttl.0.is_zero() {
        return Err(ApiError::bad_data("invalid ttl: must be positive"));
    }
    let subject = if b.subject.trim().is_empty() { format!("token-by-{}", actor.subject) } else { b.subject.clone() };
    let admin = admin(&st)?;
    let ev = AuditEvent {
        after: Some(json!({"role": role.as_str(), "ttl": b.ttl, "subject": subject, "scope": b.scope})),
        ..actor.event("token.create", subject.clone())
    };
    let scope: Vec<(String, String)> = b.scope.into_iter().collect();
    let (token, info) = admin
        .audited(ev, async {
            let a = st.auth.clone();
            let subj = subject.clone();
            tokio::task::spawn_blocking(move || a.tokens().create(role, ttl.0, &subj, scope))
                .await
                .map_err(ApiError::internal)?
                .map_err(auth_error)
        })
        .await?;
    tracing::info!(id = %info.id, subject = %info.subject, role = info.role.as_str(), by = %actor.subject, "token created");
    Ok(success_value(&json!({"token": token, "info": info_json(&info)})))
}

pub async fn revoke(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Path(id): Path<String>,
    Query(p): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let justification = required_justification(p.get("justification").map(String::as_str), "revoking a token")?;
    let before = st.auth.tokens().list().into_iter().find(|t| t.id == id);
    let Some(before) = before else { return Err(auth_error(AuthError::UnknownToken(id))) };
    let admin = admin(&st)?;
    let ev = AuditEvent {
        before: Some(info_json(&before)),
        justification: Some(justification),
        ..actor.event("token.revoke", id.clone())
    };
    let info = admin
        .audited(ev, async {
            let a = st.auth.clone();
            let id2 = id.clone();
            tokio::task::spawn_blocking(move || a.tokens().revoke(&id2))
                .await
                .map_err(ApiError::internal)?
                .map_err(auth_error)
        })
        .await?;
    tracing::info!(id = %info.id, by = %actor.subject, "token revoked");
    Ok(success_value(&json!({"info": info_json(&info)})))
}
