//! What the engine tests share: the engine check, factories with their own host ids,
//! specs, a small HTTP client for the action proxy, and direct engine queries.
//!
//! These tests drive a real container engine (no mocks). They read `DOCKER_HOST`; when it
//! is not set they fail, saying how to start one, unless `WHISK_SKIP_ENGINE_TESTS=1` asks
//! explicitly to skip them.

#![allow(dead_code)] // each test file uses its own part

use docker_factory::{config::Config, DockerFactory};
use serde_json::Value;
use std::{
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use whisk_spi::{ContainerSpec, KeyValue};

pub const NODE_IMAGE: &str = "whisk/action-nodejs:1";
pub const PYTHON_IMAGE: &str = "whisk/action-python:1";
pub const NATIVE_IMAGE: &str = "whisk/action-native:1";

/// The engine's socket, or `None` when the tests were asked to skip. Panics with the way
/// to start an engine when there is none.
pub fn engine_socket() -> Option<PathBuf> {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    if host.is_empty() {
        if std::env::var("WHISK_SKIP_ENGINE_TESTS").as_deref() == Ok("1") {
            eprintln!("skipped: WHISK_SKIP_ENGINE_TESTS=1 and DOCKER_HOST is not set");
            return None;
        }
        panic!(
            "DOCKER_HOST is not set: these tests need a container engine and the runtime \
             images. Start them with\n    eval \"$(scripts/engine.sh start)\"\n    \
             scripts/build-runtime-images.sh\nthen run the tests again in that shell \
             (or set WHISK_SKIP_ENGINE_TESTS=1 to skip them)."
        );
    }
    let path = PathBuf::from(host.strip_prefix("unix://").unwrap_or_else(|| {
        panic!("DOCKER_HOST={host}: these tests need a unix socket (unix:///path)")
    }));
    for image in [NODE_IMAGE, PYTHON_IMAGE, NATIVE_IMAGE] {
        let (status, _) = engine_request(&path, "GET", &format!("/images/{image}/json"));
        assert_eq!(
            status,
            200,
            "image {image} is missing from the engine at {}: run scripts/build-runtime-images.sh",
            path.display()
        );
    }
    Some(path)
}

/// Skips the test (returns) when asked to, else panics with instructions if no engine.
#[macro_export]
macro_rules! require_engine {
    () => {
        match support::engine_socket() {
            Some(socket) => socket,
            None => return,
        }
    };
}

/// A host id no other test (or test run) uses, so that `init`/`cleanup` of one test never
/// touches another's containers.
pub fn unique_host_id(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "test-{test}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The plugin's config table for `host_id`, plus `extra` TOML lines. Container names start
/// with the host id too, so that no two tests (or a leftover of an earlier run) collide.
pub fn config(host_id: &str, extra: &str) -> Config {
    let text = format!(
        "host_id = \"{host_id}\"\nname_prefix = \"{host_id}-\"\n{extra}\n\
         [runtimes]\n\"nodejs:20\" = \"{NODE_IMAGE}\"\n\"python:3\" = \"{PYTHON_IMAGE}\"\n\
         native = \"{NATIVE_IMAGE}\"\n"
    );
    whisk_spi::PluginConfig::new(text)
        .parse()
        .expect("test config parses")
}

pub fn factory(host_id: &str, extra: &str) -> DockerFactory {
    DockerFactory::new(config(host_id, extra)).expect("the factory connects to the engine")
}

pub fn spec(name: &str, kind: &str, memory_mb: u32) -> ContainerSpec {
    ContainerSpec {
        invoker: 0,
        name: name.into(),
        kind: kind.into(),
        image: "".into(),
        blackbox: false,
        memory_mb,
        cpu_shares: 256,
        env: vec![KeyValue::new("TEST_ENV", "from-spec")].into(),
        network: "".into(),
        parameters: Default::default(),
    }
}

/// `POST address/path` with a JSON body; answers the status and the JSON body.
pub async fn post(address: &str, path: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .unwrap_or_else(|e| panic!("connect to the proxy at {address}: {e}"));
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the proxy answers within 30 s")
        .unwrap();
    let (status, body) = parse_response(&answer);
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    (status, json)
}

/// `init` then check it answered 200.
pub async fn init_action(address: &str, code: &str) {
    let (status, body) = post(
        address,
        "/init",
        &serde_json::json!({"value": {"code": code, "main": "main", "binary": false}}),
    )
    .await;
    assert_eq!(status, 200, "/init answered {status}: {body}");
}

pub async fn run_action(address: &str, value: Value) -> (u16, Value) {
    post(
        address,
        "/run",
        &serde_json::json!({"value": value, "activation_id": "a1", "namespace": "guest"}),
    )
    .await
}

/// A blocking request to the engine over its socket (HTTP/1.0, no keep-alive).
pub fn engine_request(socket: &std::path::Path, method: &str, path: &str) -> (u16, Value) {
    let mut stream = UnixStream::connect(socket)
        .unwrap_or_else(|e| panic!("connect to the engine at {}: {e}", socket.display()));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: docker\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let (status, body) = parse_response(&answer);
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Names of the containers (any state) labelled `whisk.host=<host_id>`.
pub fn containers_of(socket: &std::path::Path, host_id: &str) -> Vec<String> {
    let filters = format!(r#"{{"label":["whisk.host={host_id}"]}}"#);
    let path = format!(
        "/containers/json?all=true&filters={}",
        percent_encode(&filters)
    );
    let (status, list) = engine_request(socket, "GET", &path);
    assert_eq!(status, 200, "list containers: {list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["Names"][0]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string()
        })
        .collect()
}

/// The engine's inspect JSON of a container.
pub fn inspect_json(socket: &std::path::Path, id: &str) -> (u16, Value) {
    engine_request(socket, "GET", &format!("/containers/{id}/json"))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Status and body of an HTTP/1.x response (plain or chunked).
fn parse_response(answer: &[u8]) -> (u16, Vec<u8>) {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    let body = &answer[split + 4..];
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    if !chunked {
        return (status, body.to_vec());
    }
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..eol]).to_string();
        let size = usize::from_str_radix(size_text.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
        rest = &rest[eol + 2 + size + 2..];
    }
    (status, out)
}
