//! OpenWhisk's entities as they travel in the REST API: actions, their limits and code,
//! activation records and their responses, with serde mappings that produce OpenWhisk's
//! field names exactly (`activationId`, `statusCode`, …).
//!
//! These are the host's own types: the SPI has FFI-safe copies of what plugins need, and the
//! store ([`crate::store`]) keeps these as JSON. Where OpenWhisk's JSON and ours differ, the
//! field's doc says so.
//!
//! Also here: the rule OpenWhisk applies to entity names ([`validate_name`]) and the maker of
//! activation ids ([`new_activation_id`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

/// One parameter or annotation: `{"key": "...", "value": <any JSON>}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    pub value: Value,
}

impl KeyValue {
    pub fn new(key: impl Into<String>, value: impl Into<Value>) -> Self {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// The value under `key` in a list of parameters or annotations (the first, should a list
/// from outside carry the key twice).
pub fn get_annotation<'a>(list: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    list.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

/// Sets `key` to `value`: replaces the existing entry in place (keeping the list's order),
/// or appends one.
pub fn set_annotation(list: &mut Vec<KeyValue>, key: &str, value: impl Into<Value>) {
    let value = value.into();
    match list.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = value,
        None => list.push(KeyValue::new(key, value)),
    }
}

/// What an action runs: `{"kind": "nodejs:20", "code": "...", "binary": false}`, or for a
/// Docker action `{"kind": "blackbox", "image": "...", "binary": false}`. `main` names the
/// entry function when it is not `main`. Absent fields are left out of the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exec {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// True when `code` is base64 (a zip or an executable), as OpenWhisk has it.
    #[serde(default)]
    pub binary: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// An action's limits, OpenWhisk's names and units: `timeout` in milliseconds, `memory` and
/// `logs` in megabytes, `concurrency` activations at once in one container. A field missing
/// from incoming JSON takes OpenWhisk's default (60000 ms, 256 MB, 10 MB, 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionLimits {
    pub timeout: u64,
    pub memory: u32,
    pub logs: u32,
    pub concurrency: u32,
}

impl Default for ActionLimits {
    fn default() -> Self {
        ActionLimits {
            timeout: 60_000,
            memory: 256,
            logs: 10,
            concurrency: 1,
        }
    }
}

/// The version an entity gets when it is created; each update bumps the patch number.
pub const FIRST_VERSION: &str = "0.0.1";

/// An action as OpenWhisk's `GET /namespaces/{ns}/actions/{name}` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub namespace: String,
    pub name: String,
    /// Semantic version, [`FIRST_VERSION`] when created, patch + 1 on each update (the store
    /// does this).
    pub version: String,
    #[serde(default)]
    pub publish: bool,
    pub exec: Exec,
    #[serde(default)]
    pub parameters: Vec<KeyValue>,
    #[serde(default)]
    pub annotations: Vec<KeyValue>,
    #[serde(default)]
    pub limits: ActionLimits,
    /// When it was last written, epoch milliseconds (the store sets it).
    #[serde(default)]
    pub updated: u64,
}

impl Action {
    pub fn annotation(&self, key: &str) -> Option<&Value> {
        get_annotation(&self.annotations, key)
    }

    pub fn set_annotation(&mut self, key: &str, value: impl Into<Value>) {
        set_annotation(&mut self.annotations, key, value)
    }
}

/// `version` with its patch number plus one (`0.0.7` → `0.0.8`). A version that is not
/// `major.minor.patch` in numbers starts over at the first update of [`FIRST_VERSION`], as a
/// record written by something else should not make updates fail.
pub fn bump_patch(version: &str) -> String {
    let parts: Vec<Option<u64>> = version.split('.').map(|p| p.parse().ok()).collect();
    match parts.as_slice() {
        [Some(major), Some(minor), Some(patch)] => {
            format!("{major}.{minor}.{}", patch.saturating_add(1))
        }
        _ => "0.0.2".to_string(),
    }
}

/// OpenWhisk's four outcomes of an activation, with their `statusCode`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActivationStatus {
    /// 0: the action ran and returned a result.
    Success,
    /// 1: the action ran and returned `{"error": ...}`.
    ApplicationError,
    /// 2: the action could not be initialized, failed to answer, timed out or crashed.
    DeveloperError,
    /// 3: the platform failed (here also: a plugin call failed).
    WhiskError,
}

