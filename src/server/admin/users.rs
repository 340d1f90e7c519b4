//! Basic-auth users through the admin API (admin role), each change audited before it applies:
//!
//! - `GET /api/v1/admin/users`: every user with role and scope (never the password hash).
//! - `PUT /api/v1/admin/users/{name}` (JSON `{"role": "reader", "password": "...",
//!   "scope": {"tenant": "eu-1"}, "justification": "..."}`): creates the user (password
//!   required) or changes it (password optional: kept when absent). The audit entry's
//!   `before`/`after` hold name, role and scope, and whether the password changed; never the
//!   password or its hash.
//! - `DELETE /api/v1/admin/users/{name}?justification=...`: deletes it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{AuthError, Role};
use crate::server::AppState;
use crate::server::admin::{Actor, AuditEvent, SmallBody, admin, required_justification};
use crate::server::errors::{ApiError, ErrorType};
use crate::server::json::success_value;

fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::UnknownUser(_) => ApiError::new(ErrorType::NotFound, e.to_string()),
        AuthError::Rejected(m) => ApiError::bad_data(m),
        e => ApiError::internal(e),
    }
}

pub async fn list(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    Ok(success_value(&json!({"users": st.auth.users().list()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    role: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    scope: BTreeMap<String, String>,
    #[serde(default)]
    justification: Option<String>,
}

pub async fn put(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Path(name): Path<String>,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    let b: PutBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_data(format!("invalid JSON body: {e}")))?;
    let role: Role = b.role.parse().map_err(|e| ApiError::bad_data(format!("invalid role: {e}")))?;
    crate::auth::basic::check_user(&name, b.password.as_deref(), &b.scope).map_err(auth_error)?;
    let before = st.auth.users().list().into_iter().find(|u| u.name == name);
    if before.is_none() && b.password.is_none() {
        return Err(ApiError::bad_data(format!("new user {name:?} needs a \"password\"")));
    }
    let action = if before.is_some() { "user.update" } else { "user.create" };
    let admin = admin(&st)?;
    let ev = AuditEvent {
        before: before.as_ref().map(|u| json!(u)),
        after: Some(json!({"name": name, "role": role, "scope": b.scope, "password_changed": b.password.is_some()})),
        justification: b.justification.filter(|j| !j.trim().is_empty()),
        ..actor.event(action, name.clone())
    };
    let (_, after) = admin
        .audited(ev, async {
            let a = st.auth.clone();
            let (n, pw, scope) = (name.clone(), b.password.clone(), b.scope.clone());
            tokio::task::spawn_blocking(move || a.users().put(&n, role, pw.as_deref(), scope))
                .await
                .map_err(ApiError::internal)?
                .map_err(auth_error)
        })
        .await?;
    tracing::info!(user = %after.name, role = %after.role, by = %actor.subject, action, "basic-auth user changed");
    Ok(success_value(&json!({"user": after, "created": before.is_none()})))
}

pub async fn delete(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Path(name): Path<String>,
    Query(p): Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let justification = required_justification(p.get("justification").map(String::as_str), "deleting a user")?;
    let Some(before) = st.auth.users().list().into_iter().find(|u| u.name == name) else {
        return Err(auth_error(AuthError::UnknownUser(name)));
    };
    let admin = admin(&st)?;
    let ev = AuditEvent {
        before: Some(json!(before)),
        justification: Some(justification),
        ..actor.event("user.delete", name.clone())
    };
    let gone = admin
        .audited(ev, async {
            let a = st.auth.clone();
            let n = name.clone();
            tokio::task::spawn_blocking(move || a.users().remove(&n))
                .await
                .map_err(ApiError::internal)?
                .map_err(auth_error)
        })
        .await?;
    tracing::info!(user = %gone.name, by = %actor.subject, "basic-auth user deleted");
    Ok(success_value(&json!({"user": gone})))
}
