//! The host's configuration: TOML, strict, with errors an operator can act on.
//!
//! Unknown keys are refused and every error names `file:line:col` and the key. After the
//! file, environment variables override single keys in the manner of OpenWhisk's
//! `CONFIG_whisk_*`: `CONFIG_whisk_<section>_<key>=<value>`, e.g.
//! `CONFIG_whisk_spi_load_balancer=roundrobin-lb` or `CONFIG_whisk_server_listen=0.0.0.0:3233`.
//! The value is read as a TOML value when it parses as one (`8`, `true`, `["a","b"]`),
//! otherwise as a string; `CONFIG_whisk_spi_authentication` also takes a comma-separated
//! list. Plugin tables (`[plugins.NAME]`) are not overridable this way: plugin names contain
//! `-`, which environment variable names cannot carry portably.

use serde::{Deserialize, Deserializer};
use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
};
use thiserror::Error;

/// The default config, embedded in the binary: `whisk serve` without `--config` uses it.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config/whisk.toml");
/// How the embedded default is named in messages.
pub const EMBEDDED_NAME: &str = "<embedded config/whisk.toml>";

/// Prefix of the environment overrides.
pub const ENV_PREFIX: &str = "CONFIG_whisk_";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    pub spi: SpiSelection,
    #[serde(default)]
    pub loader: LoaderConfig,
    #[serde(default)]
    pub invoker: InvokerConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Each plugin's own table, handed to it serialized.
    #[serde(default)]
    pub plugins: BTreeMap<String, toml::Table>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the REST API; OpenWhisk standalone's port by default.
    pub listen: String,
    /// Where the database lives (relative paths are relative to the working directory).
    pub data_dir: PathBuf,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:3233".into(),
            data_dir: PathBuf::from("data"),
            max_body_bytes: 50 * 1024 * 1024,
        }
    }
}

/// Which plugin serves each SPI, by plugin name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpiSelection {
    pub load_balancer: String,
    pub container_factory: String,
    pub log_store: String,
    /// Asked in this order; the first that does not answer "not mine" decides.
    #[serde(deserialize_with = "string_or_list")]
    pub authentication: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoaderConfig {
    /// Directories searched for `lib<name>.so`, in order. Empty: next to the `whisk`
    /// binary, then `/opt/whisk/plugins`.
    pub dirs: Vec<PathBuf>,
    /// Explicit files for some plugins, by name.
    pub paths: BTreeMap<String, PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvokerConfig {
    /// How many invokers (each with its own container pool).
    pub count: u32,
    /// Memory budget of each invoker's container pool, in MB.
    pub memory_mb: u64,
    /// Idle warm containers are removed after this many seconds.
    pub idle_timeout_s: u64,
    /// A warm container idle this many milliseconds is suspended, if its factory can
    /// (process-factory: SIGSTOP; docker-factory: pause, with its `pause_idle`), and resumed
    /// when it is used again; 0 never suspends.
    pub pause_grace_ms: u64,
}

impl Default for InvokerConfig {
    fn default() -> Self {
        Self {
            count: 1,
            memory_mb: 1024,
            idle_timeout_s: 600,
            pause_grace_ms: 50,
        }
    }
}

/// Limits on actions, as OpenWhisk's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub timeout_ms_min: u64,
    pub timeout_ms_max: u64,
    pub timeout_ms_default: u64,
    pub memory_mb_min: u32,
    pub memory_mb_max: u32,
    pub memory_mb_default: u32,
    pub logs_mb_min: u32,
    pub logs_mb_max: u32,
    pub logs_mb_default: u32,
    pub concurrency_min: u32,
    pub concurrency_max: u32,
    pub concurrency_default: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            timeout_ms_min: 100,
            timeout_ms_max: 300_000,
            timeout_ms_default: 60_000,
            memory_mb_min: 128,
            memory_mb_max: 512,
            memory_mb_default: 256,
            logs_mb_min: 0,
            logs_mb_max: 10,
            logs_mb_default: 10,
            concurrency_min: 1,
            concurrency_max: 500,
            concurrency_default: 1,
        }
    }
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        OneOrMany::Many(v) => v,
    })
}

/// A config that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the config: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    /// A syntax or type error at a place in the file.
    #[error("{file}:{line}:{column}: {message}")]
    At {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("environment override {variable}: {message}")]
    Env { variable: String, message: String },
}

/// Where a config came from, for messages.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.display().to_string(),
            source,
        })?;
        Ok(Self {
            name: path.display().to_string(),
            text,
        })
    }

    pub fn embedded() -> Self {
        Self {
            name: EMBEDDED_NAME.into(),
            text: EMBEDDED_DEFAULT.into(),
        }
    }

    /// `--config FILE` if given, else the embedded default.
    pub fn from_option(path: Option<&Path>) -> Result<Self, ConfigError> {
        path.map_or_else(|| Ok(Self::embedded()), Self::file)
    }
}