impl ActivationStatus {
    pub fn code(self) -> u8 {
        match self {
            ActivationStatus::Success => 0,
            ActivationStatus::ApplicationError => 1,
            ActivationStatus::DeveloperError => 2,
            ActivationStatus::WhiskError => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => ActivationStatus::Success,
            1 => ActivationStatus::ApplicationError,
            2 => ActivationStatus::DeveloperError,
            3 => ActivationStatus::WhiskError,
            _ => return None,
        })
    }

    /// OpenWhisk's `status` text for the outcome.
    pub fn message(self) -> &'static str {
        match self {
            ActivationStatus::Success => "success",
            ActivationStatus::ApplicationError => "application error",
            ActivationStatus::DeveloperError => "action developer error",
            ActivationStatus::WhiskError => "whisk internal error",
        }
    }
}

/// The `response` of an activation record:
/// `{"status": "success", "statusCode": 0, "success": true, "result": {...}}`.
///
/// OpenWhisk's controller leaves `statusCode` out of the records it presents (it keeps it in
/// the stored document and in list summaries); we keep it everywhere, since clients ignore
/// fields they do not know and it tells the outcome without parsing `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationResponse {
    pub status: String,
    #[serde(rename = "statusCode")]
    pub status_code: u8,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

impl ActivationResponse {
    /// A response of the given outcome; `status` and `success` follow from it.
    pub fn new(status: ActivationStatus, result: Option<Value>) -> Self {
        ActivationResponse {
            status: status.message().to_string(),
            status_code: status.code(),
            success: status == ActivationStatus::Success,
            result,
        }
    }

    /// The action returned `result` (statusCode 0).
    pub fn success(result: Value) -> Self {
        Self::new(ActivationStatus::Success, Some(result))
    }

    /// The action returned `{"error": error}` (statusCode 1); the result keeps that shape.
    pub fn application_error(error: impl Into<Value>) -> Self {
        Self::new(
            ActivationStatus::ApplicationError,
            Some(error_object(error)),
        )
    }

    /// The action failed to initialize or run, or timed out (statusCode 2); the result is
    /// `{"error": error}`.
    pub fn developer_error(error: impl Into<Value>) -> Self {
        Self::new(ActivationStatus::DeveloperError, Some(error_object(error)))
    }

    /// The platform failed (statusCode 3); the result is `{"error": error}`.
    pub fn whisk_error(error: impl Into<Value>) -> Self {
        Self::new(ActivationStatus::WhiskError, Some(error_object(error)))
    }

    /// The outcome, `None` for a code OpenWhisk does not define.
    pub fn activation_status(&self) -> Option<ActivationStatus> {
        ActivationStatus::from_code(self.status_code)
    }
}

fn error_object(error: impl Into<Value>) -> Value {
    serde_json::json!({ "error": error.into() })
}

/// An activation record, as `GET /namespaces/{ns}/activations/{id}` and a blocking invoke
/// return it. `start`, `end` are epoch milliseconds, `duration` milliseconds; `cause` is the
/// activation id of the sequence or trigger that caused this one, left out when there is
/// none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activation {
    pub namespace: String,
    pub name: String,
    pub subject: String,
    #[serde(rename = "activationId")]
    pub activation_id: String,
    pub start: u64,
    pub end: u64,
    pub duration: u64,
    pub response: ActivationResponse,
    #[serde(default)]
    pub logs: Vec<String>,
    pub version: String,
    #[serde(default)]
    pub publish: bool,
    #[serde(default)]
    pub annotations: Vec<KeyValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl Activation {
    pub fn annotation(&self, key: &str) -> Option<&Value> {
        get_annotation(&self.annotations, key)
    }

    pub fn set_annotation(&mut self, key: &str, value: impl Into<Value>) {
        set_annotation(&mut self.annotations, key, value)
    }

    /// The record as OpenWhisk lists activations when full documents are not asked for
    /// (`docs=false`): no response, logs or subject; `statusCode` at the top level.
    pub fn summary_json(&self) -> Value {
        let mut summary = serde_json::json!({
            "namespace": self.namespace,
            "name": self.name,
            "version": self.version,
            "publish": self.publish,
            "annotations": self.annotations,
            "activationId": self.activation_id,
            "start": self.start,
            "end": self.end,
            "duration": self.duration,
            "statusCode": self.response.status_code,
        });
        if let Some(cause) = &self.cause {
            summary["cause"] = Value::String(cause.clone());
        }
        summary
    }
}

