//! Rule group templates (`/api/v1/admin/rule_templates`): a rule group with `${param}`
//! placeholders (e.g. a game-server alert pack with `${game}`, `${server}`, `${cpu_threshold}`),
//! instantiated for many targets in one call.
//!
//! - `GET /api/v1/admin/rule_templates`: names and parameters.
//! - `GET|PUT /api/v1/admin/rule_templates/{name}`: the template: a group mapping (`interval`,
//!   `labels`, `rules`, ...) without `name`, since each target names its group. A PUT is
//!   checked by filling every parameter with `0` and validating the result as a group.
//! - `POST /api/v1/admin/rule_templates/{name}/instantiate` with JSON `{"targets": [{"group":
//!   "mc-eu-1", "params": {"game": "minecraft", ...}}, ...], "message": "..."}`: every target is
//!   filled in and validated first (a missing parameter or an invalid result is a 400 naming the
//!   target, and nothing is stored); then each group becomes a new version, audited as
//!   `rule.put` with the template named in the justification.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::rules_store::{StoreError, instantiate, template_params, validate_group};
use crate::server::AppState;
use crate::server::admin::rules::{blocking, change, read_only_check, service, store_error, version_json};
use crate::server::admin::{Actor, AuditEvent, SmallBody, admin};
use crate::server::errors::ApiError;
use crate::server::json::success_value;

pub async fn list(State(st): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let adm = admin(&st)?;
    let all = blocking(move || {
        let names = adm.rules.templates()?;
        names.into_iter().map(|n| Ok((adm.rules.template(&n)?, n))).collect::<Result<Vec<_>, StoreError>>()
    })
    .await?;
    let v: Vec<Json> = all.iter().map(|(t, n)| json!({"name": n, "params": template_params(t)})).collect();
    Ok(success_value(&json!({"templates": v})))
}

pub async fn get_template(State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let adm = admin(&st)?;
    let n = name.clone();
    let text = blocking(move || adm.rules.template(&n)).await?;
    Ok(success_value(&json!({"name": name, "params": template_params(&text), "text": text})))
}

pub async fn put_template(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Path(name): Path<String>,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    let adm = admin(&st)?;
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_data("the template body is not UTF-8"))?.to_string();
    let params = template_params(&text);
    let zeros: BTreeMap<String, String> = params.iter().map(|p| (p.clone(), "0".to_string())).collect();
    let probe = instantiate(&text, &zeros).map_err(store_error)?;
    validate_group("template-check", &probe, service(&st)?.group_options())
        .map_err(|e| ApiError::bad_data(format!("template {name:?} with every parameter 0: {e}")))?;
    let (a2, n2) = (adm.clone(), name.clone());
    let before = blocking(move || Ok(a2.rules.template(&n2).ok())).await?;
    let ev = AuditEvent {
        before: before.map(Json::String),
        after: Some(Json::String(text.clone())),
        ..actor.event("rule_template.put", name.clone())
    };
    let (a2, n2) = (adm.clone(), name.clone());
    adm.audited(ev, blocking(move || a2.rules.put_template(&n2, &text))).await?;
    Ok(success_value(&json!({"name": name, "params": params})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    group: String,
    #[serde(default)]
    params: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstantiateBody {
    targets: Vec<Target>,
    #[serde(default)]
    message: String,
}

pub async fn instantiate_template(
    State(st): State<Arc<AppState>>,
    actor: Actor,
    Path(name): Path<String>,
    SmallBody(body): SmallBody,
) -> Result<Response, ApiError> {
    let adm = admin(&st)?;
    let b: InstantiateBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_data(format!("invalid JSON body: {e}")))?;
    if b.targets.is_empty() {
        return Err(ApiError::bad_data("no targets"));
    }
    let (a2, n2) = (adm.clone(), name.clone());
    let template = blocking(move || a2.rules.template(&n2)).await?;
    let svc = service(&st)?;
    // Everything is checked before anything is stored.
    let mut groups = Vec::with_capacity(b.targets.len());
    for t in &b.targets {
        let fail = |e: String| ApiError::bad_data(format!("target {:?}: {e}", t.group));
        if t.group.trim().is_empty() || groups.iter().any(|(g, _): &(String, String)| *g == t.group) {
            return Err(fail("missing or repeated group name".into()));
        }
        read_only_check(&st, &t.group)?;
        let text = instantiate(&template, &t.params).map_err(|e| fail(e.to_string()))?;
        let text = validate_group(&t.group, &text, svc.group_options()).map_err(|e| fail(e.to_string()))?;
        groups.push((t.group.clone(), text));
    }
    let mut out = Vec::with_capacity(groups.len());
    for (group, text) in groups {
        let (a2, g2) = (adm.clone(), group.clone());
        let before = blocking(move || a2.rules.current(&g2)).await?.map(|c| c.text);
        let why = Some(format!("template {name}"));
        let (g2, t2, m2) = (group.clone(), text.clone(), b.message.clone());
        let c = change(&st, &adm, &actor, "rule.put", &group, (before, Some(text)), why, move |s, who, now| {
            s.put(&g2, &t2, who, &m2, now)
        })
        .await?;
        out.push(json!({"group": group, "version": version_json(&c.version)}));
    }
    Ok(success_value(&json!({"template": name, "groups": out})))
}
