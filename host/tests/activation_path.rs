//! The activation path in process, with the real plugins (process-factory, roundrobin-lb,
//! file-logging, basic-auth) and real action-proxy processes: warm reuse, idle reclaim,
//! the time limit, queueing at the memory budget, records that survive a restart, and bad
//! requests answered with OpenWhisk's error body.
//!
//! Needs `cargo build --workspace` first (the plugins' .so files and action-proxy).

mod support;

use serde_json::{json, Value};
use std::{
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};
use support::inproc::{guest, invoke, process_factory, put_action, temp_dir, GUEST_KEY};
use whisk_host::{
    config::Config,
    entity::{Action, ActionLimits},
    server::{router, AppState},
};

fn config(dir: &Path, memory_mb: u64, idle_timeout_s: u64, server: &str) -> Config {
    let invoker = format!("memory_mb = {memory_mb}\nidle_timeout_s = {idle_timeout_s}");
    support::inproc::config(
        dir,
        "process-factory",
        &process_factory(dir),
        server,
        &invoker,
    )
}

async fn state(config: Config) -> Arc<AppState> {
    support::inproc::state(config).await
}

fn node_action(state: &AppState, name: &str, code: &str, limits: ActionLimits) -> Action {
    put_action(state, name, "nodejs:20", code, limits)
}

