//! Rule groups as versioned configuration (`/api/v1/admin/rules`):
//!
//! - `GET /api/v1/admin/rules`: the API-managed groups (name, version, author, time) and the
//!   read-only groups of the rules directory.
//! - `GET /api/v1/admin/rules/{group}`: the live version's text and metadata.
//! - `PUT|POST /api/v1/admin/rules/{group}?message=...`: a new version (body: a rule file with
//!   this one group, or the group mapping itself, YAML or JSON). Validated first: a bad group
//!   is a 400 with the exact error and nothing changes. `dry_run=true` evaluates the group once
//!   now and shows what it would record and which alerts would be pending or firing, storing
//!   nothing.
//! - `DELETE /api/v1/admin/rules/{group}?message=...&justification=...` (justification needed).
//! - `GET .../versions`, `GET .../versions/{v}` (the text), `GET .../diff?from=A&to=B` (unified
//!   diff; default: the previous version against the live one).
//! - `POST .../rollback?to=VERSION&message=...`: the text of VERSION becomes a new version.
//!
//! Every change is audited (action `rule.put`, `rule.delete`, `rule.rollback`; before and after
//! are the group texts) before it is applied, then the rule engine reloads; if the reload fails
//! the live file is put back and the error returned.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::{Value as Json, json};

use crate::rules_store::{Change, StoreError, Version, unified_diff, validate_group};
use crate::server::AppState;
use crate::server::admin::{Actor, Admin, AuditEvent, SmallBody, admin, required_justification};
use crate::server::errors::{ApiError, ErrorType};
use crate::server::json::success_value;

type Params = Query<HashMap<String, String>>;

pub(crate) fn service(st: &AppState) -> Result<Arc<crate::rules_service::RulesService>, ApiError> {
    st.rules.get().cloned().ok_or_else(|| ApiError::unavailable("the rule engine is starting up"))
}

pub(crate) fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Invalid(m) => ApiError::bad_data(m),
        e @ (StoreError::NotFound(_) | StoreError::NoVersion { .. }) => {
            ApiError::new(ErrorType::NotFound, e.to_string())
        }
        e @ StoreError::ReadOnly(_) => ApiError::new(ErrorType::Conflict, e.to_string()),
        e @ StoreError::Io { .. } => ApiError::internal(e),
    }
}

pub(crate) fn version_json(v: &Version) -> Json {
    json!({
        "version": v.version,
        "time": crate::server::rules_api::go_time(v.time_ms),
        "author": v.author,
        "message": v.message,
        "action": v.action,
        "from": v.from,
    })
}

fn change_json(group: &str, c: &Change) -> Json {
    json!({"group": group, "version": version_json(&c.version)})
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?.map_err(store_error)
}

pub(crate) fn read_only_check(st: &AppState, group: &str) -> Result<(), ApiError> {
    if service(st)?.file_group_names().iter().any(|n| n == group) {
        return Err(store_error(StoreError::ReadOnly(group.to_string())));
    }
    Ok(())
}

/// Reloads the rule engine after a change; on failure puts `before` back as the live file.
async fn apply(st: &AppState, adm: &Arc<Admin>, group: &str, before: Option<String>) -> Result<(), ApiError> {
    let svc = service(st)?;
    if let Err(e) = svc.reload().await {
        let (adm, g) = (adm.clone(), group.to_string());
        blocking(move || adm.rules.restore_active(&g, before.as_deref())).await?;
        let _ = svc.reload().await;
        return Err(ApiError::bad_data(format!("the rule engine refused the change: {e}")));
    }
    Ok(())
}

/// One audited change of a group: the entry (`action`, `before` and `after` texts) first, then
/// `op` on the store as `actor`, then the reload (which puts `before` back if it fails).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn change(
    st: &AppState,
    adm: &Arc<Admin>,
    actor: &Actor,
    action: &str,
    group: &str,
    (before, after): (Option<String>, Option<String>),
    justification: Option<String>,
    op: impl FnOnce(&crate::rules_store::RulesStore, &str, i64) -> Result<Change, StoreError> + Send + 'static,
) -> Result<Change, ApiError> {
    let ev = AuditEvent {
        before: before.clone().map(Json::String),
        after: after.map(Json::String),
        justification: justification.filter(|j| !j.is_empty()),
        ..actor.event(action, group)
    };
    let now = (st.clock)();
    adm.audited(ev, async {
        let (a2, who) = (adm.clone(), actor.subject.clone());
        let c = blocking(move || op(&a2.rules, &who, now)).await?;
        apply(st, adm, group, before).await?;
        Ok(c)
    })
    .await
}

