//! OpenWhisk's error body, `{"error": …, "code": <transaction id>}`, for every failure —
//! including axum's own rejections (bad JSON, body too large, unknown route), which a
//! middleware rewrites into that shape.

use axum::{
    body::Body,
    extract::Request,
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use http_body_util::BodyExt;

/// The request's transaction id (OpenWhisk's `code` in error bodies), set by
/// [`transaction`] for every request.
#[derive(Debug, Clone)]
pub struct TransactionId(pub String);

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Extra headers (e.g. `WWW-Authenticate` on a 401).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "The requested resource does not exist.",
        )
    }
    pub fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!("{message}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{message}"))
    }
    pub fn malformed(detail: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("The request content was malformed:\n{detail}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The transaction id is filled in by the middleware, which sees the request.
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        for (name, value) in self.headers {
            response.headers_mut().append(name, value);
        }
        response
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Conflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, "resource already exists")
            }
            other => ApiError::internal(other),
        }
    }
}

/// Marks a response whose body is an activation record or result: answered as it is,
/// whatever its status (a 502 for an application error carries the record, not an error).
#[derive(Debug, Clone, Copy)]
pub struct ActivationBody;

const MAX_ERROR_BODY: usize = 64 * 1024;

/// Gives every request a transaction id and every error response OpenWhisk's body with it.
pub async fn transaction(mut request: Request, next: Next) -> Response {
    let tid = crate::entity::new_activation_id();
    request.extensions_mut().insert(TransactionId(tid.clone()));
    let response = next.run(request).await;
    let status = response.status();
    let (mut parts, body) = response.into_parts();
    if let Ok(value) = HeaderValue::from_str(&tid) {
        parts.headers.insert("x-request-id", value);
    }
    let passes_through = parts.extensions.get::<ActivationBody>().is_some();
    if passes_through || !(status.is_client_error() || status.is_server_error()) {
        return Response::from_parts(parts, body);
    }
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let bytes = match http_body_util::Limited::new(body, MAX_ERROR_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Default::default(),
    };
    let mut doc = if is_json {
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default()
    } else {
        serde_json::Value::Null
    };
    if !doc.is_object() || doc.get("error").is_none() {
        let text = String::from_utf8_lossy(&bytes).trim().to_string();
        let message = if text.is_empty() {
            status.canonical_reason().unwrap_or("error").to_string()
        } else {
            text
        };
        doc = serde_json::json!({ "error": message });
    }
    if doc.get("code").is_none() {
        doc["code"] = serde_json::Value::String(tid);
    }
    let body = serde_json::to_vec(&doc).expect("JSON of plain values");
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}
