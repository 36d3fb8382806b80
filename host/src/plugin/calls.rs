//! The host's handles on plugin objects: each call runs in a span naming the plugin and
//! the call, and a plugin's error (a caught panic included) comes back as a
//! [`PluginCallError`] naming the plugin, never as a crash.

use std::{fmt, sync::Arc};
use tracing::Instrument;
use whisk_spi::{
    abi::{AuthenticatorBox, ContainerFactoryBox, LoadBalancerBox, LogStoreBox},
    std_types::{RResult, RSlice, RString},
    ActivationRequest, ActiveActivations, AuthMechanism, AuthOutcome, AuthRequest, Completion,
    ContainerHandle, ContainerLogs, ContainerSpec, ContainerState, ErrorKind, InvokerState,
    KeyValue, LogContext, LogsRequest, PluginError,
};

/// A plugin call that failed.
#[derive(Debug, Clone)]
pub struct PluginCallError {
    pub plugin: Arc<str>,
    pub call: &'static str,
    pub error: PluginError,
}

impl PluginCallError {
    pub fn kind(&self) -> ErrorKind {
        self.error.kind
    }
}

impl fmt::Display for PluginCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "plugin `{}` failed in {}: {}",
            self.plugin, self.call, self.error
        )
    }
}

impl std::error::Error for PluginCallError {}

fn finish<T>(
    plugin: &Arc<str>,
    call: &'static str,
    result: RResult<T, PluginError>,
) -> Result<T, PluginCallError> {
    result.into_result().map_err(|error| {
        if error.kind == ErrorKind::PANIC {
            tracing::error!(plugin = %plugin, call, "plugin panicked: {}", error.message);
        }
        PluginCallError {
            plugin: plugin.clone(),
            call,
            error,
        }
    })
}

macro_rules! sync_call {
    ($self:ident, $call:literal, $expr:expr) => {{
        let _span = tracing::trace_span!("spi", plugin = %$self.plugin, call = $call).entered();
        finish(&$self.plugin, $call, $expr)
    }};
}

macro_rules! async_call {
    ($self:ident, $call:literal, $future:expr) => {{
        let span = tracing::debug_span!("spi", plugin = %$self.plugin, call = $call);
        let result = $future.instrument(span).await;
        finish(&$self.plugin, $call, result)
    }};
}

/// A LoadBalancer plugin object.
pub struct LoadBalancer {
    pub plugin: Arc<str>,
    pub(crate) inner: LoadBalancerBox,
}

impl LoadBalancer {
    pub fn choose_invoker(
        &self,
        request: &ActivationRequest,
        invokers: &[InvokerState],
    ) -> Result<u32, PluginCallError> {
        sync_call!(
            self,
            "choose_invoker",
            self.inner
                .choose_invoker(request, RSlice::from_slice(invokers))
        )
    }
    pub fn completed(&self, completion: &Completion) -> Result<(), PluginCallError> {
        sync_call!(self, "completed", self.inner.completed(completion))
    }
    pub fn active(&self) -> Result<ActiveActivations, PluginCallError> {
        sync_call!(self, "active", self.inner.active())
    }
}

/// A ContainerFactory plugin object.
pub struct ContainerFactory {
    pub plugin: Arc<str>,
    pub(crate) inner: ContainerFactoryBox,
}

impl ContainerFactory {
    pub async fn init(&self) -> Result<(), PluginCallError> {
        async_call!(self, "init", self.inner.init())
    }
    pub async fn create(&self, spec: ContainerSpec) -> Result<ContainerHandle, PluginCallError> {
        async_call!(self, "create", self.inner.create(spec))
    }
    pub async fn destroy(&self, container: ContainerHandle) -> Result<(), PluginCallError> {
        async_call!(self, "destroy", self.inner.destroy(container))
    }
    pub async fn suspend(&self, container: ContainerHandle) -> Result<(), PluginCallError> {
        async_call!(self, "suspend", self.inner.suspend(container))
    }
    pub async fn resume(&self, container: ContainerHandle) -> Result<(), PluginCallError> {
        async_call!(self, "resume", self.inner.resume(container))
    }
    pub async fn logs(
        &self,
        container: ContainerHandle,
        request: LogsRequest,
    ) -> Result<ContainerLogs, PluginCallError> {
        async_call!(self, "logs", self.inner.logs(container, request))
    }
    pub async fn inspect(
        &self,
        container: ContainerHandle,
    ) -> Result<ContainerState, PluginCallError> {
        async_call!(self, "inspect", self.inner.inspect(container))
    }
    pub async fn cleanup(&self) -> Result<(), PluginCallError> {
        async_call!(self, "cleanup", self.inner.cleanup())
    }
}

/// A LogStore plugin object.
pub struct LogStore {
    pub plugin: Arc<str>,
    pub(crate) inner: LogStoreBox,
}

fn strings(lines: whisk_spi::std_types::RVec<RString>) -> Vec<String> {
    lines.into_iter().map(String::from).collect()
}

impl LogStore {
    pub async fn collect(
        &self,
        context: LogContext,
        logs: ContainerLogs,
    ) -> Result<Vec<String>, PluginCallError> {
        async_call!(self, "collect", self.inner.collect(context, logs)).map(strings)
    }
    pub async fn fetch(
        &self,
        namespace: &str,
        activation_id: &str,
    ) -> Result<Vec<String>, PluginCallError> {
        async_call!(
            self,
            "fetch",
            self.inner.fetch(namespace.into(), activation_id.into())
        )
        .map(strings)
    }
    pub fn container_parameters(&self) -> Result<Vec<KeyValue>, PluginCallError> {
        sync_call!(
            self,
            "container_parameters",
            self.inner.container_parameters()
        )
        .map(|v| v.into_vec())
    }
    pub fn collects_out_of_band(&self) -> Result<bool, PluginCallError> {
        sync_call!(
            self,
            "collects_out_of_band",
            self.inner.collects_out_of_band()
        )
    }
}

/// An Authenticator plugin object.
pub struct Authenticator {
    pub plugin: Arc<str>,
    pub(crate) inner: AuthenticatorBox,
}

impl Authenticator {
    pub async fn authenticate(&self, request: AuthRequest) -> Result<AuthOutcome, PluginCallError> {
        async_call!(self, "authenticate", self.inner.authenticate(request))
    }
    pub fn mechanism(&self) -> Result<AuthMechanism, PluginCallError> {
        sync_call!(self, "mechanism", self.inner.mechanism())
    }
}
