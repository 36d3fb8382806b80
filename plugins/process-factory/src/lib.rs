//! # process-factory: action containers as local processes
//!
//! The ContainerFactory whisk uses when no container engine is configured: each "container"
//! is an `action-proxy` process (whisk's implementation of OpenWhisk's action container
//! protocol) listening on a free loopback port, in a process group of its own. It starts in
//! milliseconds and needs nothing installed but node and python, which makes it the
//! default for development and for machines without Docker or podman.
//!
//! **There is no isolation.** Actions run as the host's user, see its file system and
//! network, and are bounded only by a memory rlimit (`RLIMIT_DATA`; the README says why that one). Use a
//! container engine factory for code you do not trust.
//!
//! What each SPI call does:
//! - `create`: spawn the proxy with the spec's environment, capture its stdout/stderr with
//!   timestamps, record a pid file, wait until it accepts connections;
//! - `destroy`: SIGKILL to the group, reap, remove the pid file; `suspend`/`resume`: SIGSTOP
//!   and SIGCONT to the group; `inspect`: running, paused, exited (with code) or gone;
//! - `logs`: the next activation's lines from the captured output (`whisk_spi::container_logs`),
//!   waiting for the end-of-activation sentinels when asked;
//! - `init`: kill the proxies a crashed run left behind (from the pid files); `cleanup`, and
//!   dropping the factory: kill every proxy it started.
//!
//! Config (`[plugins.process-factory]`): see [`Config`] and the README.

mod capture;
pub mod config;
mod factory;
mod pid_files;
mod process;

pub use config::{Config, Settings};
pub use factory::ProcessFactory;

use whisk_spi::{abi::ContainerFactoryBox, Plugin, PluginConfig, PluginError, SpiKind};

/// The plugin: provides the ContainerFactory SPI.
pub struct ProcessFactoryPlugin;

impl Plugin for ProcessFactoryPlugin {
    const PROVIDES: &'static [SpiKind] = &[SpiKind::CONTAINER_FACTORY];
    const DESCRIPTION: &'static str =
        "action containers as local action-proxy processes (no isolation; memory rlimit only)";

    fn container_factory(config: PluginConfig) -> Result<ContainerFactoryBox, PluginError> {
        let settings = config.parse::<Config>()?.resolve()?;
        Ok(whisk_spi::into_container_factory(ProcessFactory::new(
            settings,
        )?))
    }
}

whisk_spi::export_plugin!(ProcessFactoryPlugin);
