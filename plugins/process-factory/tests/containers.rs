//! The container lifecycle with real action-proxy processes: create, `/init` and `/run` over
//! HTTP, logs per activation, suspend/resume, inspect, destroy, cleanup, startup failures.
//! Needs `cargo build -p action-proxy` first.

mod support;

use serde_json::json;
use std::time::{Duration, Instant};
use support::*;
use whisk_spi::{
    container_logs::SENTINEL, ContainerFactory, ContainerLogs, ContainerStatus, ErrorKind,
    LogsRequest,
};

fn stream_messages<'a>(logs: &'a ContainerLogs, stream: &str) -> Vec<&'a str> {
    logs.lines
        .iter()
        .filter(|l| l.stream.as_str() == stream)
        .map(|l| l.message.as_str())
        .collect()
}

const LOGGING_ACTION: &str = r#"
function main(params) {
    console.log("first line");
    console.error("an error line");
    console.log("second line " + params.name);
    return {
        greeting: "hello " + params.name,
        from_spec: process.env.FROM_SPEC,
        leaked: process.env.CARGO_MANIFEST_DIR || null,
        kind: process.env.__OW_KIND,
    };
}
"#;

#[tokio::test]
async fn a_node_action_runs_and_its_logs_come_per_activation() {
    let dir = TempDir::new("logs");
    let factory = factory(dir.path());
    let container = factory
        .create(spec("wsk0_1_logs", "nodejs:20", 256))
        .await
        .unwrap();
    assert_eq!(container.name.as_str(), "wsk0_1_logs");
    assert!(
        container.address.starts_with("127.0.0.1:"),
        "{}",
        container.address
    );
    assert_eq!(dir.pid_files().len(), 1);

    assert_eq!(init(&container, LOGGING_ACTION).await.0, 200);
    let (status, result) = run(&container, json!({"name": "whisk"})).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["greeting"], "hello whisk");
    assert_eq!(
        result["from_spec"], "yes",
        "the spec's env reaches the action"
    );
    assert_eq!(result["kind"], "nodejs:20");
    assert_eq!(
        result["leaked"],
        json!(null),
        "the host's environment beyond pass_env does not reach the action"
    );

    let first = factory.logs(container.clone(), next_logs(0)).await.unwrap();
    assert!(first.complete && !first.truncated, "{first:?}");
    assert_eq!(
        stream_messages(&first, "stdout"),
        ["first line", "second line whisk"]
    );
    assert_eq!(stream_messages(&first, "stderr"), ["an error line"]);
    assert!(first.lines.iter().all(|l| l.message.as_str() != SENTINEL));
    for line in first.lines.iter() {
        let time = line.time.as_str();
        assert!(
            time.len() == 30 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{time}"
        );
    }
    let stdout_times: Vec<_> = first
        .lines
        .iter()
        .filter(|l| l.stream.as_str() == "stdout")
        .map(|l| l.time.clone())
        .collect();
    assert!(stdout_times.windows(2).all(|w| w[0] <= w[1]));

    // The second activation's logs are its own.
    assert_eq!(run(&container, json!({"name": "again"})).await.0, 200);
    let second = factory
        .logs(container.clone(), next_logs(first.cursor))
        .await
        .unwrap();
    assert!(second.complete);
    assert_eq!(
        stream_messages(&second, "stdout"),
        ["first line", "second line again"]
    );
    assert_eq!(stream_messages(&second, "stderr"), ["an error line"]);
    assert!(second.cursor > first.cursor);

    // Nothing more yet: without waiting the answer is immediate and incomplete; with a short
    // wait it gives up after about that long.
    let nothing = factory
        .logs(
            container.clone(),
            LogsRequest {
                wait_for_sentinel: false,
                ..next_logs(second.cursor)
            },
        )
        .await
        .unwrap();
    assert!(nothing.lines.is_empty() && !nothing.complete);
    let started = Instant::now();
    let waited = factory
        .logs(
            container.clone(),
            LogsRequest {
                timeout_ms: 300,
                ..next_logs(second.cursor)
            },
        )
        .await
        .unwrap();
    assert!(!waited.complete);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "{took:?}"
    );

    factory.destroy(container).await.unwrap();
}

