//! The activation path on real containers (docker-factory on podman's Docker API): actions
//! run inside containers, a timed-out container is removed from the engine, and when the
//! engine goes away mid-run activations end as whisk internal errors, the invoker turns
//! unhealthy (new invokes get 503), and both recover once the engine is back.
//!
//! Needs the engine and the runtime images:
//! `eval "$(scripts/engine.sh start)" && scripts/build-runtime-images.sh`, and
//! `cargo build --workspace`. It stops and restarts the engine's API service, so it is a
//! test binary of its own (cargo runs test binaries one after the other).

use serde_json::{json, Value};
use std::{
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};
use whisk_host::{
    activator::{Caller, InvokeError},
    config::{Config, Source},
    entity::{Action, ActionLimits, Activation, Exec},
    plugin::SelectedPlugins,
    server::AppState,
};
use whisk_spi::InvokerHealth;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_whisk"))
        .parent()
        .unwrap()
        .to_path_buf()
}

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
        .arg(workspace().join("scripts/engine.sh"))
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

/// Names of the containers labelled as this host's, through the Engine API.
fn containers_of(socket: &Path, host_id: &str) -> Vec<String> {
    let filter = format!("%7B%22label%22%3A%5B%22whisk.host%3D{host_id}%22%5D%7D");
    let mut stream = UnixStream::connect(socket).unwrap();
    write!(
        stream,
        "GET /containers/json?all=true&filters={filter} HTTP/1.0\r\nHost: d\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("[]");
    let list: Vec<Value> = serde_json::from_str(body).unwrap_or_default();
    list.iter()
        .filter_map(|c| c["Names"][0].as_str().map(String::from))
        .collect()
}

fn config(dir: &Path, socket: &Path, host_id: &str) -> Config {
    let text = format!(
        r#"
[server]
data_dir = "{dir}/data"
[spi]
load_balancer = "roundrobin-lb"
container_factory = "docker-factory"
log_store = "file-logging"
authentication = ["basic-auth"]
[loader]
dirs = ["{bin}"]
[plugins.docker-factory]
socket = "unix://{socket}"
network = "host"
host_id = "{host_id}"
startup_timeout_ms = 10000
[plugins.docker-factory.runtimes]
"nodejs:20" = "whisk/action-nodejs:1"
"python:3" = "whisk/action-python:1"
native = "whisk/action-native:1"
[plugins.file-logging]
directory = "{dir}/logs"
[plugins.basic-auth]
credentials_file = "{ws}/config/guest-auth.toml"
"#,
        dir = dir.display(),
        bin = bin_dir().display(),
        socket = socket.display(),
        ws = workspace().display(),
    );
    Config::load_with_env(
        &Source {
            name: "docker-test.toml".into(),
            text,
        },
        Vec::new(),
    )
    .unwrap()
}

fn caller() -> Caller {
    Caller {
        subject: "guest".into(),
        namespace: "guest".into(),
        api_key: None,
    }
}

fn action(state: &AppState, name: &str, kind: &str, code: &str, limits: ActionLimits) -> Action {
    let action = Action {
        namespace: "guest".into(),
        name: name.into(),
        version: "0.0.1".into(),
        publish: false,
        exec: Exec {
            kind: kind.into(),
            code: Some(code.into()),
            binary: false,
            main: None,
            image: None,
        },
        parameters: Vec::new(),
        annotations: Vec::new(),
        limits,
        updated: 0,
    };
    state.store.put_action(action, true).unwrap()
}

async fn invoke(state: &Arc<AppState>, action: &Action) -> Activation {
    let started = state
        .activator
        .start(&caller(), action, json!({}), "tid")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(90), started.record)
        .await
        .unwrap()
        .unwrap()
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
    let config = config(&dir, &socket, &host_id);
    let plugins = SelectedPlugins::load(&config).unwrap();
    plugins.container_factory.init().await.unwrap();
    let state = Arc::new(AppState::new(config, plugins, "http://127.0.0.1:0".into()).unwrap());

    // The action runs inside a container (podman marks it with /run/.containerenv).
    let probe = action(
        &state,
        "probe",
        "native",
        IN_CONTAINER,
        ActionLimits::default(),
    );
    let record = invoke(&state, &probe).await;
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
    let slow = action(
        &state,
        "slow",
        "nodejs:20",
        "function main(){return new Promise(r=>setTimeout(r,5000))}",
        limits,
    );
    let record = invoke(&state, &slow).await;
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

    // An action that allocates past its memory limit is killed for it: OpenWhisk's
    // memoryExhausted developer error.
    let limits = ActionLimits {
        memory: 128,
        ..ActionLimits::default()
    };
    let hog = action(
        &state,
        "hog",
        "nodejs:20",
        "function main(){ const a = []; for (;;) { a.push(Buffer.alloc(16 << 20, 1)); } }",
        limits,
    );
    let record = invoke(&state, &hog).await;
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
    let cold = action(
        &state,
        "cold",
        "native",
        IN_CONTAINER,
        ActionLimits::default(),
    );
    let record = invoke(&state, &cold).await;
    assert_eq!(record.response.status, "whisk internal error", "{record:?}");
    let invoker = &state.activator.invokers()[0];
    assert_eq!(invoker.health(), InvokerHealth::UNHEALTHY);
    match state.activator.start(&caller(), &cold, json!({}), "tid") {
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
    let record = invoke(&state, &cold).await;
    assert_eq!(
        record.response.result,
        Some(json!({"container": true})),
        "{record:?}"
    );

    state.factory.cleanup().await.unwrap();
    assert!(containers_of(&socket, &host_id).is_empty());
}
