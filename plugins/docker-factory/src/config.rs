//! The plugin's table in the host config (`[plugins.docker-factory]`).

use serde::Deserialize;
use std::{collections::BTreeMap, path::PathBuf};
use whisk_spi::PluginError;

/// Every key is optional; an unknown key is an error (an operator's typo is not ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The daemon's unix socket: a path or `unix:///path`. Default: `DOCKER_HOST` when it
    /// is a `unix://` address, else `/var/run/docker.sock`.
    #[serde(default)]
    pub socket: Option<String>,
    /// Action kind → image, e.g. `"nodejs:20" = "whisk/action-nodejs:1"`. A kind not listed
    /// is refused (blackbox actions bring their own image).
    #[serde(default)]
    pub runtimes: BTreeMap<String, String>,
    /// `host` (default): the proxy listens on a free port of 127.0.0.1 chosen per container;
    /// `none`: no network at all, the proxy is unreachable (isolation experiments only);
    /// any other name: a network that already exists, the proxy at `<container IP>:8080`.
    #[serde(default = "default_network")]
    pub network: String,
    /// The value of the `whisk.host` label on this host's containers. `init` and `cleanup`
    /// remove every container carrying it, so two hosts sharing a daemon need two values.
    #[serde(default = "default_host_id")]
    pub host_id: String,
    /// Container names are `<name_prefix><invoker>_<name>`, as OpenWhisk's `wsk0_…`.
    #[serde(default = "default_name_prefix")]
    pub name_prefix: String,
    /// Added to every container's environment (after the action's own).
    #[serde(default)]
    pub extra_env: BTreeMap<String, String>,
    /// Added to every container's labels.
    #[serde(default)]
    pub extra_labels: BTreeMap<String, String>,
    /// Replaces the image's command (e.g. `["/action-proxy"]`); default: the image's.
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// Processes a container may have; 0 = no limit. Default 1024.
    #[serde(default = "default_pids_limit")]
    pub pids_limit: i64,
    /// Pause idle containers (`suspend`/`resume` → pause/unpause). Default false: both
    /// answer UNSUPPORTED and the host keeps idle containers running.
    #[serde(default)]
    pub pause_idle: bool,
    /// How long a blackbox image pull may take before the activation fails.
    #[serde(default = "default_pull_timeout_ms")]
    pub pull_timeout_ms: u64,
    /// How long a started container has to accept TCP connections on its proxy port.
    #[serde(default = "default_startup_timeout_ms")]
    pub startup_timeout_ms: u64,
    /// Time limit of one ordinary API call to the daemon (not pulls, not log waits).
    #[serde(default = "default_api_timeout_ms")]
    pub api_timeout_ms: u64,
    /// Read each container's log file (the `LogPath` the engine names) directly, from where
    /// the last read stopped, when this process can open it. Default true. False, or a
    /// file that cannot be read, means the logs API, which replays the whole log on every
    /// read: activations then get slower the longer a container lives.
    #[serde(default = "default_log_files")]
    pub log_files: bool,
}

fn default_network() -> String {
    "host".into()
}
fn default_host_id() -> String {
    "whisk".into()
}
fn default_name_prefix() -> String {
    "wsk".into()
}
fn default_pids_limit() -> i64 {
    1024
}
fn default_pull_timeout_ms() -> u64 {
    120_000
}
fn default_startup_timeout_ms() -> u64 {
    10_000
}
fn default_log_files() -> bool {
    true
}
fn default_api_timeout_ms() -> u64 {
    30_000
}

/// How the container is networked, from `network` (or the spec's override).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    Host,
    None,
    Named(String),
}

impl Network {
    pub fn parse(name: &str) -> Network {
        match name {
            "host" => Network::Host,
            "none" => Network::None,
            other => Network::Named(other.to_string()),
        }
    }

    /// The value of `HostConfig.NetworkMode`: always set, since the daemon's default is a
    /// bridge network, which must not be created on these machines.
    pub fn mode(&self) -> &str {
        match self {
            Network::Host => "host",
            Network::None => "none",
            Network::Named(name) => name,
        }
    }
}