#[tokio::test]
async fn the_log_limit_truncates_one_activation_and_the_next_starts_clean() {
    let dir = TempDir::new("limit");
    let factory = factory(dir.path());
    let container = factory
        .create(spec("wsk0_2_limit", "nodejs:20", 256))
        .await
        .unwrap();
    let code = r#"
        function main(params) {
            for (let i = 0; i < params.lines; i++) console.log("line " + i + " 123456789");
            return {};
        }"#;
    assert_eq!(init(&container, code).await.0, 200);
    assert_eq!(run(&container, json!({"lines": 50})).await.0, 200);
    let limited = factory
        .logs(
            container.clone(),
            LogsRequest {
                limit_bytes: 40,
                ..next_logs(0)
            },
        )
        .await
        .unwrap();
    assert!(limited.truncated && limited.complete, "{limited:?}");
    assert_eq!(
        stream_messages(&limited, "stdout"),
        ["line 0 123456789", "line 1 123456789"]
    );

    assert_eq!(run(&container, json!({"lines": 1})).await.0, 200);
    let next = factory
        .logs(container.clone(), next_logs(limited.cursor))
        .await
        .unwrap();
    assert!(!next.truncated && next.complete);
    assert_eq!(stream_messages(&next, "stdout"), ["line 0 123456789"]);
    factory.destroy(container).await.unwrap();
}

#[tokio::test]
async fn destroy_kills_the_process_and_the_container_is_gone() {
    let dir = TempDir::new("destroy");
    let factory = factory(dir.path());
    let container = factory
        .create(spec("wsk0_3_destroy", "python:3", 256))
        .await
        .unwrap();
    assert_eq!(
        init(&container, "def main(args):\n    return {'ok': True}\n")
            .await
            .0,
        200
    );
    assert_eq!(run(&container, json!({})).await, (200, json!({"ok": true})));
    let pid = factory.pid(&container).unwrap();
    assert!(process_exists(pid));
    let state = factory.inspect(container.clone()).await.unwrap();
    assert_eq!(state.status, ContainerStatus::RUNNING, "{state:?}");

    factory.destroy(container.clone()).await.unwrap();
    assert!(!process_exists(pid), "pid {pid} still exists after destroy");
    assert!(dir.pid_files().is_empty());
    let state = factory.inspect(container.clone()).await.unwrap();
    assert_eq!(state.status, ContainerStatus::GONE);
    assert!(state.exit_code.is_none());
    // Destroying again is fine; reading logs or suspending a gone container is NOT_FOUND.
    factory.destroy(container.clone()).await.unwrap();
    let err = factory
        .logs(container.clone(), next_logs(0))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NOT_FOUND);
    let err = factory.suspend(container).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NOT_FOUND);
}

#[tokio::test]
async fn suspend_stops_the_group_and_resume_continues_it() {
    let dir = TempDir::new("suspend");
    let factory = factory(dir.path());
    let container = factory
        .create(spec("wsk0_4_pause", "nodejs:20", 256))
        .await
        .unwrap();
    let code = "function main(p) { return {n: p.n}; }";
    assert_eq!(init(&container, code).await.0, 200);
    assert_eq!(run(&container, json!({"n": 1})).await.0, 200);
    let pid = factory.pid(&container).unwrap();

    factory.suspend(container.clone()).await.unwrap();
    let state = factory.inspect(container.clone()).await.unwrap();
    assert_eq!(state.status, ContainerStatus::PAUSED);
    assert!(
        eventually(Duration::from_secs(2), || process_state(pid) == Some('T')).await,
        "the proxy is not stopped: state {:?}",
        process_state(pid)
    );
    let body = json!({"value": {"n": 2}});
    let answer = post_within(
        &container.address,
        "/run",
        &body,
        Duration::from_millis(500),
    )
    .await;
    assert!(answer.is_none(), "a suspended proxy answered: {answer:?}");

    factory.resume(container.clone()).await.unwrap();
    let state = factory.inspect(container.clone()).await.unwrap();
    assert_eq!(state.status, ContainerStatus::RUNNING);
    assert!(eventually(Duration::from_secs(2), || process_state(pid) != Some('T')).await);
    assert_eq!(
        run(&container, json!({"n": 3})).await,
        (200, json!({"n": 3}))
    );
    factory.destroy(container).await.unwrap();
}

