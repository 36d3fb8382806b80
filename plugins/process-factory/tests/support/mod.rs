//! Test harness: a factory over the real `action-proxy` binary with a state directory of its
//! own, and a minimal HTTP/1.1 client to drive the proxies it starts.

#![allow(dead_code)] // each test file uses a different part

use process_factory::{Config, ProcessFactory};
use serde_json::{json, Value};
use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use whisk_spi::{ContainerHandle, ContainerSpec, KeyValue, LogsRequest};

/// The action-proxy built by `cargo build -p action-proxy`: `<target dir>/debug/action-proxy`,
/// with the target dir from `CARGO_TARGET_DIR` (relative to the workspace root) or
/// `<workspace>/target`.
pub fn action_proxy() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    };
    let proxy = target.join("debug").join("action-proxy");
    assert!(
        proxy.is_file(),
        "{} is missing: these tests start the real action proxy, so run \
         `cargo build -p action-proxy` first",
        proxy.display()
    );
    proxy
}

/// A directory under the system's temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "process-factory-test-{}-{label}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The pid files in it.
    pub fn pid_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pid"))
            .collect();
        files.sort();
        files
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn config(state_dir: &Path) -> Config {
    Config {
        action_proxy: Some(action_proxy()),
        state_dir: Some(state_dir.to_path_buf()),
        ..Config::default()
    }
}

pub fn factory(state_dir: &Path) -> ProcessFactory {
    factory_with(config(state_dir))
}

pub fn factory_with(config: Config) -> ProcessFactory {
    ProcessFactory::new(config.resolve().unwrap()).unwrap()
}

pub fn spec(name: &str, kind: &str, memory_mb: u32) -> ContainerSpec {
    ContainerSpec {
        invoker: 0,
        name: name.into(),
        kind: kind.into(),
        image: "".into(),
        blackbox: false,
        memory_mb,
        cpu_shares: 0,
        env: vec![KeyValue::new("FROM_SPEC", "yes")].into(),
        network: "".into(),
        parameters: Default::default(),
    }
}

/// Read the next activation's logs, waiting up to 10 s for its sentinels.
pub fn next_logs(since: u64) -> LogsRequest {
    LogsRequest {
        since,
        limit_bytes: 0,
        wait_for_sentinel: true,
        timeout_ms: 10_000,
    }
}

/// `POST path` with a JSON body to `address`; (status, JSON body).
pub async fn post(address: &str, path: &str, body: &Value) -> (u16, Value) {
    post_within(address, path, body, Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("POST {path} to {address}: no answer within 60 s"))
}

/// Like [`post`], but `None` if there is no answer within `limit`.
pub async fn post_within(
    address: &str,
    path: &str,
    body: &Value,
    limit: Duration,
) -> Option<(u16, Value)> {
    let exchange = async {
        let body = body.to_string();
        let mut stream = TcpStream::connect(address).await.expect("connect");
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let response = String::from_utf8(response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status code");
        let body = if body.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()))
        };
        (status, body)
    };
    tokio::time::timeout(limit, exchange).await.ok()
}

/// `/init` with `code` as the action's `main`.
pub async fn init(container: &ContainerHandle, code: &str) -> (u16, Value) {
    let body = json!({"value": {"name": "test", "main": "main", "code": code, "binary": false}});
    post(&container.address, "/init", &body).await
}

/// `/run` with `value` as the parameters.
pub async fn run(container: &ContainerHandle, value: Value) -> (u16, Value) {
    let body = json!({
        "value": value,
        "namespace": "guest",
        "action_name": "/guest/test",
        "activation_id": "0123456789abcdef0123456789abcdef",
        "deadline": "0",
    });
    post(&container.address, "/run", &body).await
}

/// Whether a process `pid` exists.
pub fn process_exists(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks for the process; no memory is involved.
    let found = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
    found || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The one-letter state of `pid` from /proc (`R`, `S`, `T` = stopped, `Z`, …).
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: the state follows the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Waits up to `limit` for `condition`.
pub async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}