impl Config {
    /// Parses `source`, then applies the `CONFIG_whisk_*` variables of this process.
    pub fn load(source: &Source) -> Result<Self, ConfigError> {
        Self::load_with_env(source, std::env::vars())
    }

    pub fn load_with_env(
        source: &Source,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(&source.text).map_err(|e| at(source, &e))?;
        let overrides: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        let config = if overrides.is_empty() {
            config
        } else {
            let mut table: toml::Table =
                toml::from_str(&source.text).map_err(|e| at(source, &e))?;
            let mut names = Vec::new();
            for (variable, value) in &overrides {
                apply_override(&mut table, variable, value)?;
                names.push(variable.as_str());
            }
            Config::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Env {
                variable: names.join(", "),
                message: e.message().to_string(),
            })?
        };
        config.validate(&source.name)?;
        Ok(config)
    }

    fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            file: file.to_string(),
            message,
        };
        let spi = &self.spi;
        for (key, name) in [
            ("spi.load_balancer", &spi.load_balancer),
            ("spi.container_factory", &spi.container_factory),
            ("spi.log_store", &spi.log_store),
        ]
        .into_iter()
        .chain(spi.authentication.iter().map(|n| ("spi.authentication", n)))
        {
            if !is_plugin_name(name) {
                return Err(invalid(format!(
                    "`{key}` = {name:?} is not a plugin name (lower-case letters, digits and `-`)"
                )));
            }
        }
        if spi.authentication.is_empty() {
            return Err(invalid(
                "`spi.authentication` is empty: select at least one authenticator".into(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for name in &spi.authentication {
            if !seen.insert(name) {
                return Err(invalid(format!(
                    "`spi.authentication` lists `{name}` twice"
                )));
            }
        }
        if self.invoker.count == 0 {
            return Err(invalid("`invoker.count` must be at least 1".into()));
        }
        let l = &self.limits;
        for (what, min, default, max) in [
            (
                "timeout_ms",
                l.timeout_ms_min,
                l.timeout_ms_default,
                l.timeout_ms_max,
            ),
            (
                "memory_mb",
                l.memory_mb_min.into(),
                l.memory_mb_default.into(),
                l.memory_mb_max.into(),
            ),
            (
                "logs_mb",
                l.logs_mb_min.into(),
                l.logs_mb_default.into(),
                l.logs_mb_max.into(),
            ),
            (
                "concurrency",
                l.concurrency_min.into(),
                l.concurrency_default.into(),
                l.concurrency_max.into(),
            ),
        ] {
            if !(min <= default && default <= max) {
                return Err(invalid(format!(
                    "limits: need {what}_min <= {what}_default <= {what}_max, found {min}, {default}, {max}"
                )));
            }
        }
        Ok(())
    }

    /// The plugin's own table, serialized for its constructor (empty if it has none).
    pub fn plugin_table(&self, plugin: &str) -> String {
        self.plugins
            .get(plugin)
            .map(|t| toml::to_string(t).unwrap_or_default())
            .unwrap_or_default()
    }

    /// `[plugins.X]` tables whose plugin no SPI selects (likely a typo).
    pub fn unused_plugin_tables(&self) -> Vec<&str> {
        let selected = self.selected_plugins();
        self.plugins
            .keys()
            .filter(|name| !selected.contains(&name.as_str()))
            .map(String::as_str)
            .collect()
    }

    /// Every selected plugin name, once, in selection order.
    pub fn selected_plugins(&self) -> Vec<&str> {
        let spi = &self.spi;
        let mut names: Vec<&str> = Vec::new();
        for name in [&spi.load_balancer, &spi.container_factory, &spi.log_store]
            .into_iter()
            .chain(spi.authentication.iter())
        {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        names
    }
}

fn is_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !name.starts_with('-')
}

/// A toml error with its place turned into `file:line:col`.
fn at(source: &Source, error: &toml::de::Error) -> ConfigError {
    let message = error.message().to_string();
    match error.span() {
        Some(span) => {
            let (line, column) = line_col(&source.text, span.start);
            ConfigError::At {
                file: source.name.clone(),
                line,
                column,
                message,
            }
        }
        None => ConfigError::Invalid {
            file: source.name.clone(),
            message,
        },
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

const SECTIONS: &[&str] = &["server", "spi", "loader", "invoker", "limits"];

fn apply_override(table: &mut toml::Table, variable: &str, value: &str) -> Result<(), ConfigError> {
    let env_err = |message: String| ConfigError::Env {
        variable: variable.to_string(),
        message,
    };
    let rest = &variable[ENV_PREFIX.len()..];
    let (section, key) = rest.split_once('_').ok_or_else(|| {
        env_err(format!(
            "expected {ENV_PREFIX}<section>_<key>, sections: {}",
            SECTIONS.join(", ")
        ))
    })?;
    if !SECTIONS.contains(&section) {
        return Err(env_err(format!(
            "unknown section `{section}`; sections: {}",
            SECTIONS.join(", ")
        )));
    }
    let parsed = parse_env_value(value);
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let section_table = entry
        .as_table_mut()
        .ok_or_else(|| env_err(format!("`{section}` in the file is not a table")))?;
    section_table.insert(key.to_string(), parsed);
    Ok(())
}

fn parse_env_value(value: &str) -> toml::Value {
    #[derive(Deserialize)]
    struct Probe {
        v: toml::Value,
    }
    toml::from_str::<Probe>(&format!("v = {value}"))
        .map(|p| p.v)
        .unwrap_or_else(|_| toml::Value::String(value.to_string()))
}

impl fmt::Display for SpiSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "load_balancer={} container_factory={} log_store={} authentication=[{}]",
            self.load_balancer,
            self.container_factory,
            self.log_store,
            self.authentication.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source {
        Source {
            name: "test.toml".into(),
            text: text.into(),
        }
    }

    const MINIMAL: &str = r#"
[spi]
load_balancer = "roundrobin-lb"
container_factory = "process-factory"
log_store = "file-logging"
authentication = ["basic-auth"]
"#;

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn embedded_default_parses() {
        let config = Config::load_with_env(&Source::embedded(), no_env()).unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:3233");
        assert_eq!(config.spi.authentication, ["basic-auth"]);
    }

    #[test]
    fn unknown_key_names_file_line_col_and_key() {
        let text = format!("{MINIMAL}\n[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n");
        let err = Config::load_with_env(&src(&text), no_env()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("test.toml:10:1: "), "{msg}");
        assert!(msg.contains("unknown field `lisen`"), "{msg}");
    }

    #[test]
    fn wrong_type_names_place() {
        let text = MINIMAL.replace("[\"basic-auth\"]", "3");
        let msg = Config::load_with_env(&src(&text), no_env())
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("test.toml:6:18: "), "{msg}");
    }

    #[test]
    fn syntax_error_names_place() {
        let msg = Config::load_with_env(&src("[spi\nx=1"), no_env())
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("test.toml:1:"), "{msg}");
    }

    #[test]
    fn missing_spi_section_is_reported() {
        let msg = Config::load_with_env(&src("[server]\n"), no_env())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("missing field `spi`"), "{msg}");
    }

    #[test]
    fn env_overrides_keys_and_lists() {
        let env = vec![
            (
                "CONFIG_whisk_spi_load_balancer".to_string(),
                "other-lb".to_string(),
            ),
            (
                "CONFIG_whisk_spi_authentication".to_string(),
                "a-auth, b-auth".to_string(),
            ),
            ("CONFIG_whisk_invoker_count".to_string(), "3".to_string()),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let config = Config::load_with_env(&src(MINIMAL), env).unwrap();
        assert_eq!(config.spi.load_balancer, "other-lb");
        assert_eq!(config.spi.authentication, ["a-auth", "b-auth"]);
        assert_eq!(config.invoker.count, 3);
    }

    #[test]
    fn bad_env_override_names_the_variable() {
        let env = vec![("CONFIG_whisk_spi_load_balancr".to_string(), "x".to_string())];
        let msg = Config::load_with_env(&src(MINIMAL), env)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("CONFIG_whisk_spi_load_balancr"), "{msg}");
        assert!(msg.contains("load_balancr"), "{msg}");
        let env = vec![("CONFIG_whisk_nope_x".to_string(), "1".to_string())];
        let msg = Config::load_with_env(&src(MINIMAL), env)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("unknown section `nope`"), "{msg}");
    }

    #[test]
    fn plugin_tables_are_handed_over_and_unused_ones_found() {
        let text =
            format!("{MINIMAL}\n[plugins.file-logging]\ndirectory = \"d\"\n[plugins.typo-lb]\n");
        let config = Config::load_with_env(&src(&text), no_env()).unwrap();
        assert_eq!(
            config.plugin_table("file-logging").trim(),
            "directory = \"d\""
        );
        assert_eq!(config.plugin_table("roundrobin-lb"), "");
        assert_eq!(config.unused_plugin_tables(), ["typo-lb"]);
    }

    #[test]
    fn invalid_values_are_refused() {
        let text = MINIMAL.replace("[\"basic-auth\"]", "[]");
        let msg = Config::load_with_env(&src(&text), no_env())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("spi.authentication` is empty"), "{msg}");
        let text = MINIMAL.replace("\"roundrobin-lb\"", "\"Round Robin\"");
        let msg = Config::load_with_env(&src(&text), no_env())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("not a plugin name"), "{msg}");
        let text = format!("{MINIMAL}\n[limits]\nmemory_mb_default = 1024\n");
        let msg = Config::load_with_env(&src(&text), no_env())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("memory_mb_min <= memory_mb_default"), "{msg}");
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
