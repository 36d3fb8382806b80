//! The plugin's table in the host config, and what it resolves to at startup.

use serde::Deserialize;
use std::{
    env,
    net::IpAddr,
    path::{Path, PathBuf},
    time::Duration,
};
use whisk_spi::PluginError;

/// The binary started for each container, looked up when `action_proxy` is not set.
pub const ACTION_PROXY: &str = "action-proxy";

/// `[plugins.process-factory]` in the host config. Every key is optional; an unknown key is
/// an error.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The action-proxy binary. Default: `action-proxy` in the directory of the running
    /// executable (the host's, as the plugin runs inside it), then on `PATH`.
    pub action_proxy: Option<PathBuf>,
    /// Where a pid file per running proxy is kept, so that `init` can remove what a crashed
    /// host left behind. Default: `<temp dir>/whisk-process-factory`.
    pub state_dir: Option<PathBuf>,
    /// The address the proxies listen on and that the host is told to call. Default:
    /// `127.0.0.1`. An IP address, not a name.
    pub host: String,
    /// How long a new proxy may take to accept connections. Default: 10000.
    pub startup_timeout_ms: u64,
    /// Variables of the host's environment passed on to each proxy; nothing else of it is.
    /// Default: `PATH`, `HOME`, `LANG`, `LC_ALL`, `TZ`, `TMPDIR`, and the proxy's own knobs
    /// `__OW_PROXY_NODE`, `__OW_PROXY_PYTHON`, `ACTION_PROXY_LOG`.
    pub pass_env: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            action_proxy: None,
            state_dir: None,
            host: "127.0.0.1".into(),
            startup_timeout_ms: 10_000,
            pass_env: [
                "PATH",
                "HOME",
                "LANG",
                "LC_ALL",
                "TZ",
                "TMPDIR",
                "__OW_PROXY_NODE",
                "__OW_PROXY_PYTHON",
                "ACTION_PROXY_LOG",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// A [`Config`] checked and with its defaults filled in.
#[derive(Debug, Clone)]
pub struct Settings {
    pub action_proxy: PathBuf,
    pub state_dir: PathBuf,
    pub host: IpAddr,
    pub startup_timeout: Duration,
    pub pass_env: Vec<String>,
}

impl Config {
    /// Checks the config and finds the action-proxy binary: an error here names the key to
    /// fix, so the operator sees it at startup rather than at the first activation.
    pub fn resolve(self) -> Result<Settings, PluginError> {
        let host = self.host.parse::<IpAddr>().map_err(|_| {
            PluginError::invalid_config(format!(
                "host = {:?} is not an IP address (e.g. \"127.0.0.1\")",
                self.host
            ))
        })?;
        if self.startup_timeout_ms == 0 {
            return Err(PluginError::invalid_config(
                "startup_timeout_ms must be more than 0",
            ));
        }
        let action_proxy = match self.action_proxy {
            Some(path) if path.is_file() => path,
            Some(path) => {
                return Err(PluginError::invalid_config(format!(
                    "action_proxy = {:?}: no such file",
                    path.display().to_string()
                )))
            }
            None => default_action_proxy()?,
        };
        Ok(Settings {
            action_proxy,
            state_dir: self
                .state_dir
                .unwrap_or_else(|| env::temp_dir().join("whisk-process-factory")),
            host,
            startup_timeout: Duration::from_millis(self.startup_timeout_ms),
            pass_env: self.pass_env,
        })
    }
}

/// `action-proxy` next to the running executable, else on `PATH`.
fn default_action_proxy() -> Result<PathBuf, PluginError> {
    let beside_exe = env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(ACTION_PROXY)));
    if let Some(path) = beside_exe.as_deref().filter(|p| p.is_file()) {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = find_on_path(ACTION_PROXY) {
        return Ok(path);
    }
    let beside = beside_exe
        .map(|p| format!("{} or ", p.display()))
        .unwrap_or_default();
    Err(PluginError::invalid_config(format!(
        "the {ACTION_PROXY} binary was found neither at {beside}on PATH; build it \
         (cargo build -p action-proxy) or set action_proxy = \"/path/to/{ACTION_PROXY}\""
    )))
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use whisk_spi::{ErrorKind, PluginConfig};

    #[test]
    fn an_empty_table_gives_the_defaults() {
        let config: Config = PluginConfig::new("").parse().unwrap();
        assert_eq!(config.host, "127.0.0.1");
        assert_eq!(config.startup_timeout_ms, 10_000);
        assert!(config.action_proxy.is_none() && config.state_dir.is_none());
        assert!(config.pass_env.iter().any(|v| v == "PATH"));
    }

    #[test]
    fn an_unknown_key_is_an_error() {
        let err = PluginConfig::new("statedir = \"/tmp\"")
            .parse::<Config>()
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::INVALID_CONFIG);
        assert!(err.message.contains("statedir"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let resolve = |text: &str| {
            PluginConfig::new(text)
                .parse::<Config>()
                .unwrap()
                .resolve()
                .unwrap_err()
                .to_string()
        };
        assert!(resolve("host = \"localhost\"\naction_proxy = \"/bin/sh\"").contains("host"));
        assert!(resolve("action_proxy = \"/no/such/proxy\"").contains("action_proxy"));
        assert!(
            resolve("startup_timeout_ms = 0\naction_proxy = \"/bin/sh\"")
                .contains("startup_timeout_ms")
        );
    }

    #[test]
    fn an_explicit_proxy_and_state_dir_are_used() {
        let settings = PluginConfig::new(
            "action_proxy = \"/bin/sh\"\nstate_dir = \"/tmp/x\"\nhost = \"::1\"\nstartup_timeout_ms = 5",
        )
        .parse::<Config>()
        .unwrap()
        .resolve()
        .unwrap();
        assert_eq!(settings.action_proxy, Path::new("/bin/sh"));
        assert_eq!(settings.state_dir, Path::new("/tmp/x"));
        assert_eq!(settings.host.to_string(), "::1");
        assert_eq!(settings.startup_timeout, Duration::from_millis(5));
    }
}