pub async fn list(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let adm = admin(&st)?;
    let groups = blocking(move || adm.rules.list()).await?;
    let managed: Vec<Json> =
        groups.iter().map(|c| json!({"name": c.name, "version": version_json(&c.version)})).collect();
    let files = service(&st)?.file_group_names();
    Ok(success_value(&json!({"groups": managed, "read_only": files})))
}

pub async fn get_group(State(st): State<Arc<AppState>>, Path(group): Path<String>) -> Result<Response, ApiError> {
    let adm = admin(&st)?;
    let g = group.clone();
    match blocking(move || adm.rules.current(&g)).await? {
        Some(c) => Ok(success_value(&json!({"name": c.name, "version": version_json(&c.version), "text": c.text}))),
        None => Err(store_error(StoreError::NotFound(group))),
    }
}

pub async fn put_group(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Path(group): Path<String>,
    Query(p): Params,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    let adm = admin(&st)?;
    let svc = service(&st)?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_data("the rule group body is not UTF-8"))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_data("empty body: send the rule group as YAML or JSON"));
    }
    let canonical = validate_group(&group, text, svc.group_options()).map_err(store_error)?;
    if p.get("dry_run").is_some_and(|v| v == "true" || v == "1") {
        let now = (st.clock)();
        let svc2 = svc.clone();
        let run = tokio::task::spawn_blocking(move || svc2.dry_run(&canonical, now))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::bad_data)?;
        return Ok(success_value(&dry_run_json(&group, &run)));
    }
    read_only_check(&st, &group)?;
    let (a2, g2) = (adm.clone(), group.clone());
    let before = blocking(move || a2.rules.current(&g2)).await?.map(|c| c.text);
    let message = p.get("message").cloned().unwrap_or_default();
    let why = p.get("justification").cloned().or_else(|| Some(message.clone()));
    let (g2, t2) = (group.clone(), canonical.clone());
    let change = change(&st, &adm, &actor, "rule.put", &group, (before, Some(canonical)), why, move |s, who, now| {
        s.put(&g2, &t2, who, &message, now)
    })
    .await?;
    tracing::info!(group = %group, version = change.version.version, by = %actor.subject, "rule group stored");
    Ok(success_value(&change_json(&group, &change)))
}

pub async fn delete_group(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Path(group): Path<String>,
    Query(p): Params,
) -> Result<Response, ApiError> {
    let adm = admin(&st)?;
    read_only_check(&st, &group)?;
    let justification = required_justification(p.get("justification").map(String::as_str), "deleting a rule group")?;
    let (a2, g2) = (adm.clone(), group.clone());
    let before = blocking(move || a2.rules.current(&g2)).await?.map(|c| c.text);
    let Some(before_text) = before else { return Err(store_error(StoreError::NotFound(group))) };
    let message = p.get("message").cloned().unwrap_or_default();
    let g2 = group.clone();
    let texts = (Some(before_text), None);
    let change = change(&st, &adm, &actor, "rule.delete", &group, texts, Some(justification), move |s, who, now| {
        s.delete(&g2, who, &message, now)
    })
    .await?;
    Ok(success_value(&change_json(&group, &change)))
}

