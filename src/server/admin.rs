//! The admin API's shared parts: who acts ([`Actor`], put on every request by the auth layer),
//! and the one way an admin action is recorded ([`Admin::audited`]): the audit entry is
//! written (and fsync'd) *before* the action is applied, and an action whose entry cannot be
//! written is refused; an action that then fails leaves a second entry with its error.
//!
//! Routes: [`rules`] (versioned rule groups), [`templates`], [`tokens`], [`users`],
//! [`escalations`], [`tsdb`], [`actions`] (scaling and recovery: history, approvals, manual
//! actions); the audit log's own routes are in `audit_api`. Every admin route needs the
//! `admin` role, but for [`actions`]' routes, which the `operator` role may use.

pub mod actions;
pub mod escalations;
pub mod rules;
pub mod templates;
pub mod tokens;
pub mod tsdb;
pub mod users;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::Value as Json;

use crate::rules_store::RulesStore;
use crate::server::errors::{ApiError, ErrorType};

/// Who makes a request: set by the authentication layer as a request extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The token's subject or the basic-auth user; `anonymous` without credentials.
    pub subject: String,
    pub role: String,
    pub source_ip: String,
    pub user_agent: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .ok_or_else(|| ApiError::new(ErrorType::Unauthorized, "authentication required"))
    }
}

/// An audit entry as the admin API writes it: the log's own [`crate::audit::Record`].
pub type AuditEvent = crate::audit::Record;

impl Actor {
    /// An entry of this actor for `action` on `target` (result `ok`; set what else applies).
    pub fn event(&self, action: &str, target: impl Into<String>) -> AuditEvent {
        AuditEvent {
            actor: self.subject.clone(),
            role: self.role.clone(),
            source_ip: self.source_ip.clone(),
            user_agent: self.user_agent.clone(),
            action: action.into(),
            target: target.into(),
            result: "ok".into(),
            ..AuditEvent::default()
        }
    }
}

/// The admin API, or 503 while it is not set up yet.
pub fn admin(st: &crate::server::AppState) -> Result<Arc<Admin>, ApiError> {
    st.admin.get().cloned().ok_or_else(|| ApiError::unavailable("the admin API is starting up"))
}

/// A request body of at most `admin.max_body_bytes` bytes (default 1 MiB): an admin or
/// notification request (a rule group, a token request, a silence). Larger ones are refused
/// with 413 in the API's envelope before they are read whole.
pub struct SmallBody(pub axum::body::Bytes);

impl axum::extract::FromRequest<Arc<crate::server::AppState>> for SmallBody {
    type Rejection = ApiError;

    async fn from_request(
        req: axum::extract::Request,
        st: &Arc<crate::server::AppState>,
    ) -> Result<Self, Self::Rejection> {
        let limit = st.cfg.admin.max_body_bytes;
        axum::body::to_bytes(req.into_body(), limit).await.map(SmallBody).map_err(|e| {
            ApiError::new(ErrorType::TooLarge, format!("request body over {limit} bytes or unreadable: {e}"))
        })
    }
}

/// Writes an audit entry durably or fails (then the action must not happen). Blocking.
pub type AuditSink = Arc<dyn Fn(AuditEvent) -> Result<(), String> + Send + Sync>;

/// The sink that writes to the audit log (group-committed and fsync'd before it returns).
pub fn audit_sink(log: Arc<crate::audit::AuditLog>) -> AuditSink {
    Arc::new(move |ev: AuditEvent| log.append(ev).map(|_| ()).map_err(|e| e.to_string()))
}

/// The `justification` a destructive action needs (`doing`: what, for the error message).
pub fn required_justification(given: Option<&str>, doing: &str) -> Result<String, ApiError> {
    given
        .filter(|j| !j.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_data(format!("{doing} needs a \"justification\"")))
}

/// Runs `act` as an audited action of `actor` (see [`Admin::audited`]): `action` on `target`,
/// with `after` describing the change and `justification` (the caller's comment), if any.
pub async fn audited<T>(
    st: &crate::server::AppState,
    actor: &Actor,
    action: &str,
    target: String,
    after: Option<Json>,
    justification: Option<String>,
    act: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let ev =
        AuditEvent { after, justification: justification.filter(|j| !j.is_empty()), ..actor.event(action, target) };
    admin(st)?.audited(ev, act).await
}

/// The admin API's state.
pub struct Admin {
    pub rules: RulesStore,
    pub audit: AuditSink,
}

impl Admin {
    /// Records `ev` (result `ok`), then runs `act`. Refuses with 503 when the entry cannot be
    /// written; when `act` fails, records a second entry with the error and returns it.
    pub async fn audited<T, F>(self: &Arc<Self>, ev: AuditEvent, act: F) -> Result<T, ApiError>
    where
        F: std::future::Future<Output = Result<T, ApiError>>,
    {
        self.record(ev.clone()).await?;
        match act.await {
            Ok(v) => Ok(v),
            Err(e) => {
                let failed = AuditEvent { result: format!("error: {}", e.message), after: None, ..ev };
                if let Err(ae) = self.record(failed).await {
                    tracing::error!(error = %ae.message, "audit entry of a failed admin action not written");
                }
                Err(e)
            }
        }
    }

    /// Writes one entry (on a blocking thread: the sink fsyncs).
    pub async fn record(self: &Arc<Self>, ev: AuditEvent) -> Result<(), ApiError> {
        let sink = self.audit.clone();
        let action = ev.action.clone();
        let res = tokio::task::spawn_blocking(move || sink(ev)).await.map_err(ApiError::internal)?;
        res.map_err(|e| {
            tracing::error!(action = %action, error = %e, "audit log write failed: action refused");
            ApiError::unavailable(format!("the audit log cannot be written, so the action was refused: {e}"))
        })
    }
}
