//! `/namespaces/{ns}/activations`: list, get, result, logs.

use super::{
    actions::blocking_call, auth::namespace, error::ApiError, query::QueryParams, AppState,
};
use crate::{activator::Caller, entity::Activation, store::ActivationQuery};
use axum::{
    extract::{Path, RawQuery, State},
    Json,
};
use serde_json::{json, Value};
use std::sync::Arc;

pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(ns): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let ns = namespace(&caller, &ns)?;
    let q = QueryParams::parse(query.as_deref());
    let filter = ActivationQuery {
        name: q.get("name").map(String::from),
        since: q.number("since")?,
        upto: q.number("upto")?,
        skip: q.number("skip")?.unwrap_or(0),
        limit: q.limit()?,
    };
    let store = state.store.clone();
    if q.flag("count")? {
        let n = blocking_call(move || store.count_activations(&ns, &filter)).await??;
        return Ok(Json(json!({ "activations": n })));
    }
    let docs = q.flag("docs")?;
    let records = blocking_call(move || store.list_activations(&ns, &filter)).await??;
    let list: Vec<Value> = records
        .iter()
        .map(|r| {
            if docs {
                serde_json::to_value(r).unwrap_or_default()
            } else {
                r.summary_json()
            }
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

async fn record(
    state: &AppState,
    caller: &Caller,
    ns: &str,
    id: String,
) -> Result<Activation, ApiError> {
    let ns = namespace(caller, ns)?;
    let store = state.store.clone();
    blocking_call(move || store.get_activation(&ns, &id))
        .await??
        .ok_or_else(ApiError::not_found)
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((ns, id)): Path<(String, String)>,
) -> Result<Json<Activation>, ApiError> {
    Ok(Json(record(&state, &caller, &ns, id).await?))
}

pub async fn result(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((ns, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let r = record(&state, &caller, &ns, id).await?;
    Ok(Json(
        serde_json::to_value(r.response).map_err(ApiError::internal)?,
    ))
}

pub async fn logs(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((ns, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let r = record(&state, &caller, &ns, id).await?;
    let lines = state
        .log_store
        .fetch(&r.namespace, &r.activation_id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "logs": lines })))
}
