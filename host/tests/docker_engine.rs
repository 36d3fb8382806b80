//! The activation path on real containers (docker-factory on podman's Docker API): actions
//! run inside containers, a timed-out container is removed from the engine, and when the
//! engine goes away mid-run activations end as whisk internal errors, the invoker turns
//! unhealthy (new invokes get 503), and both recover once the engine is back.
//!
//! Needs the engine and the runtime images:
//! `eval "$(scripts/engine.sh start)" && scripts/build-runtime-images.sh`, and
//! `cargo build --workspace`. It stops and restarts the engine's API service, so it is a
//! test binary of its own (cargo runs test binaries one after the other).

mod support;

#[path = "support/server.rs"]
mod server;

use serde_json::json;
use server::containers_of;
use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};
use support::{
    inproc::{guest, invoke, put_action, state},
    paths::workspace_root,
};
use whisk_host::{activator::InvokeError, entity::ActionLimits};
use whisk_spi::InvokerHealth;

/// The engine's socket, from `DOCKER_HOST`; `None` only when skipping was asked for.
fn engine_socket() -> Option<PathBuf> {
    match std::env::var("DOCKER_HOST") {
        Ok(host) => Some(PathBuf::from(host.trim_start_matches("unix://"))),
        Err(_) if std::env::var("WHISK_SKIP_ENGINE_TESTS").as_deref() == Ok("1") => None,
        Err(_) => panic!(
            "DOCKER_HOST is not set: start the engine with `eval \"$(scripts/engine.sh start)\"` \
             and build the images with scripts/build-runtime-images.sh (or set \
             WHISK_SKIP_ENGINE_TESTS=1 to skip the engine tests)"
        ),
    }
}

fn engine(command: &str, state_dir: &Path) {
    let out = Command::new("bash")
        .arg(workspace_root().join("scripts/engine.sh"))
        .arg(command)
        .env("WHISK_ENGINE_DIR", state_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "engine.sh {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn docker_factory(socket: &Path, host_id: &str) -> String {
    format!(
        r#"[plugins.docker-factory]
socket = "unix://{socket}"
network = "host"
host_id = "{host_id}"
startup_timeout_ms = 10000
pull_timeout_ms = 10000
[plugins.docker-factory.runtimes]
"nodejs:20" = "whisk/action-nodejs:1"
"python:3" = "whisk/action-python:1"
native = "whisk/action-native:1"
"#,
        socket = socket.display()
    )
}

const IN_CONTAINER: &str = "#!/bin/sh\nif [ -e /run/.containerenv ]; then echo '{\"container\": true}'; else echo '{\"container\": false}'; fi\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_run_actions_and_the_engine_going_away_is_survived() {
    let Some(socket) = engine_socket() else {
        return;
    };
    let state_dir = socket.parent().unwrap().to_path_buf();
    let host_id = format!("whisk-host-test-{}", std::process::id());
    let dir = std::env::temp_dir().join(&host_id);
    let _ = std::fs::remove_dir_all(&dir);
    let config = support::inproc::config(
        &dir,
        "docker-factory",
        &docker_factory(&socket, &host_id),
        "",
        "",
    );
    let state: Arc<_> = state(config).await;

    // The action runs inside a container (podman marks it with /run/.containerenv).
    let probe = put_action(
        &state,
        "probe",
        "native",
        IN_CONTAINER,
        ActionLimits::default(),
    );
    let record = invoke(&state, &probe, json!({})).await;
    assert_eq!(
        record.response.result,
        Some(json!({"container": true})),
        "{record:?}"
    );
    assert_eq!(containers_of(&socket, &host_id).len(), 1);

    // A time limit kills the container: it leaves the engine.
    let limits = ActionLimits {
        timeout: 1000,
        ..ActionLimits::default()
    };
    let slow = put_action(
        &state,
        "slow",
        "nodejs:20",
        "function main(){return new Promise(r=>setTimeout(r,5000))}",
        limits,
    );
    let record = invoke(&state, &slow, json!({})).await;
    assert_eq!(
        record.response.status, "action developer error",
        "{record:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while containers_of(&socket, &host_id).len() != 1 {
        assert!(
            Instant::now() < deadline,
            "the timed-out container was not removed: {:?}",
            containers_of(&socket, &host_id)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A blackbox action whose image cannot be pulled (no registry is reachable) ends as a
    // developer error naming the image, in bounded time.
    let mut blackbox = put_action(&state, "blackbox", "blackbox", "", ActionLimits::default());
    blackbox.exec.code = None;
    blackbox.exec.image = Some("registry.invalid/whisk/nothing:latest".into());
    let blackbox = state.store.put_action(blackbox, true).unwrap();
    let started = Instant::now();
    let record = invoke(&state, &blackbox, json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        record.response.status, "action developer error",
        "{record:?}"
    );
    let error = record.response.result.as_ref().unwrap()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("registry.invalid/whisk/nothing:latest"),
        "{error}"
    );

    // An action that allocates past its memory limit is killed for it: OpenWhisk's
    // memoryExhausted developer error.
    let limits = ActionLimits {
        memory: 128,
        ..ActionLimits::default()
    };
    let hog = put_action(
        &state,
        "hog",
        "nodejs:20",
        "function main(){ const a = []; for (;;) { a.push(Buffer.alloc(16 << 20, 1)); } }",
        limits,
    );
    let record = invoke(&state, &hog, json!({})).await;
    assert_eq!(
        record.response.status, "action developer error",
        "{record:?}"
    );
    assert_eq!(
        record.response.result,
        Some(json!({"error": "The action exhausted its memory and was aborted."})),
        "{record:?}"
    );

    // The engine goes away: a cold start is a whisk internal error, the invoker turns
    // unhealthy, and the next invoke is refused (HTTP 503).
    engine("stop-service", &state_dir);
    struct Restart(PathBuf);
    impl Drop for Restart {
        fn drop(&mut self) {
            engine("start", &self.0);
        }
    }
    let restart = Restart(state_dir.clone());
    let cold = put_action(
        &state,
        "cold",
        "native",
        IN_CONTAINER,
        ActionLimits::default(),
    );
    let record = invoke(&state, &cold, json!({})).await;
    assert_eq!(record.response.status, "whisk internal error", "{record:?}");
    let invoker = &state.activator.invokers()[0];
    assert_eq!(invoker.health(), InvokerHealth::UNHEALTHY);
    match state.activator.start(&guest(), &cold, json!({}), "tid") {
        Err(InvokeError::NoCapacity(message)) => {
            assert!(message.contains("unhealthy"), "{message}")
        }
        Err(other) => panic!("expected no capacity, got {other}"),
        Ok(_) => panic!("an unhealthy invoker took an activation"),
    }

    // Back: the invoker recovers by itself and activations run again.
    drop(restart);
    let deadline = Instant::now() + Duration::from_secs(20);
    while invoker.health() != InvokerHealth::UP {
        assert!(Instant::now() < deadline, "the invoker did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let record = invoke(&state, &cold, json!({})).await;
    assert_eq!(
        record.response.result,
        Some(json!({"container": true})),
        "{record:?}"
    );

    state.factory.cleanup().await.unwrap();
    assert!(containers_of(&socket, &host_id).is_empty());
}
