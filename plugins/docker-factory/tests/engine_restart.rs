//! The engine goes away mid-run and comes back: calls fail with `UNAVAILABLE` naming the
//! socket while it is gone, and work again once it is back.
//!
//! This stops and restarts the API service of the engine at `DOCKER_HOST`, so it needs one
//! started by `scripts/engine.sh` (whose state dir, holding `podman.pid`, is the socket's
//! directory). It lives in a test binary of its own: cargo runs test binaries one after the
//! other, so no other test of this crate sees the engine down.

mod support;

use serde_json::json;
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};
use whisk_spi::{ContainerFactory, ContainerStatus, ErrorKind, LogsRequest, PluginError};

fn engine_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/engine.sh")
}

fn engine(state_dir: &Path, command: &str) {
    let output = Command::new("bash")
        .arg(engine_script())
        .arg(command)
        .env("WHISK_ENGINE_DIR", state_dir)
        .output()
        .expect("run scripts/engine.sh");
    assert!(
        output.status.success(),
        "scripts/engine.sh {command} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts the engine again when the test ends, even if it failed half-way.
struct Restart<'a>(&'a Path);

impl Drop for Restart<'_> {
    fn drop(&mut self) {
        engine(self.0, "start");
    }
}

fn assert_unavailable(
    what: &str,
    result: Result<impl std::fmt::Debug, PluginError>,
    socket: &Path,
) {
    let error = result.expect_err(what);
    assert_eq!(error.kind, ErrorKind::UNAVAILABLE, "{what}: {error}");
    assert!(
        error.message.contains(&socket.display().to_string()),
        "{what}: the error names the socket: {error}"
    );
}

#[tokio::test]
async fn calls_fail_unavailable_while_the_engine_is_gone_and_work_once_it_is_back() {
    let socket = require_engine!();
    let state_dir = socket.parent().unwrap().to_path_buf();
    assert!(
        state_dir.join("podman.pid").exists(),
        "this test restarts the engine, so it needs one started by scripts/engine.sh \
         (no podman.pid in {}); DOCKER_HOST={}",
        state_dir.display(),
        socket.display()
    );
    let host_id = support::unique_host_id("restart");
    let factory = support::factory(&host_id, "startup_timeout_ms = 5000");
    let before = factory
        .create(support::spec("guest_before", "native", 64))
        .await
        .unwrap();
    support::init_action(
        &before.address,
        "#!/bin/sh\necho log-line\necho '{\"ok\": 1}'\n",
    )
    .await;

    engine(&state_dir, "stop-service");
    let restart = Restart(&state_dir);
    let request = LogsRequest {
        since: 0,
        limit_bytes: 0,
        wait_for_sentinel: true,
        timeout_ms: 2_000,
    };

    // Gone without a trace (no socket file), then as after a crash: the socket file is
    // left but nothing listens (connection refused).
    for case in ["no socket file", "a stale socket file"] {
        if case == "a stale socket file" {
            drop(std::os::unix::net::UnixListener::bind(&socket).expect("a stale socket"));
        }
        let started = Instant::now();
        assert_unavailable(
            "create",
            factory
                .create(support::spec("guest_down", "native", 64))
                .await,
            &socket,
        );
        assert_unavailable("inspect", factory.inspect(before.clone()).await, &socket);
        assert_unavailable("logs", factory.logs(before.clone(), request).await, &socket);
        assert_unavailable("destroy", factory.destroy(before.clone()).await, &socket);
        assert_unavailable("init", factory.init().await, &socket);
        assert_unavailable("cleanup", factory.cleanup().await, &socket);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "with {case}, failing calls answer promptly: {:?}",
            started.elapsed()
        );
    }
    // The containers themselves do not depend on the API service.
    let (status, result) = support::run_action(&before.address, json!({})).await;
    assert_eq!((status, result), (200, json!({"ok": 1})));

    drop(restart); // scripts/engine.sh start
    let state = factory
        .inspect(before.clone())
        .await
        .expect("inspect after the restart");
    assert_eq!(state.status, ContainerStatus::RUNNING);
    let logs = factory.logs(before.clone(), request).await.unwrap();
    assert!(logs.complete);
    assert_eq!(logs.lines.len(), 1);
    assert_eq!(logs.lines[0].message.as_str(), "log-line");
    let after = factory
        .create(support::spec("guest_after", "native", 64))
        .await
        .expect("create after the restart");
    assert_eq!(support::containers_of(&socket, &host_id).len(), 2);
    factory.destroy(after).await.unwrap();
    factory.cleanup().await.unwrap();
    assert!(support::containers_of(&socket, &host_id).is_empty());
}
