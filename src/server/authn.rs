//! The authentication layer: every request but the health checks is authenticated and
//! authorised by [`crate::auth::Authenticator`] for the permission its route needs
//! ([`permission_for`]); the principal and the [`Actor`] (who, role, address, user agent) go
//! into the request's extensions for the handlers. Refusals use the API's error envelope with
//! 401 (and `WWW-Authenticate`), 403 or 429 (and `Retry-After`), and every refusal that is a
//! security event (bad credentials, lockout, rate limit, missing role) is written to the audit
//! log as `auth.failure`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{AuthError, Permission, Principal};
use crate::server::AppState;
use crate::server::admin::{Actor, AuditEvent};
use crate::server::errors::{ApiError, ErrorType};

/// The permission a request needs; `None` for the health checks, which are always open.
pub fn permission_for(method: &Method, path: &str) -> Option<Permission> {
    match path {
        "/-/healthy" | "/-/ready" => return None,
        // Re-reads files only the operator controls, like Prometheus's lifecycle API: open where
        // writes are (loopback by default), and audited.
        "/-/reload" => return Some(Permission::Write),
        "/api/v1/write" => return Some(Permission::Write),
        _ => {}
    }
    // Scaling and recovery (approvals, manual scale and restart): operators run the fleet.
    let operate_prefixes = ["/api/v1/admin/actions", "/api/v1/admin/policies", "/api/v1/admin/targets"];
    if operate_prefixes.iter().any(|p| path == *p || path.starts_with(&format!("{p}/"))) {
        return Some(Permission::Operate);
    }
    if path.starts_with("/api/v1/admin/") || path == "/api/v1/admin" {
        return Some(Permission::Admin);
    }
    if path.starts_with("/api/v1/import/") {
        return Some(Permission::Write);
    }
    let alert_action = path.starts_with("/api/v1/alerts/") && (path.ends_with("/ack") || path.ends_with("/resolve"));
    let silence_change = path.starts_with("/api/v1/silences") && (method == Method::POST || method == Method::DELETE);
    if alert_action || silence_change {
        return Some(Permission::Operate);
    }
    Some(Permission::Read)
}

fn user_agent(req: &Request) -> String {
    req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").chars().take(256).collect()
}

/// The middleware (see the module docs).
pub async fn authenticate(State(st): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let Some(need) = permission_for(req.method(), req.uri().path()) else { return next.run(req).await };
    let peer =
        req.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let auth = st.auth.clone();
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().get(..6))
        .is_some_and(|p| p.eq_ignore_ascii_case(b"basic "));
    // A Basic password not yet verified costs an argon2 run: off the async workers.
    let res = if basic {
        let headers = req.headers().clone();
        tokio::task::spawn_blocking(move || auth.check(&headers, peer, need))
            .await
            .unwrap_or_else(|e| Err(AuthError::Config(format!("authentication panicked: {e}"))))
    } else {
        auth.check(req.headers(), peer, need)
    };
    match res {
        Ok(p) => {
            let actor = Actor {
                subject: p.subject.clone(),
                role: p.role.as_str().to_string(),
                source_ip: peer.to_string(),
                user_agent: user_agent(&req),
            };
            req.extensions_mut().insert(actor);
            req.extensions_mut().insert::<Arc<Principal>>(Arc::new(p));
            next.run(req).await
        }
        Err(e) => {
            if e.is_security_event() {
                audit_refusal(&st, &req, peer, need, &e);
            }
            refusal(e, need)
        }
    }
}

/// The error response of a refused request. A rate-limited or locked-out *write* gets 503, not
/// 429: Prometheus 2.x drops a batch answered 429 (unless `retry_on_http_429`) but retries 503,
/// so no sample is lost while the limit lasts.
pub fn refusal(e: AuthError, need: Permission) -> Response {
    let kind = match e.status() {
        StatusCode::UNAUTHORIZED => ErrorType::Unauthorized,
        StatusCode::FORBIDDEN => ErrorType::Forbidden,
        StatusCode::TOO_MANY_REQUESTS if need == Permission::Write => ErrorType::Unavailable,
        StatusCode::TOO_MANY_REQUESTS => ErrorType::TooManyRequests,
        StatusCode::NOT_FOUND => ErrorType::NotFound,
        _ => return ApiError::internal(&e).into_response(),
    };
    let mut r = ApiError::new(kind, e.to_string()).into_response();
    if let Some(v) = e.www_authenticate() {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(v));
    }
    if let Some(d) = e.retry_after() {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

/// Writes an `auth.failure` entry in the background (the refusal does not wait for it).
fn audit_refusal(st: &Arc<AppState>, req: &Request, peer: IpAddr, need: Permission, e: &AuthError) {
    let Some(admin) = st.admin.get().cloned() else { return };
    let who = Actor {
        subject: subject_hint(e),
        role: String::new(),
        source_ip: peer.to_string(),
        user_agent: user_agent(req),
    };
    let target = format!("{} {}", req.method(), req.uri().path());
    let ev = AuditEvent {
        after: Some(serde_json::json!({"needed": need.as_str()})),
        result: format!("refused: {e}"),
        ..who.event("auth.failure", target)
    };
    tokio::spawn(async move {
        let _ = admin.record(ev).await;
    });
}

fn subject_hint(e: &AuthError) -> String {
    match e {
        AuthError::Forbidden { subject, .. } => subject.clone(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_their_permission() {
        let check = |m: Method, p: &str, want: Option<Permission>| assert_eq!(permission_for(&m, p), want, "{m} {p}");
        check(Method::GET, "/-/healthy", None);
        check(Method::GET, "/-/ready", None);
        check(Method::POST, "/-/reload", Some(Permission::Write));
        check(Method::POST, "/api/v1/write", Some(Permission::Write));
        check(Method::POST, "/api/v1/import/prometheus", Some(Permission::Write));
        check(Method::GET, "/api/v1/query", Some(Permission::Read));
        check(Method::GET, "/api/v1/export", Some(Permission::Read));
        check(Method::GET, "/metrics", Some(Permission::Read));
        check(Method::GET, "/api/v1/alerts", Some(Permission::Read));
        check(Method::POST, "/api/v1/alerts/0123456789abcdef/ack", Some(Permission::Operate));
        check(Method::POST, "/api/v1/alerts/0123456789abcdef/resolve", Some(Permission::Operate));
        check(Method::GET, "/api/v1/silences", Some(Permission::Read));
        check(Method::POST, "/api/v1/silences", Some(Permission::Operate));
        check(Method::DELETE, "/api/v1/silences/abc", Some(Permission::Operate));
        check(Method::GET, "/api/v1/admin/rules", Some(Permission::Admin));
        check(Method::GET, "/api/v1/admin/audit", Some(Permission::Admin));
        check(Method::GET, "/api/v1/admin", Some(Permission::Admin));
        check(Method::GET, "/api/v1/admin/actions", Some(Permission::Operate));
        check(Method::POST, "/api/v1/admin/actions/3/approve", Some(Permission::Operate));
        check(Method::POST, "/api/v1/admin/targets/scale", Some(Permission::Operate));
        check(Method::POST, "/api/v1/admin/policies/p/reset", Some(Permission::Operate));
        check(Method::GET, "/api/v1/admin/actionsx", Some(Permission::Admin));
        check(Method::GET, "/api/v1/nope", Some(Permission::Read));
    }
}
