//! `/namespaces/{ns}/actions`: create, update, get, list, delete.

use super::{auth::namespace, error::ApiError, query::QueryParams, AppState};
use crate::{
    activator::{resolve_kind, Caller},
    entity::{validate_name, Action, ActionLimits, Exec, KeyValue},
};
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, Path, RawQuery, State},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// The body of `PUT …/actions/{name}`: every part optional on update. Other fields the
/// clients send (`name`, `namespace`, `version`) are ignored, as OpenWhisk does: the path
/// names the action and the store keeps its version.
#[derive(Debug, Deserialize)]
pub struct ActionPut {
    exec: Option<Exec>,
    parameters: Option<Vec<KeyValue>>,
    annotations: Option<Vec<KeyValue>>,
    limits: Option<LimitsPut>,
    publish: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct LimitsPut {
    timeout: Option<u64>,
    memory: Option<u32>,
    logs: Option<u32>,
    concurrency: Option<u32>,
}

pub(super) fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<Option<T>, ApiError> {
    let bytes = body.map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(ApiError::malformed)
}

pub(super) async fn blocking_call<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

fn check_name(name: &str) -> Result<(), ApiError> {
    validate_name(name).map_err(ApiError::bad_request)
}

fn check_limit<T: PartialOrd + std::fmt::Display>(
    what: &str,
    unit: &str,
    value: T,
    min: T,
    max: T,
) -> Result<T, ApiError> {
    if value < min || value > max {
        return Err(ApiError::bad_request(format!(
            "The {what} limit {value} {unit} is outside the allowed range {min} {unit} to {max} {unit}."
        )));
    }
    Ok(value)
}

fn merged_limits(
    state: &AppState,
    old: Option<ActionLimits>,
    put: Option<LimitsPut>,
) -> Result<ActionLimits, ApiError> {
    let l = &state.config.limits;
    let base = old.unwrap_or(ActionLimits {
        timeout: l.timeout_ms_default,
        memory: l.memory_mb_default,
        logs: l.logs_mb_default,
        concurrency: l.concurrency_default,
    });
    let put = put.unwrap_or_default();
    Ok(ActionLimits {
        timeout: check_limit(
            "timeout",
            "ms",
            put.timeout.unwrap_or(base.timeout),
            l.timeout_ms_min,
            l.timeout_ms_max,
        )?,
        memory: check_limit(
            "memory",
            "MB",
            put.memory.unwrap_or(base.memory),
            l.memory_mb_min,
            l.memory_mb_max,
        )?,
        logs: check_limit(
            "logs",
            "MB",
            put.logs.unwrap_or(base.logs),
            l.logs_mb_min,
            l.logs_mb_max,
        )?,
        concurrency: check_limit(
            "concurrency",
            "activations",
            put.concurrency.unwrap_or(base.concurrency),
            l.concurrency_min,
            l.concurrency_max,
        )?,
    })
}

fn checked_exec(exec: Exec) -> Result<Exec, ApiError> {
    let Some(kind) = resolve_kind(&exec.kind) else {
        return Err(ApiError::bad_request(format!(
            "The action kind '{}' is not supported; supported kinds: nodejs:20 (nodejs:default), python:3 (python:default), blackbox, native.",
            exec.kind
        )));
    };
    if kind == "blackbox" {
        if exec.image.as_deref().is_none_or(str::is_empty) {
            return Err(ApiError::bad_request(
                "A blackbox action needs `exec.image`.",
            ));
        }
    } else if exec.code.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(format!(
            "An action of kind '{}' needs `exec.code`.",
            exec.kind
        )));
    }
    Ok(Exec {
        kind: kind.to_string(),
        ..exec
    })
}

fn without_code(mut action: Action) -> Action {
    action.exec.code = None;
    action
}

pub async fn put(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Action>, ApiError> {
    let ns = namespace(&caller, &ns)?;
    check_name(&name)?;
    let overwrite = QueryParams::parse(query.as_deref()).flag("overwrite")?;
    let put: ActionPut =
        json_body(body)?.ok_or_else(|| ApiError::malformed("the body is empty"))?;
    let store = state.store.clone();
    let (ns2, name2) = (ns.clone(), name.clone());
    let existing = blocking_call(move || store.get_action(&ns2, &name2)).await??;
    if existing.is_some() && !overwrite {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "resource already exists",
        ));
    }
    let exec = match (put.exec, &existing) {
        (Some(exec), _) => checked_exec(exec)?,
        (None, Some(old)) => old.exec.clone(),
        (None, None) => {
            return Err(ApiError::bad_request(
                "An action needs `exec` when it is created.",
            ))
        }
    };
    let limits = merged_limits(&state, existing.as_ref().map(|a| a.limits), put.limits)?;
    let mut annotations = put
        .annotations
        .or_else(|| existing.as_ref().map(|a| a.annotations.clone()))
        .unwrap_or_default();
    crate::entity::set_annotation(&mut annotations, "exec", exec.kind.clone());
    let action = Action {
        namespace: ns,
        name,
        version: existing
            .as_ref()
            .map_or(crate::entity::FIRST_VERSION.into(), |a| a.version.clone()),
        publish: put
            .publish
            .or(existing.as_ref().map(|a| a.publish))
            .unwrap_or(false),
        parameters: put
            .parameters
            .or_else(|| existing.as_ref().map(|a| a.parameters.clone()))
            .unwrap_or_default(),
        exec,
        annotations,
        limits,
        updated: 0,
    };
    let store = state.store.clone();
    let stored = blocking_call(move || store.put_action(action, overwrite)).await??;
    Ok(Json(stored))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Action>, ApiError> {
    let ns = namespace(&caller, &ns)?;
    let q = QueryParams::parse(query.as_deref());
    let with_code = q.get("code") != Some("false");
    let store = state.store.clone();
    let action = blocking_call(move || store.get_action(&ns, &name))
        .await??
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(if with_code {
        action
    } else {
        without_code(action)
    }))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Json<Action>, ApiError> {
    let ns = namespace(&caller, &ns)?;
    let store = state.store.clone();
    let action = blocking_call(move || store.delete_action(&ns, &name))
        .await??
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(action))
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(ns): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let ns = namespace(&caller, &ns)?;
    let q = QueryParams::parse(query.as_deref());
    let store = state.store.clone();
    if q.flag("count")? {
        let n = blocking_call(move || store.count_actions(&ns)).await??;
        return Ok(Json(json!({ "actions": n })));
    }
    let (skip, limit) = (q.number("skip")?.unwrap_or(0), q.limit()?);
    let actions = blocking_call(move || store.list_actions(&ns, skip, limit)).await??;
    let actions: Vec<Action> = actions.into_iter().map(without_code).collect();
    Ok(Json(
        serde_json::to_value(actions).map_err(ApiError::internal)?,
    ))
}
