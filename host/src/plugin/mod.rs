//! Plugins: finding their files, loading them through every check, building the SPI
//! objects the config selects, and calling them safely.

// A LoadError is large (it carries expected/found/hint text for the operator); it is built
// only when a plugin cannot be used, at startup, so its size costs nothing on a hot path.
#![allow(clippy::result_large_err)]

mod calls;
mod elf;
mod error;
mod load;
mod log_sink;
mod selection;

pub use calls::{Authenticator, ContainerFactory, LoadBalancer, LogStore, PluginCallError};
pub use error::{Check, LoadError};
pub use load::load;
pub use selection::{plugin_file_name, resolve, search_dirs, SelectedPlugins, SpiRow};

use std::{path::PathBuf, sync::Arc, time::Duration};
use whisk_spi::{abi::PluginModRef, std_types::RResult, ErrorKind, PluginError, SpiKind};

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Metadata {
    pub name: String,
    pub version: String,
    pub description: String,
    #[serde(serialize_with = "kinds_as_names")]
    pub kinds: Vec<SpiKind>,
    pub spi_version: String,
    pub rustc_version: String,
}

fn kinds_as_names<S: serde::Serializer>(kinds: &[SpiKind], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(kinds.iter().map(|k| k.to_string()))
}

/// A plugin file that passed every load check.
pub struct LoadedPlugin {
    pub path: PathBuf,
    pub metadata: Metadata,
    /// Time from opening the file to a usable root module.
    pub load_time: Duration,
    module: PluginModRef,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("path", &self.path)
            .field("metadata", &self.metadata)
            .field("load_time", &self.load_time)
            .finish()
    }
}

impl LoadedPlugin {
    fn error(&self, check: Check, message: impl Into<String>) -> LoadError {
        LoadError::new(check, &self.path, message).plugin(self.metadata.name.clone())
    }

    /// The kind check, then the constructor with `config_toml` (the plugin's table).
    fn construct<T>(
        &self,
        kind: SpiKind,
        config_toml: &str,
        constructor: extern "C" fn(whisk_spi::std_types::RStr<'_>) -> RResult<T, PluginError>,
    ) -> Result<(Arc<str>, T), LoadError> {
        if !self.metadata.kinds.contains(&kind) {
            let provides = self
                .metadata
                .kinds
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>();
            return Err(self
                .error(Check::Kind, format!("it was selected as {kind} but does not provide it"))
                .expected_found(kind.to_string(), format!("[{}]", provides.join(", ")))
                .hint("select a plugin that provides this SPI in [spi]; `whisk plugin check FILE` lists what a plugin provides"));
        }
        let name = &self.metadata.name;
        match constructor(config_toml.into()).into_result() {
            Ok(value) => Ok((Arc::from(name.as_str()), value)),
            Err(e) => {
                let (message, hint) = match e.kind {
                    ErrorKind::PANIC => (
                        format!("its {kind} constructor {}", e.message),
                        "the plugin panicked while starting; report it to its authors".to_string(),
                    ),
                    ErrorKind::INVALID_CONFIG => (
                        format!("its {kind} constructor refused the config: {}", e.message),
                        format!("fix the table [plugins.{name}] in the config"),
                    ),
                    _ => (
                        format!("its {kind} constructor failed ({}): {}", e.kind, e.message),
                        format!(
                            "check [plugins.{name}] and what the plugin needs (see its README)"
                        ),
                    ),
                };
                Err(self.error(Check::Constructor, message).hint(hint))
            }
        }
    }

    pub fn load_balancer(&self, config_toml: &str) -> Result<LoadBalancer, LoadError> {
        let (plugin, inner) = self.construct(
            SpiKind::LOAD_BALANCER,
            config_toml,
            self.module.new_load_balancer(),
        )?;
        Ok(LoadBalancer { plugin, inner })
    }
    pub fn container_factory(&self, config_toml: &str) -> Result<ContainerFactory, LoadError> {
        let (plugin, inner) = self.construct(
            SpiKind::CONTAINER_FACTORY,
            config_toml,
            self.module.new_container_factory(),
        )?;
        Ok(ContainerFactory { plugin, inner })
    }
    pub fn log_store(&self, config_toml: &str) -> Result<LogStore, LoadError> {
        let (plugin, inner) =
            self.construct(SpiKind::LOG_STORE, config_toml, self.module.new_log_store())?;
        Ok(LogStore { plugin, inner })
    }
    pub fn authenticator(&self, config_toml: &str) -> Result<Authenticator, LoadError> {
        let (plugin, inner) = self.construct(
            SpiKind::AUTHENTICATOR,
            config_toml,
            self.module.new_authenticator(),
        )?;
        Ok(Authenticator { plugin, inner })
    }

    /// A capability added after 1.0, checked against the host's copy of its type;
    /// `Ok(None)` when the plugin predates it.
    pub fn extension<E: whisk_spi::extension::Extension>(
        &self,
    ) -> Result<Option<&'static E>, whisk_spi::extension::ExtensionError> {
        whisk_spi::extension::resolve::<E>((self.module.extension())(E::NAME.into()))
    }
}
