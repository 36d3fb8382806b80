//! Test harness: the real `action-proxy` binary on a free port, driven over HTTP/1.1, with
//! its stdout and stderr captured line by line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const SENTINEL: &str = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX";

type Lines = Arc<Mutex<Vec<String>>>;

pub struct Proxy {
    child: Child,
    port: u16,
    stdout: Lines,
    stderr: Lines,
}

impl Proxy {
    /// Starts the proxy with `__OW_KIND=kind` (none if `None`) and waits until it listens.
    pub fn start(kind: Option<&str>) -> Proxy {
        // The port is free when chosen but another process may take it before the proxy
        // binds: then the proxy exits and we try another.
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_action-proxy"));
            cmd.args(["--host", "127.0.0.1"])
                .env("__OW_PROXY_PORT", port.to_string())
                .env_remove("__OW_KIND")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            if let Some(kind) = kind {
                cmd.env("__OW_KIND", kind);
            }
            let mut child = cmd.spawn().expect("start action-proxy");
            let stdout = capture(child.stdout.take().unwrap());
            let stderr = capture(child.stderr.take().unwrap());
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Proxy {
                        child,
                        port,
                        stdout,
                        stderr,
                    };
                }
                thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("action-proxy did not start listening");
    }

    /// `POST path` with a JSON body: (status, parsed JSON body).
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let body = body.to_string();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read response");
        let (head, body) = response
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP head in {response:?}"));
        assert!(
            !head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "chunked responses are not expected: {head}"
        );
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line in {head:?}"));
        let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
        (status, json)
    }

    pub fn init(&self, code: &str) -> (u16, Value) {
        self.post("/init", &serde_json::json!({ "value": { "code": code } }))
    }

    pub fn run(&self, params: Value) -> (u16, Value) {
        self.post(
            "/run",
            &serde_json::json!({
                "value": params,
                "namespace": "guest",
                "action_name": "/guest/test",
                "activation_id": "0123456789abcdef",
                "transaction_id": "tid",
                "deadline": "1700000000000",
                "api_key": "user:pass",
            }),
        )
    }

    /// Captured stdout lines once it has at least `sentinels` sentinel lines.
    pub fn stdout_after(&self, sentinels: usize) -> Vec<String> {
        wait_for_sentinels(&self.stdout, sentinels)
    }

    pub fn stderr_after(&self, sentinels: usize) -> Vec<String> {
        wait_for_sentinels(&self.stderr, sentinels)
    }
}

impl Proxy {
    /// Stops the proxy as a host would (SIGTERM), SIGKILL after 5 s; true if it exited 0.
    pub fn stop(&mut self) -> bool {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }

    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child, not yet
        // reaped (we only reap in `stop`/drop), so it cannot name another process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

/// Whether process `pid` is gone (or a zombie: dead, waiting for its new parent to reap it).
pub fn process_gone(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// Polls `condition` for up to 5 s.
pub fn eventually(condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn capture(stream: impl Read + Send + 'static) -> Lines {
    let lines: Lines = Arc::default();
    let sink = lines.clone();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            match line {
                Ok(line) => sink.lock().unwrap().push(line),
                Err(_) => break,
            }
        }
    });
    lines
}

/// The proxy writes its sentinels before it answers, but our reader thread may lag behind.
fn wait_for_sentinels(lines: &Lines, sentinels: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = lines.lock().unwrap().clone();
        if seen.iter().filter(|l| *l == SENTINEL).count() >= sentinels {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {sentinels} sentinels in {seen:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}