/// Milliseconds since the Unix epoch, the unit of every timestamp in these records.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A fresh activation id: 32 lower-case hex characters (128 random bits), as OpenWhisk's.
///
/// The bits come from `/dev/urandom`; where it cannot be read, from std's randomly keyed
/// SipHash over the time, the process id and a counter, which is still unique within a process
/// and unpredictable enough for an id that is not a secret.
pub fn new_activation_id() -> String {
    let bytes = urandom_16().unwrap_or_else(hashed_16);
    let mut id = String::with_capacity(32);
    for b in bytes {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    id
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn urandom_16() -> Option<[u8; 16]> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .ok()?;
    Some(bytes)
}

fn hashed_16() -> [u8; 16] {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut bytes = [0u8; 16];
    // Each `RandomState::new()` has its own keys, so the two halves are independent.
    for (half, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        h.write_usize(half);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    bytes
}

/// The longest entity name OpenWhisk accepts.
pub const MAX_NAME_LEN: usize = 256;

/// Checks an entity name (action, package, namespace part) by OpenWhisk's rule: the regex
/// `\A([\w]|[\w][\w@ .-]*[\w@.-]+)\z` with Java's ASCII `\w`, at most 256 characters. That is:
/// the first character a letter, digit or `_`; the others those or `@`, `.`, `-`, space; the
/// last not a space.
pub fn validate_name(name: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let inner = |c: char| word(c) || matches!(c, '@' | ' ' | '.' | '-');
    let Some(first) = name.chars().next() else {
        return Err("the name is empty".to_string());
    };
    let len = name.chars().count();
    if len > MAX_NAME_LEN {
        return Err(format!(
            "the name is {len} characters long, longer than the {MAX_NAME_LEN} allowed"
        ));
    }
    if !word(first) {
        return Err(format!(
            "name [{name}] is not allowed: it must begin with a letter, a digit or '_', \
             not {first:?}"
        ));
    }
    if let Some(bad) = name.chars().find(|&c| !inner(c)) {
        return Err(format!(
            "name [{name}] is not allowed: {bad:?} is not one of the characters it may hold \
             (letters, digits, '_', '@', '.', '-' and space)"
        ));
    }
    if name.ends_with(' ') {
        return Err(format!(
            "name [{name}] is not allowed: it ends with a space"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample_action() -> Action {
        Action {
            namespace: "guest".into(),
            name: "hello".into(),
            version: FIRST_VERSION.into(),
            publish: false,
            exec: Exec {
                kind: "nodejs:20".into(),
                code: Some("function main(a) { return a }".into()),
                binary: false,
                main: None,
                image: None,
            },
            parameters: vec![KeyValue::new("greeting", "hi")],
            annotations: vec![KeyValue::new("exec", "nodejs:20")],
            limits: ActionLimits::default(),
            updated: 1_700_000_000_123,
        }
    }

    fn sample_activation() -> Activation {
        Activation {
            namespace: "guest".into(),
            name: "hello".into(),
            subject: "guest".into(),
            activation_id: "0123456789abcdef0123456789abcdef".into(),
            start: 1_700_000_000_000,
            end: 1_700_000_000_042,
            duration: 42,
            response: ActivationResponse::success(json!({"payload": "hi"})),
            logs: vec!["2023-11-14T22:13:20.000Z stdout: hi".into()],
            version: "0.0.1".into(),
            publish: false,
            annotations: vec![KeyValue::new("path", "guest/hello")],
            cause: None,
        }
    }

    #[test]
    fn action_json_has_openwhisk_fields() {
        let v = serde_json::to_value(sample_action()).unwrap();
        assert_eq!(
            v,
            json!({
                "namespace": "guest",
                "name": "hello",
                "version": "0.0.1",
                "publish": false,
                "exec": {"kind": "nodejs:20", "code": "function main(a) { return a }", "binary": false},
                "parameters": [{"key": "greeting", "value": "hi"}],
                "annotations": [{"key": "exec", "value": "nodejs:20"}],
                "limits": {"timeout": 60000, "memory": 256, "logs": 10, "concurrency": 1},
                "updated": 1_700_000_000_123u64,
            })
        );
        let back: Action = serde_json::from_value(v).unwrap();
        assert_eq!(back, sample_action());
    }

    #[test]
    fn blackbox_exec_and_partial_limits() {
        let exec: Exec =
            serde_json::from_value(json!({"kind": "blackbox", "image": "me/img", "main": "run"}))
                .unwrap();
        assert!(!exec.binary);
        assert_eq!(
            serde_json::to_value(&exec).unwrap(),
            json!({"kind": "blackbox", "binary": false, "main": "run", "image": "me/img"})
        );
        let limits: ActionLimits = serde_json::from_value(json!({"timeout": 3000})).unwrap();
        assert_eq!(limits.timeout, 3000);
        assert_eq!(limits.memory, 256);
    }

    #[test]
    fn activation_json_has_openwhisk_fields() {
        let a = sample_activation();
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(
            v,
            json!({
                "namespace": "guest",
                "name": "hello",
                "subject": "guest",
                "activationId": "0123456789abcdef0123456789abcdef",
                "start": 1_700_000_000_000u64,
                "end": 1_700_000_000_042u64,
                "duration": 42,
                "response": {
                    "status": "success",
                    "statusCode": 0,
                    "success": true,
                    "result": {"payload": "hi"}
                },
                "logs": ["2023-11-14T22:13:20.000Z stdout: hi"],
                "version": "0.0.1",
                "publish": false,
                "annotations": [{"key": "path", "value": "guest/hello"}],
            })
        );
        assert_eq!(serde_json::from_value::<Activation>(v).unwrap(), a);

        let mut caused = a.clone();
        caused.cause = Some("f".repeat(32));
        let v = serde_json::to_value(&caused).unwrap();
        assert_eq!(v["cause"], json!("f".repeat(32)));
        assert_eq!(serde_json::from_value::<Activation>(v).unwrap(), caused);
    }

    #[test]
    fn summary_has_top_level_status_code() {
        let mut a = sample_activation();
        a.response = ActivationResponse::developer_error("boom");
        let s = a.summary_json();
        assert_eq!(s["statusCode"], json!(2));
        assert_eq!(s["activationId"], json!(a.activation_id));
        assert!(s.get("response").is_none() && s.get("logs").is_none());
        assert!(s.get("cause").is_none());
    }

    #[test]
    fn responses_for_the_four_outcomes() {
        let cases = [
            (
                ActivationResponse::success(json!({"x": 1})),
                0,
                "success",
                true,
                json!({"x": 1}),
            ),
            (
                ActivationResponse::application_error("bad input"),
                1,
                "application error",
                false,
                json!({"error": "bad input"}),
            ),
            (
                ActivationResponse::developer_error(json!({"msg": "crash"})),
                2,
                "action developer error",
                false,
                json!({"error": {"msg": "crash"}}),
            ),
            (
                ActivationResponse::whisk_error("plugin failed"),
                3,
                "whisk internal error",
                false,
                json!({"error": "plugin failed"}),
            ),
        ];
        for (r, code, status, success, result) in cases {
            assert_eq!(r.status_code, code);
            assert_eq!(r.status, status);
            assert_eq!(r.success, success);
            assert_eq!(r.result, Some(result.clone()));
            assert_eq!(r.activation_status().unwrap().code(), code);
            let v = serde_json::to_value(&r).unwrap();
            assert_eq!(
                v,
                json!({"status": status, "statusCode": code, "success": success, "result": result})
            );
        }
        let no_result = ActivationResponse::new(ActivationStatus::Success, None);
        assert!(serde_json::to_value(no_result)
            .unwrap()
            .get("result")
            .is_none());
        assert_eq!(ActivationStatus::from_code(4), None);
    }

    #[test]
    fn annotations_get_and_set() {
        let mut a = sample_action();
        assert_eq!(a.annotation("exec"), Some(&json!("nodejs:20")));
        assert_eq!(a.annotation("web-export"), None);
        a.set_annotation("web-export", true);
        a.set_annotation("exec", "python:3");
        assert_eq!(
            a.annotations,
            vec![
                KeyValue::new("exec", "python:3"),
                KeyValue::new("web-export", true)
            ]
        );
    }

    #[test]
    fn version_bumps_patch() {
        assert_eq!(bump_patch("0.0.1"), "0.0.2");
        assert_eq!(bump_patch("1.2.9"), "1.2.10");
        assert_eq!(bump_patch("garbage"), "0.0.2");
    }

    #[test]
    fn activation_ids_are_32_lower_hex_and_distinct() {
        let ids: std::collections::HashSet<String> =
            (0..1000).map(|_| new_activation_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|b| HEX.contains(&b)), "{id}");
        }
        let h1 = hashed_16();
        let h2 = hashed_16();
        assert_ne!(h1, h2);
    }

    #[test]
    fn names_openwhisk_accepts() {
        for name in [
            "a",
            "_",
            "9",
            "hello",
            "hello world",
            "my-action.v2",
            "user@example.com",
            "a-",
            "a.",
            "a@",
            "__",
            &"x".repeat(MAX_NAME_LEN),
        ] {
            assert_eq!(validate_name(name), Ok(()), "{name:?}");
        }
    }

    #[test]
    fn names_openwhisk_refuses() {
        for (name, why) in [
            ("", "empty"),
            ("-a", "must begin"),
            (".a", "must begin"),
            ("@a", "must begin"),
            (" a", "must begin"),
            ("a ", "ends with a space"),
            ("a/b", "'/'"),
            ("a$", "'$'"),
            ("a\nb", "'\\n'"),
            ("é", "must begin"),
            ("aé", "'é'"),
            (&"x".repeat(MAX_NAME_LEN + 1), "257 characters"),
        ] {
            let err = validate_name(name).expect_err(name);
            assert!(err.contains(why), "{name:?}: {err}");
        }
    }
}