pub async fn rollback(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Path(group): Path<String>,
    Query(p): Params,
) -> Result<Response, ApiError> {
    let adm = admin(&st)?;
    read_only_check(&st, &group)?;
    let to: u64 = p
        .get("to")
        .ok_or_else(|| ApiError::bad_data("missing parameter \"to\" (the version to roll back to)"))?
        .parse()
        .map_err(|_| ApiError::bad_data("invalid parameter \"to\": want a version number"))?;
    let (a2, g2) = (adm.clone(), group.clone());
    let (before, target) = blocking(move || {
        let before = a2.rules.current(&g2)?.map(|c| c.text);
        if a2.rules.versions(&g2)?.is_empty() {
            return Err(StoreError::NotFound(g2));
        }
        Ok((before, a2.rules.version_text(&g2, to)?))
    })
    .await?;
    let svc = service(&st)?;
    // The old text must still be valid with today's engine.
    validate_group(&group, &target, svc.group_options()).map_err(store_error)?;
    let message = p.get("message").cloned().unwrap_or_default();
    let why = p.get("justification").cloned().or_else(|| Some(format!("rollback to version {to}")));
    let g2 = group.clone();
    let change = change(&st, &adm, &actor, "rule.rollback", &group, (before, Some(target)), why, move |s, who, now| {
        s.rollback(&g2, to, who, &message, now)
    })
    .await?;
    Ok(success_value(&change_json(&group, &change)))
}

pub async fn versions(State(st): State<Arc<AppState>>, Path(group): Path<String>) -> Result<Response, ApiError> {
    let adm = admin(&st)?;
    let g = group.clone();
    let vs = blocking(move || adm.rules.versions(&g)).await?;
    if vs.is_empty() {
        return Err(store_error(StoreError::NotFound(group)));
    }
    Ok(success_value(&json!({"group": group, "versions": vs.iter().map(version_json).collect::<Vec<_>>()})))
}

pub async fn version(
    State(st): State<Arc<AppState>>,
    Path((group, v)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let adm = admin(&st)?;
    let v: u64 = v.parse().map_err(|_| ApiError::bad_data(format!("invalid version {v:?}")))?;
    let g = group.clone();
    let (meta, text) = blocking(move || {
        let meta = adm.rules.versions(&g)?.into_iter().find(|x| x.version == v);
        let meta = meta.ok_or(StoreError::NoVersion { group: g.clone(), version: v })?;
        Ok((meta, adm.rules.version_text(&g, v)?))
    })
    .await?;
    Ok(success_value(&json!({"group": group, "version": version_json(&meta), "text": text})))
}

pub async fn diff(
    State(st): State<Arc<AppState>>,
    Path(group): Path<String>,
    Query(p): Params,
) -> Result<Response, ApiError> {
    let adm = admin(&st)?;
    let num = |k: &str| -> Result<Option<u64>, ApiError> {
        p.get(k)
            .map(|s| {
                s.parse().map_err(|_| ApiError::bad_data(format!("invalid parameter {k:?}: want a version number")))
            })
            .transpose()
    };
    let (from, to) = (num("from")?, num("to")?);
    let g = group.clone();
    let (from, to, a, b) = blocking(move || {
        let vs = adm.rules.versions(&g)?;
        let last = vs.last().ok_or_else(|| StoreError::NotFound(g.clone()))?.version;
        let to = to.unwrap_or(last);
        let from = from.unwrap_or(to.saturating_sub(1));
        let text = |v: u64| if v == 0 { Ok(String::new()) } else { adm.rules.version_text(&g, v) };
        Ok((from, to, text(from)?, text(to)?))
    })
    .await?;
    let d = unified_diff(&a, &b, &format!("{group} v{from}"), &format!("{group} v{to}"));
    Ok(success_value(&json!({"group": group, "from": from, "to": to, "diff": d})))
}

fn dry_run_json(group: &str, r: &crate::rules_service::DryRun) -> Json {
    let recorded: Vec<Json> = r
        .recorded
        .iter()
        .map(|(l, v)| {
            let m: serde_json::Map<String, Json> =
                l.iter().map(|x| (x.name.to_string(), Json::String(x.value.to_string()))).collect();
            json!({"metric": m, "value": crate::server::json::format_value(*v)})
        })
        .collect();
    let alerts: Vec<Json> = r
        .alerts
        .iter()
        .map(|(l, a, state, v)| {
            json!({"labels": l, "annotations": a, "state": state, "value": crate::server::json::format_value(*v)})
        })
        .collect();
    json!({
        "group": group,
        "evaluated_at": crate::server::rules_api::go_time(r.t_ms),
        "samples": r.samples,
        "recorded": recorded,
        "alerts": alerts,
        "errors": r.errors,
    })
}
