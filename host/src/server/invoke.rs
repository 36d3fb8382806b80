//! `POST /namespaces/{ns}/actions/{name}`: invoke, blocking or not.

use super::{
    actions::{blocking_call, json_body},
    auth::namespace,
    error::{ActivationBody, ApiError, TransactionId},
    query::QueryParams,
    AppState,
};
use crate::{
    activator::{Caller, InvokeError},
    entity::{Activation, ActivationStatus},
};
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, Path, RawQuery, State},
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Extension, Json,
};
use serde_json::{Map, Value};
use std::{sync::Arc, time::Duration};

/// How long a blocking invoke waits at most before answering 202 (OpenWhisk: 60 s).
const MAX_BLOCKING_WAIT_MS: u64 = 60_000;

fn with_activation_id(mut response: Response, id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(id) {
        response
            .headers_mut()
            .insert("x-openwhisk-activation-id", v);
    }
    response
}

pub async fn invoke(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    Extension(TransactionId(tid)): Extension<TransactionId>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ns = namespace(&caller, &ns)?;
    let q = QueryParams::parse(query.as_deref());
    let blocking = q.flag("blocking")?;
    let result_only = q.flag("result")?;
    let wait_ms = q
        .number("timeout")?
        .unwrap_or(MAX_BLOCKING_WAIT_MS)
        .min(MAX_BLOCKING_WAIT_MS);
    let given: Map<String, Value> = match json_body::<Value>(body)? {
        None => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(ApiError::malformed("the parameters must be a JSON object")),
    };
    let store = state.store.clone();
    let action = blocking_call(move || store.get_action(&ns, &name))
        .await??
        .ok_or_else(ApiError::not_found)?;
    let mut params: Map<String, Value> = action
        .parameters
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect();
    params.extend(given);
    let started = state
        .activator
        .start(&caller, &action, Value::Object(params), &tid)
        .map_err(|e| match e {
            InvokeError::NoCapacity(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m),
            InvokeError::Internal(m) => ApiError::internal(m),
        })?;
    let id = started.activation_id.clone();
    let accepted = || {
        let r = (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "activationId": id })),
        )
            .into_response();
        with_activation_id(r, &id)
    };
    if !blocking {
        return Ok(accepted());
    }
    match tokio::time::timeout(Duration::from_millis(wait_ms), started.record).await {
        Ok(Ok(record)) => Ok(with_activation_id(answer(record, result_only), &id)),
        Ok(Err(_)) => Err(ApiError::internal("the activation ended without a record")),
        Err(_) => Ok(accepted()),
    }
}

/// The blocking answer: 200 for success, 502 for application and developer errors, 500
/// for whisk internal errors; the whole record, or only the result.
fn answer(record: Activation, result_only: bool) -> Response {
    let status = match record.response.activation_status() {
        Some(ActivationStatus::Success) => StatusCode::OK,
        Some(ActivationStatus::ApplicationError) | Some(ActivationStatus::DeveloperError) => {
            StatusCode::BAD_GATEWAY
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = if result_only {
        record
            .response
            .result
            .clone()
            .unwrap_or(Value::Object(Map::new()))
    } else {
        serde_json::to_value(&record).unwrap_or_default()
    };
    let mut response = (status, Json(body)).into_response();
    response.extensions_mut().insert(ActivationBody);
    response
}