const ECHO: &str =
    "function main(p) { console.log('hello', p.n); return { n: p.n, pid: process.pid }; }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_container_is_reused_and_logs_are_per_activation() {
    let dir = temp_dir("warm");
    let state = state(config(&dir, 1024, 600, "")).await;
    let action = node_action(&state, "echo", ECHO, ActionLimits::default());
    let first = invoke(&state, &action, json!({"n": 1})).await;
    let second = invoke(&state, &action, json!({"n": 2})).await;
    assert_eq!(first.response.status, "success", "{first:?}");
    assert_eq!(second.response.result.as_ref().unwrap()["n"], 2);
    assert_eq!(
        first.response.result.as_ref().unwrap()["pid"],
        second.response.result.as_ref().unwrap()["pid"],
        "the second invoke ran in the same container"
    );
    assert_eq!(state.activator.invokers()[0].containers_created(), 1);
    assert!(
        first.annotation("initTime").is_some(),
        "a cold start records initTime"
    );
    assert!(
        second.annotation("initTime").is_none(),
        "a warm start has no initTime"
    );
    assert_eq!(first.logs.len(), 1, "{:?}", first.logs);
    assert!(
        first.logs[0].ends_with("stdout: hello 1"),
        "{:?}",
        first.logs
    );
    assert!(
        second.logs[0].ends_with("stdout: hello 2"),
        "{:?}",
        second.logs
    );
    state.factory.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_containers_are_reclaimed() {
    let dir = temp_dir("idle");
    let state = state(config(&dir, 1024, 1, "")).await;
    let action = node_action(&state, "echo", ECHO, ActionLimits::default());
    let record = invoke(&state, &action, json!({"n": 1})).await;
    assert_eq!(record.response.status, "success");
    let invoker = &state.activator.invokers()[0];
    assert_eq!(invoker.containers().len(), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !invoker.containers().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the idle container was not reclaimed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The next invoke needs a new container.
    invoke(&state, &action, json!({"n": 2})).await;
    assert_eq!(invoker.containers_created(), 2);
    state.factory.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_limit_kills_the_container() {
    let dir = temp_dir("timeout");
    let state = state(config(&dir, 1024, 600, "")).await;
    let limits = ActionLimits {
        timeout: 500,
        ..ActionLimits::default()
    };
    let code =
        "function main() { return new Promise(r => setTimeout(() => r({late: true}), 5000)); }";
    let action = node_action(&state, "slow", code, limits);
    let started = Instant::now();
    let record = invoke(&state, &action, json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(record.response.status, "action developer error");
    assert_eq!(
        record.response.result.as_ref().unwrap()["error"],
        "The action exceeded its time limits of 500 milliseconds."
    );
    assert_eq!(record.annotation("timeout"), Some(&json!(true)));
    let invoker = &state.activator.invokers()[0];
    assert!(
        invoker.containers().is_empty(),
        "the timed-out container left the pool"
    );
    // A new invoke gets a fresh container and works.
    let fast = node_action(&state, "fast", ECHO, ActionLimits::default());
    assert_eq!(
        invoke(&state, &fast, json!({"n": 3})).await.response.status,
        "success"
    );
    state.factory.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activations_queue_when_the_memory_budget_is_taken() {
    let dir = temp_dir("queue");
    // Room for one 256 MB container only.
    let state = state(config(&dir, 256, 600, "")).await;
    let code = "function main(p) { return new Promise(r => setTimeout(() => r({n: p.n}), 400)); }";
    let action = node_action(&state, "sleepy", code, ActionLimits::default());
    let started = Instant::now();
    let handles: Vec<_> = (0..3)
        .map(|n| {
            state
                .activator
                .start(&guest(), &action, json!({"n": n}), "tid")
                .unwrap()
        })
        .collect();
    let mut waits = Vec::new();
    for (n, h) in handles.into_iter().enumerate() {
        let record = tokio::time::timeout(Duration::from_secs(60), h.record)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.response.status, "success", "{record:?}");
        assert_eq!(record.response.result.as_ref().unwrap()["n"], n);
        waits.push(
            record
                .annotation("waitTime")
                .and_then(Value::as_u64)
                .unwrap(),
        );
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1200),
        "they ran one after another"
    );
    assert_eq!(
        state.activator.invokers()[0].containers_created(),
        1,
        "one container, reused"
    );
    assert!(
        waits.iter().max().unwrap() >= &700,
        "the last one waited in the queue: {waits:?}"
    );
    state.factory.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_survive_a_restart() {
    let dir = temp_dir("restart");
    let id;
    {
        let state = state(config(&dir, 1024, 600, "")).await;
        let action = node_action(&state, "echo", ECHO, ActionLimits::default());
        id = invoke(&state, &action, json!({"n": 7})).await.activation_id;
        state.factory.cleanup().await.unwrap();
    }
    let state = state(config(&dir, 1024, 600, "")).await;
    let record = state
        .store
        .get_activation("guest", &id)
        .unwrap()
        .expect("the record survived");
    assert_eq!(record.response.result.unwrap()["n"], 7);
    assert!(state.store.get_action("guest", "echo").unwrap().is_some());
}

/// A raw HTTP/1.1 exchange: the status and the body parsed as JSON.
fn http(address: &str, method: &str, path: &str, auth: bool, body: &[u8]) -> (u16, String, Value) {
    let mut stream = TcpStream::connect(address).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    if auth {
        use std::fmt::Write as _;
        let _ = write!(
            head,
            "authorization: Basic {}\r\n",
            base64(GUEST_KEY.as_bytes())
        );
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap();
    let status = headers.split(' ').nth(1).unwrap().parse().unwrap();
    let chunked = headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    (
        status,
        headers.to_string(),
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

fn base64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_4xx_with_openwhisks_error_body() {
    let dir = temp_dir("bad");
    let state = state(config(&dir, 1024, 600, "max_body_bytes = 2048")).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let app = router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let a = address.clone();
    let checks = tokio::task::spawn_blocking(move || {
        let actions = "/api/v1/namespaces/_/actions";
        let cases: Vec<(&str, String, bool, Vec<u8>, u16)> = vec![
            (
                "PUT",
                format!("{actions}/x"),
                true,
                b"{not json".to_vec(),
                400,
            ),
            (
                "PUT",
                format!("{actions}/x"),
                true,
                br#"{"exec":{"kind":"nodejs:20","code":5}}"#.to_vec(),
                400,
            ),
            (
                "PUT",
                format!("{actions}/x"),
                true,
                br#"{"exec":{"kind":"cobol:1","code":"x"}}"#.to_vec(),
                400,
            ),
            (
                "PUT",
                format!("{actions}/x"),
                true,
                br#"{"exec":{"kind":"nodejs:20","code":"x"},"limits":{"memory":4096}}"#.to_vec(),
                400,
            ),
            (
                "PUT",
                format!("{actions}/bad%20name%2F"),
                true,
                br#"{"exec":{"kind":"nodejs:20","code":"x"}}"#.to_vec(),
                400,
            ),
            ("PUT", format!("{actions}/x"), true, vec![b' '; 4096], 413),
            (
                "PUT",
                format!("{actions}/x"),
                false,
                br#"{"exec":{"kind":"nodejs:20","code":"x"}}"#.to_vec(),
                401,
            ),
            ("GET", format!("{actions}/missing"), true, Vec::new(), 404),
            (
                "GET",
                "/api/v1/namespaces/other/actions".into(),
                true,
                Vec::new(),
                403,
            ),
            (
                "GET",
                format!("{actions}?limit=nope"),
                true,
                Vec::new(),
                400,
            ),
            ("GET", "/api/v1/nothing-here".into(), true, Vec::new(), 404),
            ("PATCH", format!("{actions}/x"), true, Vec::new(), 405),
        ];
        let mut results = Vec::new();
        for (method, path, auth, body, expected) in cases {
            let (status, headers, doc) = http(&a, method, &path, auth, &body);
            results.push((method, path, expected, status, headers, doc));
        }
        // Invoke parameters that are not an object.
        let (status, _, _) = http(
            &a,
            "PUT",
            "/api/v1/namespaces/_/actions/p",
            true,
            br#"{"exec":{"kind":"nodejs:20","code":"function main(){return {}}"}}"#,
        );
        assert_eq!(status, 200);
        let (status, headers, doc) = http(
            &a,
            "POST",
            "/api/v1/namespaces/_/actions/p?blocking=true",
            true,
            b"[1,2]",
        );
        results.push((
            "POST",
            "invoke with an array".into(),
            400,
            status,
            headers,
            doc,
        ));
        results
    })
    .await
    .unwrap();
    for (method, path, expected, status, headers, doc) in checks {
        assert_eq!(status, expected, "{method} {path}: {doc}");
        assert!(
            doc["error"].is_string(),
            "{method} {path}: no error text in {doc}"
        );
        assert_eq!(
            doc["code"].as_str().map(str::len),
            Some(32),
            "{method} {path}: no code in {doc}"
        );
        if status == 401 {
            assert!(
                headers
                    .to_ascii_lowercase()
                    .contains("www-authenticate: basic realm=\"whisk\""),
                "{headers}"
            );
        }
    }
    state.factory.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_containers_are_suspended_and_resumed_on_use() {
    let dir = temp_dir("pause");
    // The default pause grace: 50 ms.
    let state = state(config(&dir, 1024, 600, "")).await;
    let action = node_action(&state, "echo", ECHO, ActionLimits::default());
    let first = invoke(&state, &action, json!({"n": 1})).await;
    let container = state.activator.invokers()[0].containers()[0].handle.clone();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = state
            .factory
            .inspect(container.clone())
            .await
            .unwrap()
            .status;
        if status == whisk_spi::ContainerStatus::PAUSED {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the idle container was not suspended: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = invoke(&state, &action, json!({"n": 2})).await;
    assert_eq!(second.response.status, "success", "{second:?}");
    assert_eq!(
        first.response.result.as_ref().unwrap()["pid"],
        second.response.result.as_ref().unwrap()["pid"],
        "the suspended container was resumed and reused"
    );
    assert!(
        second.logs[0].ends_with("stdout: hello 2"),
        "{:?}",
        second.logs
    );
    state.factory.cleanup().await.unwrap();
}