#[tokio::test]
async fn an_exited_proxy_is_reported_with_its_exit() {
    let dir = TempDir::new("exited");
    let factory = factory(dir.path());
    let container = factory
        .create(spec("wsk0_5_exit", "nodejs:20", 0))
        .await
        .unwrap();
    let pid = factory.pid(&container).unwrap();
    // Someone else kills it (not the factory).
    // SAFETY: kill has no memory-safety preconditions; `pid` is the proxy this test started.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) }, 0);
    let mut state = factory.inspect(container.clone()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while state.status == ContainerStatus::RUNNING && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        state = factory.inspect(container.clone()).await.unwrap();
    }
    assert_eq!(state.status, ContainerStatus::EXITED, "{state:?}");
    // The proxy handles SIGTERM by shutting down cleanly.
    assert_eq!(state.exit_code.into_option(), Some(0), "{state:?}");
    assert!(state.message.contains("exited"), "{state:?}");
    // Its logs end without a sentinel: a read does not wait for one that cannot come.
    let logs = factory.logs(container.clone(), next_logs(0)).await.unwrap();
    assert!(!logs.complete);
    let err = factory.resume(container.clone()).await.unwrap_err();
    assert!(err.message.contains("has exited"), "{err}");
    factory.destroy(container).await.unwrap();
    assert!(dir.pid_files().is_empty());
}

#[tokio::test]
async fn cleanup_and_drop_kill_every_proxy() {
    let dir = TempDir::new("cleanup");
    let factory = factory(dir.path());
    let a = factory
        .create(spec("wsk0_6_a", "nodejs:20", 0))
        .await
        .unwrap();
    let b = factory
        .create(spec("wsk0_6_b", "python:3", 0))
        .await
        .unwrap();
    assert_ne!(a.address, b.address);
    let pids = [factory.pid(&a).unwrap(), factory.pid(&b).unwrap()];
    assert_eq!(dir.pid_files().len(), 2);
    factory.cleanup().await.unwrap();
    for pid in pids {
        assert!(!process_exists(pid), "pid {pid} survived cleanup");
    }
    assert!(dir.pid_files().is_empty());
    assert_eq!(
        factory.inspect(a).await.unwrap().status,
        ContainerStatus::GONE
    );

    let c = factory
        .create(spec("wsk0_6_c", "nodejs:20", 0))
        .await
        .unwrap();
    let pid = factory.pid(&c).unwrap();
    drop(factory);
    assert!(
        eventually(Duration::from_secs(5), || !process_exists(pid)).await,
        "pid {pid} survived dropping the factory"
    );
    assert!(dir.pid_files().is_empty());
}

/// Writes an executable shell script from another process: a file this process had open
/// for writing could be inherited by a concurrent test's fork and make exec fail with
/// "text file busy".
fn script(dir: &TempDir, name: &str, body: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    let status = std::process::Command::new("sh")
        .args([
            "-c",
            "printf '%s\\n' \"$1\" > \"$2\" && chmod 755 \"$2\"",
            "sh",
        ])
        .arg(format!("#!/bin/sh\n{body}"))
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

#[tokio::test]
async fn a_proxy_that_fails_to_start_is_reported_with_its_stderr() {
    let dir = TempDir::new("fails");
    let state = TempDir::new("fails-state");
    let proxy = script(
        &dir,
        "action-proxy",
        "echo 'boom: no runtime here' >&2\nexit 3",
    );
    let factory = factory_with(process_factory::Config {
        action_proxy: Some(proxy),
        ..config(state.path())
    });
    let err = factory
        .create(spec("wsk0_7_fail", "nodejs:20", 0))
        .await
        .unwrap_err();
    assert!(err.message.contains("boom: no runtime here"), "{err}");
    assert!(err.message.contains("exited with code 3"), "{err}");
    assert!(state.pid_files().is_empty());
}

#[tokio::test]
async fn a_proxy_that_never_listens_is_killed_after_the_startup_timeout() {
    let dir = TempDir::new("silent");
    let state = TempDir::new("silent-state");
    let proxy = script(
        &dir,
        "action-proxy",
        "echo 'waiting forever' >&2\nexec sleep 60",
    );
    let factory = factory_with(process_factory::Config {
        action_proxy: Some(proxy),
        startup_timeout_ms: 300,
        ..config(state.path())
    });
    let started = Instant::now();
    let err = factory
        .create(spec("wsk0_8_silent", "nodejs:20", 0))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(err.message.contains("within 300 ms"), "{err}");
    assert!(err.message.contains("waiting forever"), "{err}");
    assert!(state.pid_files().is_empty());
}

#[tokio::test]
async fn blackbox_images_are_unsupported() {
    let dir = TempDir::new("blackbox");
    let factory = factory(dir.path());
    let mut spec = spec("wsk0_9_bb", "blackbox", 0);
    spec.blackbox = true;
    spec.image = "openwhisk/dockerskeleton".into();
    let err = factory.create(spec).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::UNSUPPORTED);
}
