//! The host in process over the real plugins: a config, the shared state the server runs
//! on, actions in the store, invokes through the activator. For tests that look inside
//! (container pools, invoker health) rather than through HTTP.

use super::paths::{profile_dir, workspace_root};
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};
use whisk_host::{
    activator::Caller,
    config::{Config, Source},
    entity::{Action, ActionLimits, Activation, Exec},
    plugin::SelectedPlugins,
    server::AppState,
};

/// OpenWhisk's well-known guest key (`config/guest-auth.toml`).
pub const GUEST_KEY: &str =
    "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";

/// A fresh directory of this test process under the system's temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("whisk-inproc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The process-factory table for files under `dir`.
pub fn process_factory(dir: &Path) -> String {
    let bin = profile_dir();
    for file in [
        "libprocess_factory.so",
        "libroundrobin_lb.so",
        "libfile_logging.so",
        "libbasic_auth.so",
        "action-proxy",
    ] {
        assert!(
            bin.join(file).exists(),
            "{} is missing: run `cargo build --workspace` first",
            bin.join(file).display()
        );
    }
    format!(
        "[plugins.process-factory]\naction_proxy = \"{}/action-proxy\"\nstate_dir = \"{}/factory\"\n",
        bin.display(),
        dir.display()
    )
}

/// A config with roundrobin-lb, file-logging and basic-auth, the container factory
/// `factory` (its name) with its `factory_table`, and extra lines for [server] and
/// [invoker].
pub fn config(
    dir: &Path,
    factory: &str,
    factory_table: &str,
    server: &str,
    invoker: &str,
) -> Config {
    let text = format!(
        r#"
[server]
data_dir = "{dir}/data"
{server}
[invoker]
{invoker}
[spi]
load_balancer = "roundrobin-lb"
container_factory = "{factory}"
log_store = "file-logging"
authentication = ["basic-auth"]
[loader]
dirs = ["{bin}"]
[plugins.file-logging]
directory = "{dir}/logs"
[plugins.basic-auth]
credentials_file = "{ws}/config/guest-auth.toml"
{factory_table}"#,
        dir = dir.display(),
        bin = profile_dir().display(),
        ws = workspace_root().display(),
    );
    Config::load_with_env(
        &Source {
            name: "test.toml".into(),
            text,
        },
        Vec::new(),
    )
    .unwrap()
}

/// Loads the plugins, runs the factory's init and builds the server's state.
pub async fn state(config: Config) -> Arc<AppState> {
    let plugins = SelectedPlugins::load(&config).unwrap();
    plugins.container_factory.init().await.unwrap();
    Arc::new(AppState::new(config, plugins, "http://127.0.0.1:0".into()).unwrap())
}

/// The guest, as basic-auth identifies it.
pub fn guest() -> Caller {
    Caller {
        subject: "guest".into(),
        namespace: "guest".into(),
        api_key: Some(GUEST_KEY.into()),
    }
}

/// Stores (or replaces) action `name` of the guest namespace.
pub fn put_action(
    state: &AppState,
    name: &str,
    kind: &str,
    code: &str,
    limits: ActionLimits,
) -> Action {
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

/// A blocking invoke: the record, once the activation ended.
pub async fn invoke(state: &AppState, action: &Action, params: Value) -> Activation {
    let started = state
        .activator
        .start(&guest(), action, params, "tid")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(90), started.record)
        .await
        .expect("the activation ended in time")
        .expect("the activation has a record")
}
