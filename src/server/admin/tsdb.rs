//! Prometheus's TSDB admin endpoints, audited (admin role):
//!
//! - `POST /api/v1/admin/tsdb/delete_series?match[]=...&start=...&end=...&justification=...`:
//!   tombstones for the matching series in the range (204, as Prometheus). Destructive, so a
//!   justification is required.
//! - `POST /api/v1/admin/tsdb/clean_tombstones`: rewrites blocks without deleted samples (204).
//! - `POST /api/v1/admin/tsdb/snapshot?skip_head=false`: a consistent, hard-linked copy of the
//!   blocks (and the head, written as a block) in `<data_dir>/snapshots/<name>`; answers
//!   `{"name": ...}`. Restore by copying the snapshot's block directories into an empty data dir.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::server::AppState;
use crate::server::admin::{Actor, AuditEvent, admin, required_justification};
use crate::server::api::match_sets;
use crate::server::errors::ApiError;
use crate::server::json::success_value;
use crate::server::params::{MAX_TIME, MIN_TIME, Params};

fn event(
    actor: &Actor,
    action: &str,
    target: String,
    after: serde_json::Value,
    justification: Option<String>,
) -> AuditEvent {
    AuditEvent { after: Some(after), justification, ..actor.event(action, target) }
}

pub async fn delete_series(State(st): State<Arc<AppState>>, actor: Actor, p: Params) -> Result<Response, ApiError> {
    let backend = st.backend()?;
    let sets = match_sets(&p)?;
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let (start, end) = (p.time_or("start", MIN_TIME)?, p.time_or("end", MAX_TIME)?);
    if start > end {
        return Err(ApiError::bad_data("invalid parameter \"end\": end timestamp must not be before start time"));
    }
    let justification = required_justification(p.get("justification"), "deleting series")?;
    let selectors: Vec<&str> = p.all("match[]");
    let after = json!({"match": selectors, "start": start, "end": end});
    let ev = event(&actor, "tsdb.delete_series", selectors.join(" "), after, Some(justification));
    admin(&st)?
        .audited(ev, async move {
            tokio::task::spawn_blocking(move || {
                for set in &sets {
                    backend.delete_series(set, start, end)?;
                }
                Ok::<_, storage::Error>(())
            })
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::from)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn clean_tombstones(State(st): State<Arc<AppState>>, actor: Actor) -> Result<Response, ApiError> {
    let backend = st.backend()?;
    let ev = event(&actor, "tsdb.clean_tombstones", "blocks".into(), json!({}), None);
    admin(&st)?
        .audited(ev, async move {
            tokio::task::spawn_blocking(move || backend.clean_tombstones())
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::from)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn snapshot(State(st): State<Arc<AppState>>, actor: Actor, p: Params) -> Result<Response, ApiError> {
    let backend = st.backend()?;
    let skip_head = match p.get("skip_head") {
        None | Some("false") | Some("0") | Some("") => false,
        Some("true") | Some("1") => true,
        Some(v) => return Err(ApiError::bad_data(format!("invalid parameter \"skip_head\": {v:?} is not a boolean"))),
    };
    // Prometheus's name: the time and a random suffix.
    let now = chrono::Utc::now();
    let name = format!("{}-{:016x}", now.format("%Y%m%dT%H%M%SZ"), rand::random::<u64>());
    let dest = st.cfg.data_dir.join("snapshots").join(&name);
    let ev = event(&actor, "tsdb.snapshot", name.clone(), json!({"skip_head": skip_head}), None);
    let blocks = admin(&st)?
        .audited(ev, async move {
            tokio::task::spawn_blocking(move || backend.snapshot(&dest, !skip_head))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::from)
        })
        .await?;
    tracing::info!(name = %name, blocks, by = %actor.subject, "snapshot taken");
    Ok(success_value(&json!({"name": name})))
}
