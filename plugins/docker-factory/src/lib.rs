//! # docker-factory: action containers on a Docker Engine API daemon
//!
//! whisk's ContainerFactory modelled on OpenWhisk's `DockerContainerFactory`: each action
//! container is a container of the daemon at a unix socket (Docker, or podman's API
//! service as `scripts/engine.sh` starts it), running the action proxy
//! (`runtimes/action-proxy`) of an image chosen by the action's kind, or the action's own
//! image for blackbox actions.
//!
//! - **create**: name `<name_prefix><invoker>_<name>`, label `whisk.host=<host_id>`, memory
//!   limit `memory_mb` with swap equal to it (no swap), `cpu_shares`, a pids limit, and an
//!   explicit network mode (the daemon's default bridge is never used). With `host`
//!   networking each container gets a free port of 127.0.0.1 (`__OW_PROXY_PORT`,
//!   `__OW_PROXY_HOST=127.0.0.1`) and its address is `127.0.0.1:<port>`; on a named network it
//!   is `<container IP>:8080`. It answers once the proxy accepts TCP connections, within
//!   `startup_timeout_ms`; a container that exits or stays silent is removed.
//! - **blackbox**: the image is pulled when its tag is `latest` or it is not present;
//!   a failed or timed-out pull (`pull_timeout_ms`) is the action developer's error.
//! - **logs**: each container's log file read from where the last read stopped (the logs
//!   API with timestamps where the file cannot be read), cut per activation at the proxy's
//!   sentinels by `whisk_spi::container_logs` (see [`activation_logs`]).
//! - **inspect**: out-of-memory kills are recognised from the engine's flag or the kernel's
//!   counter (see [`state`]).
//! - **suspend/resume**: pause/unpause when `pause_idle`, else `UNSUPPORTED`.
//! - **init/cleanup**: remove every container labelled as this host's.
//!
//! Errors: a daemon that cannot be reached is `UNAVAILABLE` naming the socket, at
//! construction, in `init` and in any later call; each request opens its own connection,
//! so calls work again as soon as the daemon is back. All I/O runs on the plugin's own
//! tokio runtime (`whisk_spi::runtime`): the host's runtime is invisible in a cdylib.
//!
//! Config: [`config::Config`] (`[plugins.docker-factory]`, unknown keys refused).

mod activation_logs;
pub mod config;
mod engine;
mod factory;
mod log_file;
mod logs;
pub mod state;

use factory::Factory;
use std::{future::Future, sync::Arc};
use whisk_spi::{
    abi::ContainerFactoryBox, runtime, ContainerFactory, ContainerHandle, ContainerLogs,
    ContainerSpec, ContainerState, LogsRequest, Plugin, PluginConfig, PluginError, SpiKind,
};

pub use factory::{container_name, split_image, HOST_LABEL};

/// The plugin: provides the ContainerFactory SPI.
pub struct DockerFactoryPlugin;

impl Plugin for DockerFactoryPlugin {
    const PROVIDES: &'static [SpiKind] = &[SpiKind::CONTAINER_FACTORY];
    const DESCRIPTION: &'static str =
        "action containers on a Docker Engine API daemon (Docker or podman) over a unix socket";

    fn container_factory(config: PluginConfig) -> Result<ContainerFactoryBox, PluginError> {
        Ok(whisk_spi::into_container_factory(DockerFactory::new(
            config.parse()?,
        )?))
    }
}

whisk_spi::export_plugin!(DockerFactoryPlugin);

/// The factory. Cheap to clone; every method's work runs on the plugin's runtime.
#[derive(Clone)]
pub struct DockerFactory {
    inner: Arc<Factory>,
}

impl DockerFactory {
    /// Validates `config` and checks that the daemon answers a ping (an `UNAVAILABLE`
    /// error naming the socket otherwise).
    pub fn new(config: config::Config) -> Result<DockerFactory, PluginError> {
        Ok(DockerFactory {
            inner: Arc::new(Factory::new(config)?),
        })
    }

    /// How many requests the engine's logs endpoint has had from this factory (the logs
    /// API path; reads from log files are not requests). For tests and diagnostics.
    pub fn api_log_reads(&self) -> u64 {
        self.inner.api_log_reads()
    }

    /// The unix socket of the daemon.
    pub fn socket(&self) -> &std::path::Path {
        self.inner.engine().socket()
    }

    fn run<T, F>(
        &self,
        work: impl FnOnce(Arc<Factory>) -> F,
    ) -> impl Future<Output = Result<T, PluginError>> + Send
    where
        T: Send + 'static,
        F: Future<Output = Result<T, PluginError>> + Send + 'static,
    {
        runtime::run(work(self.inner.clone()))
    }

    /// suspend (`pause`) or resume: pause/unpause when `pause_idle` is on, else
    /// `UNSUPPORTED` (the invoker then stops asking).
    fn pause(
        &self,
        container: ContainerHandle,
        pause: bool,
    ) -> impl Future<Output = Result<(), PluginError>> + Send {
        self.run(move |f| async move {
            if !f.pause_idle() {
                let call = if pause { "suspend" } else { "resume" };
                return Err(PluginError::unsupported(format!(
                    "{call}: pause_idle is off in [plugins.docker-factory]"
                )));
            }
            f.pause(&container, pause).await
        })
    }
}

impl ContainerFactory for DockerFactory {
    fn init(&self) -> impl Future<Output = Result<(), PluginError>> + Send {
        self.run(move |f| async move {
            let socket = f.engine().socket().to_path_buf();
            tokio::task::spawn_blocking(move || {
                engine::ping_blocking(&socket, std::time::Duration::from_secs(5))
            })
            .await
            .map_err(|e| PluginError::internal(format!("init: {e}")))??;
            let removed = f.remove_all("init: remove leftover containers").await?;
            tracing::info!(
                removed,
                socket = %f.engine().socket().display(),
                "container engine ready; leftover containers of this host removed"
            );
            Ok(())
        })
    }

    fn create(
        &self,
        spec: ContainerSpec,
    ) -> impl Future<Output = Result<ContainerHandle, PluginError>> + Send {
        self.run(move |f| async move { f.create(spec).await })
    }

    fn destroy(
        &self,
        container: ContainerHandle,
    ) -> impl Future<Output = Result<(), PluginError>> + Send {
        self.run(move |f| async move { f.destroy(&container).await })
    }

    fn suspend(
        &self,
        container: ContainerHandle,
    ) -> impl Future<Output = Result<(), PluginError>> + Send {
        self.pause(container, true)
    }

    fn resume(
        &self,
        container: ContainerHandle,
    ) -> impl Future<Output = Result<(), PluginError>> + Send {
        self.pause(container, false)
    }

    fn logs(
        &self,
        container: ContainerHandle,
        request: LogsRequest,
    ) -> impl Future<Output = Result<ContainerLogs, PluginError>> + Send {
        self.run(move |f| async move { f.logs(&container, request).await })
    }

    fn inspect(
        &self,
        container: ContainerHandle,
    ) -> impl Future<Output = Result<ContainerState, PluginError>> + Send {
        self.run(move |f| async move { f.inspect(&container).await })
    }

    fn cleanup(&self) -> impl Future<Output = Result<(), PluginError>> + Send {
        self.run(move |f| async move {
            let removed = f
                .remove_all("cleanup: remove this host's containers")
                .await?;
            tracing::info!(removed, "containers of this host removed");
            Ok(())
        })
    }
}
