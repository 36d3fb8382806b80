//! The HTTP side of the OpenWhisk action protocol: what `/init` and `/run` accept, and the
//! errors they answer with. No I/O here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Body of `POST /init`.
#[derive(Debug, Deserialize)]
pub struct InitRequest {
    pub value: InitValue,
}

/// The action as the host hands it over. Other keys (`name`, ...) are accepted and ignored.
#[derive(Debug, Deserialize)]
pub struct InitValue {
    /// Entry point; `None` or empty means `main`.
    #[serde(default)]
    pub main: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    /// When true, `code` is base64.
    #[serde(default)]
    pub binary: bool,
    /// Added to the action's environment. Strings are taken as they are, other JSON values
    /// as their JSON text, `null` is skipped.
    #[serde(default)]
    pub env: Map<String, Value>,
}

impl InitValue {
    pub fn main_name(&self) -> &str {
        match self.main.as_deref() {
            Some(name) if !name.is_empty() => name,
            _ => "main",
        }
    }

    pub fn env_vars(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .filter_map(|(key, value)| Some((key.clone(), env_text(value)?)))
            .collect()
    }
}

/// Body of `POST /run`: `value` (the parameters) plus activation context keys
/// (`namespace`, `action_name`, `activation_id`, `transaction_id`, `deadline`, `api_key`, and
/// any other the host adds), each of which the action sees as `__OW_<KEY>`.
#[derive(Debug)]
pub struct RunRequest {
    /// The whole body, with `value` present (an empty object when the host sent none).
    pub message: Map<String, Value>,
}

impl RunRequest {
    pub fn parse(body: &[u8]) -> Result<RunRequest, ProxyError> {
        let mut message: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
            ProxyError::BadRequest(format!("The /run body is not a JSON object: {e}"))
        })?;
        message
            .entry("value")
            .or_insert_with(|| Value::Object(Map::new()));
        Ok(RunRequest { message })
    }

    pub fn value(&self) -> &Value {
        &self.message["value"]
    }

    /// The `__OW_*` environment of this activation.
    pub fn activation_env(&self) -> Vec<(String, String)> {
        self.message
            .iter()
            .filter(|(key, _)| key.as_str() != "value")
            .filter_map(|(key, value)| {
                Some((format!("__OW_{}", key.to_uppercase()), env_text(value)?))
            })
            .collect()
    }
}

/// A JSON object exactly as the action wrote it: passed on byte for byte, so key order and
/// number precision are the action's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonObject(String);

impl JsonObject {
    /// `Some` if `text` is one valid JSON value and that value is an object.
    pub fn parse(text: &[u8]) -> Option<JsonObject> {
        let text = std::str::from_utf8(text).ok()?.trim();
        if !text.starts_with('{') {
            return None;
        }
        serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
        Some(JsonObject(text.to_string()))
    }

    pub fn ok() -> JsonObject {
        JsonObject(r#"{"ok":true}"#.to_string())
    }
}

impl IntoResponse for JsonObject {
    fn into_response(self) -> Response {
        (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            self.0,
        )
            .into_response()
    }
}

/// How a JSON value becomes an environment variable's text.
fn env_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

/// Everything `/init` and `/run` can answer besides success, as `{"error": "<Display>"}`.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("Cannot initialize the action more than once.")]
    AlreadyInitialized,
    #[error("Cannot run the action: not initialized.")]
    NotInitialized,
    #[error("{0}")]
    BadRequest(String),
    /// The action could not be set up (bad code, unknown kind, launcher failed to load it).
    #[error("{0}")]
    InitFailed(String),
    #[error("The action did not return a dictionary.")]
    NotADictionary,
    /// The action's process could not be started, died, or stopped answering.
    #[error("An error has occurred (see logs for details): {0}")]
    ActionFailed(String),
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::AlreadyInitialized | ProxyError::NotInitialized => StatusCode::FORBIDDEN,
            ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ProxyError::InitFailed(_)
            | ProxyError::NotADictionary
            | ProxyError::ActionFailed(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        (self.status(), Json(json!({ "error": self.to_string() }))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_request_env_uppercases_keys_and_skips_value_and_null() {
        let request = RunRequest::parse(
            br#"{"value":{"a":1},"activation_id":"abc","deadline":123,"api_key":null}"#,
        )
        .unwrap();
        let mut env = request.activation_env();
        env.sort();
        assert_eq!(
            env,
            vec![
                ("__OW_ACTIVATION_ID".to_string(), "abc".to_string()),
                ("__OW_DEADLINE".to_string(), "123".to_string()),
            ]
        );
        assert_eq!(request.value(), &json!({"a": 1}));
    }

    #[test]
    fn run_request_without_value_gets_empty_params() {
        let request = RunRequest::parse(b"{}").unwrap();
        assert_eq!(request.value(), &json!({}));
        assert!(RunRequest::parse(b"[1]").is_err());
    }

    #[test]
    fn only_a_whole_json_object_is_a_result() {
        let big = br#" {"b":1,"a":12345678901234567890123} "#;
        assert_eq!(
            JsonObject::parse(big).unwrap().0,
            r#"{"b":1,"a":12345678901234567890123}"#
        );
        assert!(JsonObject::parse(b"[1]").is_none());
        assert!(JsonObject::parse(b"42").is_none());
        assert!(JsonObject::parse(b"{} {}").is_none());
        assert!(JsonObject::parse(b"{").is_none());
        assert!(JsonObject::parse(b"\xff{}").is_none());
    }

    #[test]
    fn main_defaults_to_main() {
        let value: InitValue = serde_json::from_value(json!({"main": ""})).unwrap();
        assert_eq!(value.main_name(), "main");
        let value: InitValue = serde_json::from_value(json!({"main": "handler"})).unwrap();
        assert_eq!(value.main_name(), "handler");
    }
}
