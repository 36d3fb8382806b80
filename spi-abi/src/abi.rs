//! The binary interface: the root module every plugin file exports and the `#[sabi_trait]`
//! objects its constructors return. The host talks to plugins only through this module.
//!
//! Frozen for all of 1.x: a method or field added here would make every newer host refuse
//! every older plugin (abi_stable lets only the library side have more fields). Later
//! capabilities come through [`PluginMod::extension`], the lookup by name that 1.0 already
//! has (see [`crate::extension`]).
//!
//! Plugin authors do not implement these traits; they implement the ordinary traits of the
//! crate root, and [`crate::export_plugin!`] builds the objects, with a panic guard in every
//! method.

#![allow(non_local_definitions)] // abi_stable 0.11's `#[sabi_trait]` expansion; harmless.

use crate::{codes::LogLevel, error::PluginError, extension::ExtensionRef, types::*};
use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, ROption, RResult, RSlice, RStr, RString, RVec},
    StableAbi,
};
use async_ffi::FfiFuture;

/// The result of a call that waits on I/O.
pub type FfiResultFuture<T> = FfiFuture<RResult<T, PluginError>>;

/// Chooses an invoker for each activation. Synchronous: it only computes.
#[sabi_trait]
pub trait LoadBalancer: Send + Sync {
    /// The id of the invoker (one of `invokers[*].id`) that runs `request`.
    fn choose_invoker(
        &self,
        request: &ActivationRequest,
        invokers: RSlice<'_, InvokerState>,
    ) -> RResult<u32, PluginError>;

    /// An activation placed by `choose_invoker` has completed.
    fn completed(&self, completion: &Completion) -> RResult<(), PluginError>;

    /// The activations it counts as running.
    fn active(&self) -> RResult<ActiveActivations, PluginError>;
}

/// Creates, inspects and destroys action containers.
#[sabi_trait]
pub trait ContainerFactory: Send + Sync {
    /// At startup: remove what an earlier run of this host left behind.
    fn init(&self) -> FfiResultFuture<()>;
    fn create(&self, spec: ContainerSpec) -> FfiResultFuture<ContainerHandle>;
    fn destroy(&self, container: ContainerHandle) -> FfiResultFuture<()>;
    /// May fail with `ErrorKind::UNSUPPORTED`.
    fn suspend(&self, container: ContainerHandle) -> FfiResultFuture<()>;
    /// May fail with `ErrorKind::UNSUPPORTED`.
    fn resume(&self, container: ContainerHandle) -> FfiResultFuture<()>;
    fn logs(
        &self,
        container: ContainerHandle,
        request: LogsRequest,
    ) -> FfiResultFuture<ContainerLogs>;
    fn inspect(&self, container: ContainerHandle) -> FfiResultFuture<ContainerState>;
    /// At shutdown: remove every container this factory created.
    fn cleanup(&self) -> FfiResultFuture<()>;
}

/// Keeps activation logs.
#[sabi_trait]
pub trait LogStore: Send + Sync {
    /// Invoker side: store the logs read from the activation's container; answers the
    /// lines for the activation record.
    fn collect(&self, context: LogContext, logs: ContainerLogs) -> FfiResultFuture<RVec<RString>>;
    /// API side: the logs of an activation.
    fn fetch(&self, namespace: RString, activation_id: RString) -> FfiResultFuture<RVec<RString>>;
    /// Extra parameters for every container (e.g. a log driver).
    fn container_parameters(&self) -> RResult<RVec<KeyValue>, PluginError>;
    /// Whether it gathers logs itself, so the invoker need not read them from containers.
    fn collects_out_of_band(&self) -> RResult<bool, PluginError>;
}

/// Turns a request's credentials into an identity.
#[sabi_trait]
pub trait Authenticator: Send + Sync {
    fn authenticate(&self, request: AuthRequest) -> FfiResultFuture<AuthOutcome>;
    fn mechanism(&self) -> RResult<AuthMechanism, PluginError>;
}

/// Where a plugin's log events go: implemented by the host, called by the plugin's SDK.
#[sabi_trait]
pub trait LogSink: Send + Sync {
    fn log(&self, level: LogLevel, target: RStr<'_>, message: RStr<'_>);
}

pub type LoadBalancerBox = LoadBalancer_TO<'static, RBox<()>>;
pub type ContainerFactoryBox = ContainerFactory_TO<'static, RBox<()>>;
pub type LogStoreBox = LogStore_TO<'static, RBox<()>>;
pub type AuthenticatorBox = Authenticator_TO<'static, RBox<()>>;
pub type LogSinkBox = LogSink_TO<'static, RBox<()>>;

/// What the host hands a plugin right after loading it.
#[repr(C)]
#[derive(StableAbi)]
pub struct HostServices {
    pub log_sink: LogSinkBox,
    /// Events above this level are not forwarded.
    pub max_level: LogLevel,
}

/// The root module of a plugin file. Build it with [`crate::export_plugin!`].
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    pub metadata: extern "C" fn() -> PluginMetadata,
    /// Called once, before any constructor.
    pub attach: extern "C" fn(host: HostServices),
    /// Each constructor takes the plugin's TOML table, serialized.
    pub new_load_balancer: extern "C" fn(config: RStr<'_>) -> RResult<LoadBalancerBox, PluginError>,
    pub new_container_factory:
        extern "C" fn(config: RStr<'_>) -> RResult<ContainerFactoryBox, PluginError>,
    pub new_log_store: extern "C" fn(config: RStr<'_>) -> RResult<LogStoreBox, PluginError>,
    pub new_authenticator:
        extern "C" fn(config: RStr<'_>) -> RResult<AuthenticatorBox, PluginError>,
    /// Capabilities added after 1.0, by name; `RNone` = not provided.
    #[sabi(last_prefix_field)]
    pub extension: extern "C" fn(name: RStr<'_>) -> ROption<ExtensionRef>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "whisk_plugin";
    const NAME: &'static str = "whisk-spi";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// The symbol under which a plugin file exports its root module.
pub const ROOT_MODULE_SYMBOL: &str = abi_stable::library::ROOT_MODULE_LOADER_NAME;