impl Config {
    /// Checks what serde cannot; answers the socket path to use.
    pub fn validate(&self) -> Result<PathBuf, PluginError> {
        let label_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        if !label_ok(&self.host_id) {
            return Err(PluginError::invalid_config(format!(
                "host_id {:?}: use letters, digits, '_', '-' and '.'",
                self.host_id
            )));
        }
        if !self.name_prefix.is_empty() && !label_ok(&self.name_prefix) {
            return Err(PluginError::invalid_config(format!(
                "name_prefix {:?}: use letters, digits, '_', '-' and '.'",
                self.name_prefix
            )));
        }
        if self.network.is_empty() {
            return Err(PluginError::invalid_config(
                "network is empty: use `host`, `none` or the name of an existing network",
            ));
        }
        if self.pids_limit < 0 {
            return Err(PluginError::invalid_config("pids_limit must be 0 or more"));
        }
        if self.startup_timeout_ms == 0 || self.pull_timeout_ms == 0 || self.api_timeout_ms == 0 {
            return Err(PluginError::invalid_config(
                "startup_timeout_ms, pull_timeout_ms and api_timeout_ms must be above 0",
            ));
        }
        if let Some(cmd) = &self.cmd {
            if cmd.is_empty() {
                return Err(PluginError::invalid_config(
                    "cmd is empty: leave it out to use the image's command",
                ));
            }
        }
        for (kind, image) in &self.runtimes {
            if image.trim().is_empty() {
                return Err(PluginError::invalid_config(format!(
                    "runtimes.{kind:?} has no image"
                )));
            }
        }
        socket_path(
            self.socket.as_deref(),
            std::env::var("DOCKER_HOST").ok().as_deref(),
        )
    }
}

/// The socket to use: the configured one, else `DOCKER_HOST`, else Docker's default.
pub fn socket_path(
    configured: Option<&str>,
    docker_host: Option<&str>,
) -> Result<PathBuf, PluginError> {
    let (text, from) = match (configured, docker_host.filter(|h| !h.is_empty())) {
        (Some(s), _) => (s, "socket"),
        (None, Some(h)) => (h, "DOCKER_HOST"),
        (None, None) => return Ok(PathBuf::from("/var/run/docker.sock")),
    };
    if let Some(path) = text.strip_prefix("unix://") {
        return Ok(PathBuf::from(path));
    }
    if text.contains("://") {
        return Err(PluginError::invalid_config(format!(
            "{from} = {text:?}: only unix sockets are supported (unix:///path/to/docker.sock)"
        )));
    }
    Ok(PathBuf::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, PluginError> {
        whisk_spi::PluginConfig::new(text).parse()
    }

    #[test]
    fn defaults_and_unknown_keys() {
        let c = parse("").unwrap();
        assert_eq!(c.network, "host");
        assert_eq!(c.name_prefix, "wsk");
        assert_eq!(c.host_id, "whisk");
        assert!(!c.pause_idle);
        let e = parse("netwrok = \"host\"").unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn socket_from_config_then_docker_host_then_default() {
        assert_eq!(
            socket_path(Some("unix:///a.sock"), Some("unix:///b.sock")).unwrap(),
            PathBuf::from("/a.sock")
        );
        assert_eq!(
            socket_path(None, Some("unix:///b.sock")).unwrap(),
            PathBuf::from("/b.sock")
        );
        assert_eq!(
            socket_path(None, None).unwrap(),
            PathBuf::from("/var/run/docker.sock")
        );
        let e = socket_path(None, Some("tcp://1.2.3.4:2375")).unwrap_err();
        assert!(e.message.contains("DOCKER_HOST"), "{e}");
    }

    #[test]
    fn validation_names_the_key() {
        let c = parse("host_id = \"a b\"").unwrap();
        assert!(c.validate().unwrap_err().message.contains("host_id"));
        let c = parse("cmd = []").unwrap();
        assert!(c.validate().unwrap_err().message.contains("cmd"));
        assert_eq!(Network::parse("host").mode(), "host");
        assert_eq!(
            Network::parse("whisk-net"),
            Network::Named("whisk-net".into())
        );
    }
}
