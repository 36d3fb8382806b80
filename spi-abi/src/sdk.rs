//! The plugin author's side: ordinary Rust traits, their adapters to the binary interface,
//! and the panic guard every entry point goes through.
//!
//! An author implements [`Plugin`] plus the SPI traits it provides, and exports with
//! `whisk_spi::export_plugin!(MyPlugin);`. The adapters here sit between the author's code
//! and abi_stable's generated shims: a panic in the author's code, or while one of its
//! futures is polled, becomes a `PluginError` of kind `PANIC`; it never reaches abi_stable
//! (which would exit the process).

use crate::{
    abi::{self, FfiResultFuture},
    codes::SpiKind,
    error::PluginError,
    extension::ExtensionRef,
    types::*,
};
use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RBox, RResult, RSlice, RString, RVec},
};
use async_ffi::FutureExt as _;
use serde::de::DeserializeOwned;
use std::{
    future::Future,
    panic::{catch_unwind, AssertUnwindSafe},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

/// Chooses an invoker for each activation (OpenWhisk's `LoadBalancer`).
pub trait LoadBalancer: Send + Sync + 'static {
    /// The `id` of one of `invokers` to run `request`, or an error (kind `NO_CAPACITY`
    /// when none can take it).
    fn choose_invoker(
        &self,
        request: &ActivationRequest,
        invokers: &[InvokerState],
    ) -> Result<u32, PluginError>;
    /// An activation placed by `choose_invoker` finished: release what it held.
    fn completed(&self, completion: &Completion) -> Result<(), PluginError>;
    /// The activations counted as running: total, per namespace, per invoker.
    fn active(&self) -> Result<ActiveActivations, PluginError>;
}

/// Creates and destroys action containers (OpenWhisk's `ContainerFactory`).
pub trait ContainerFactory: Send + Sync + 'static {
    /// At startup: remove leftovers of an earlier run.
    fn init(&self) -> impl Future<Output = Result<(), PluginError>> + Send;
    fn create(
        &self,
        spec: ContainerSpec,
    ) -> impl Future<Output = Result<ContainerHandle, PluginError>> + Send;
    fn destroy(
        &self,
        container: ContainerHandle,
    ) -> impl Future<Output = Result<(), PluginError>> + Send;
    /// Pause an idle container; the default answers `UNSUPPORTED`.
    fn suspend(
        &self,
        _container: ContainerHandle,
    ) -> impl Future<Output = Result<(), PluginError>> + Send {
        async {
            Err(PluginError::unsupported(
                "suspend is not supported by this factory",
            ))
        }
    }
    /// Resume a paused container; the default answers `UNSUPPORTED`.
    fn resume(
        &self,
        _container: ContainerHandle,
    ) -> impl Future<Output = Result<(), PluginError>> + Send {
        async {
            Err(PluginError::unsupported(
                "resume is not supported by this factory",
            ))
        }
    }
    fn logs(
        &self,
        container: ContainerHandle,
        request: LogsRequest,
    ) -> impl Future<Output = Result<ContainerLogs, PluginError>> + Send;
    fn inspect(
        &self,
        container: ContainerHandle,
    ) -> impl Future<Output = Result<ContainerState, PluginError>> + Send;
    /// At shutdown: remove every container this factory created.
    fn cleanup(&self) -> impl Future<Output = Result<(), PluginError>> + Send;
}

/// Keeps activation logs (OpenWhisk's `LogStore`).
pub trait LogStore: Send + Sync + 'static {
    /// Store the logs read from an activation's container; answer the record's lines.
    fn collect(
        &self,
        context: LogContext,
        logs: ContainerLogs,
    ) -> impl Future<Output = Result<Vec<String>, PluginError>> + Send;
    /// The logs of an activation, for the API.
    fn fetch(
        &self,
        namespace: String,
        activation_id: String,
    ) -> impl Future<Output = Result<Vec<String>, PluginError>> + Send;
    /// Extra parameters for every container; none by default.
    fn container_parameters(&self) -> Result<Vec<KeyValue>, PluginError> {
        Ok(Vec::new())
    }
    /// Whether it gathers logs itself; `false` by default.
    fn collects_out_of_band(&self) -> Result<bool, PluginError> {
        Ok(false)
    }
}

/// Turns a request's credentials into an identity (OpenWhisk's `AuthenticationDirective`,
/// but several may be active, asked in the configured order).
pub trait Authenticator: Send + Sync + 'static {
    fn authenticate(
        &self,
        request: AuthRequest,
    ) -> impl Future<Output = Result<AuthOutcome, PluginError>> + Send;
    /// The scheme and challenge it advertises.
    fn mechanism(&self) -> Result<AuthMechanism, PluginError>;
}

/// A plugin's own TOML table from the host's config.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    text: String,
}

impl PluginConfig {
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into() }
    }

    /// The table as the host serialized it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Parse into the plugin's config type. Put `#[serde(deny_unknown_fields)]` on it so an
    /// operator's typo is an error, not a silently ignored key.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        toml::from_str(&self.text)
            .map_err(|e| PluginError::invalid_config(e.to_string().trim_end()))
    }
}

/// A plugin: what it provides and how to build each part from its config.
///
/// Constructors not overridden answer `NOT_PROVIDED`. Wrap the value you build with the
/// matching `into_*` function:
/// `fn load_balancer(c: PluginConfig) -> Result<LoadBalancerBox, PluginError> {
///  Ok(into_load_balancer(MyBalancer::new(c.parse()?))) }`.
pub trait Plugin: 'static {
    /// The SPI kinds it provides: reported in the metadata, checked by the host before a
    /// constructor is called.
    const PROVIDES: &'static [SpiKind];
    /// One line for `whisk plugin check`.
    const DESCRIPTION: &'static str = "";

    fn load_balancer(_config: PluginConfig) -> Result<abi::LoadBalancerBox, PluginError> {
        Err(not_provided(SpiKind::LOAD_BALANCER))
    }
    fn container_factory(_config: PluginConfig) -> Result<abi::ContainerFactoryBox, PluginError> {
        Err(not_provided(SpiKind::CONTAINER_FACTORY))
    }
    fn log_store(_config: PluginConfig) -> Result<abi::LogStoreBox, PluginError> {
        Err(not_provided(SpiKind::LOG_STORE))
    }
    fn authenticator(_config: PluginConfig) -> Result<abi::AuthenticatorBox, PluginError> {
        Err(not_provided(SpiKind::AUTHENTICATOR))
    }
    /// Capabilities added after 1.0 ([`crate::extension`]); none by default.
    fn extension(_name: &str) -> Option<ExtensionRef> {
        None
    }
}

fn not_provided(kind: SpiKind) -> PluginError {
    PluginError::not_provided(format!("this plugin does not provide the {kind} SPI"))
}

pub fn into_load_balancer(value: impl LoadBalancer) -> abi::LoadBalancerBox {
    abi::LoadBalancer_TO::from_value(LoadBalancerAdapter(value), TD_Opaque)
}
pub fn into_container_factory(value: impl ContainerFactory) -> abi::ContainerFactoryBox {
    abi::ContainerFactory_TO::from_value(ContainerFactoryAdapter(Arc::new(value)), TD_Opaque)
}
pub fn into_log_store(value: impl LogStore) -> abi::LogStoreBox {
    abi::LogStore_TO::from_value(LogStoreAdapter(Arc::new(value)), TD_Opaque)
}
pub fn into_authenticator(value: impl Authenticator) -> abi::AuthenticatorBox {
    abi::Authenticator_TO::from_value(AuthenticatorAdapter(Arc::new(value)), TD_Opaque)
}

// ---------------------------------------------------------------- the guard

/// Runs `f`; a panic becomes a `PANIC` error naming `during`.
pub fn guard<R>(
    during: &str,
    f: impl FnOnce() -> Result<R, PluginError>,
) -> RResult<R, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.into(),
        Err(payload) => RResult::RErr(PluginError::from_panic(during, payload.as_ref())),
    }
}

/// Wraps `future` for the boundary: a panic while it is polled becomes a `PANIC` error.
pub fn guard_future<R, F>(during: &'static str, future: F) -> FfiResultFuture<R>
where
    R: Send + 'static,
    F: Future<Output = Result<R, PluginError>> + Send + 'static,
{
    CatchUnwind {
        during,
        inner: Box::pin(future),
    }
    .into_ffi()
}

struct CatchUnwind<R> {
    during: &'static str,
    inner: Pin<Box<dyn Future<Output = Result<R, PluginError>> + Send>>,
}

impl<R> Future for CatchUnwind<R> {
    type Output = RResult<R, PluginError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let during = self.during;
        match catch_unwind(AssertUnwindSafe(|| self.inner.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => Poll::Ready(result.into()),
            Err(payload) => Poll::Ready(RResult::RErr(PluginError::from_panic(
                during,
                payload.as_ref(),
            ))),
        }
    }
}

// ---------------------------------------------------------------- adapters

struct LoadBalancerAdapter<T>(T);

impl<T: LoadBalancer> abi::LoadBalancer for LoadBalancerAdapter<T> {
    fn choose_invoker(
        &self,
        request: &ActivationRequest,
        invokers: RSlice<'_, InvokerState>,
    ) -> RResult<u32, PluginError> {
        guard("choose_invoker", || {
            self.0.choose_invoker(request, invokers.as_slice())
        })
    }
    fn completed(&self, completion: &Completion) -> RResult<(), PluginError> {
        guard("completed", || self.0.completed(completion))
    }
    fn active(&self) -> RResult<ActiveActivations, PluginError> {
        guard("active", || self.0.active())
    }
}

struct ContainerFactoryAdapter<T>(Arc<T>);

impl<T: ContainerFactory> abi::ContainerFactory for ContainerFactoryAdapter<T> {
    fn init(&self) -> FfiResultFuture<()> {
        let this = self.0.clone();
        guard_future("init", async move { this.init().await })
    }
    fn create(&self, spec: ContainerSpec) -> FfiResultFuture<ContainerHandle> {
        let this = self.0.clone();
        guard_future("create", async move { this.create(spec).await })
    }
    fn destroy(&self, container: ContainerHandle) -> FfiResultFuture<()> {
        let this = self.0.clone();
        guard_future("destroy", async move { this.destroy(container).await })
    }
    fn suspend(&self, container: ContainerHandle) -> FfiResultFuture<()> {
        let this = self.0.clone();
        guard_future("suspend", async move { this.suspend(container).await })
    }
    fn resume(&self, container: ContainerHandle) -> FfiResultFuture<()> {
        let this = self.0.clone();
        guard_future("resume", async move { this.resume(container).await })
    }
    fn logs(
        &self,
        container: ContainerHandle,
        request: LogsRequest,
    ) -> FfiResultFuture<ContainerLogs> {
        let this = self.0.clone();
        guard_future("logs", async move { this.logs(container, request).await })
    }
    fn inspect(&self, container: ContainerHandle) -> FfiResultFuture<ContainerState> {
        let this = self.0.clone();
        guard_future("inspect", async move { this.inspect(container).await })
    }
    fn cleanup(&self) -> FfiResultFuture<()> {
        let this = self.0.clone();
        guard_future("cleanup", async move { this.cleanup().await })
    }
}

struct LogStoreAdapter<T>(Arc<T>);

fn to_rvec(lines: Vec<String>) -> RVec<RString> {
    lines.into_iter().map(RString::from).collect()
}

impl<T: LogStore> abi::LogStore for LogStoreAdapter<T> {
    fn collect(&self, context: LogContext, logs: ContainerLogs) -> FfiResultFuture<RVec<RString>> {
        let this = self.0.clone();
        guard_future("collect", async move {
            this.collect(context, logs).await.map(to_rvec)
        })
    }
    fn fetch(&self, namespace: RString, activation_id: RString) -> FfiResultFuture<RVec<RString>> {
        let this = self.0.clone();
        guard_future("fetch", async move {
            this.fetch(namespace.into(), activation_id.into())
                .await
                .map(to_rvec)
        })
    }
    fn container_parameters(&self) -> RResult<RVec<KeyValue>, PluginError> {
        guard("container_parameters", || {
            self.0.container_parameters().map(RVec::from)
        })
    }
    fn collects_out_of_band(&self) -> RResult<bool, PluginError> {
        guard("collects_out_of_band", || self.0.collects_out_of_band())
    }
}

struct AuthenticatorAdapter<T>(Arc<T>);

impl<T: Authenticator> abi::Authenticator for AuthenticatorAdapter<T> {
    fn authenticate(&self, request: AuthRequest) -> FfiResultFuture<AuthOutcome> {
        let this = self.0.clone();
        guard_future(
            "authenticate",
            async move { this.authenticate(request).await },
        )
    }
    fn mechanism(&self) -> RResult<AuthMechanism, PluginError> {
        guard("mechanism", || self.0.mechanism())
    }
}

// ---------------------------------------------------------------- root module

/// Builds the root module for plugin `P`; called by [`crate::export_plugin!`].
#[doc(hidden)]
pub fn root_module<P: Plugin>() -> abi::PluginModRef {
    use abi_stable::prefix_type::PrefixTypeTrait;
    abi::PluginMod {
        metadata: metadata::<P>,
        attach: crate::plugin_log::attach,
        new_load_balancer: new_load_balancer::<P>,
        new_container_factory: new_container_factory::<P>,
        new_log_store: new_log_store::<P>,
        new_authenticator: new_authenticator::<P>,
        extension: extension::<P>,
    }
    .leak_into_prefix()
}

/// The plugin's package name and version, captured in the plugin crate by the export macro.
#[doc(hidden)]
pub static PLUGIN_IDENTITY: std::sync::OnceLock<(&'static str, &'static str)> =
    std::sync::OnceLock::new();

extern "C" fn metadata<P: Plugin>() -> PluginMetadata {
    let (name, version) = PLUGIN_IDENTITY
        .get()
        .copied()
        .unwrap_or(("unknown", "0.0.0"));
    PluginMetadata {
        name: name.into(),
        version: version.into(),
        description: P::DESCRIPTION.into(),
        kinds: P::PROVIDES.iter().copied().collect(),
        spi_version: env!("CARGO_PKG_VERSION").into(),
        rustc_version: env!("WHISK_SPI_RUSTC_VERSION").into(),
    }
}

fn construct<R>(
    kind: SpiKind,
    provides: &[SpiKind],
    config: abi_stable::std_types::RStr<'_>,
    build: fn(PluginConfig) -> Result<R, PluginError>,
) -> RResult<R, PluginError> {
    if !provides.contains(&kind) {
        return RResult::RErr(not_provided(kind));
    }
    let config = PluginConfig::new(config.as_str());
    guard("its constructor", move || build(config))
}

extern "C" fn new_load_balancer<P: Plugin>(
    config: abi_stable::std_types::RStr<'_>,
) -> RResult<abi::LoadBalancerBox, PluginError> {
    construct(
        SpiKind::LOAD_BALANCER,
        P::PROVIDES,
        config,
        P::load_balancer,
    )
}
extern "C" fn new_container_factory<P: Plugin>(
    config: abi_stable::std_types::RStr<'_>,
) -> RResult<abi::ContainerFactoryBox, PluginError> {
    construct(
        SpiKind::CONTAINER_FACTORY,
        P::PROVIDES,
        config,
        P::container_factory,
    )
}
extern "C" fn new_log_store<P: Plugin>(
    config: abi_stable::std_types::RStr<'_>,
) -> RResult<abi::LogStoreBox, PluginError> {
    construct(SpiKind::LOG_STORE, P::PROVIDES, config, P::log_store)
}
extern "C" fn new_authenticator<P: Plugin>(
    config: abi_stable::std_types::RStr<'_>,
) -> RResult<abi::AuthenticatorBox, PluginError> {
    construct(
        SpiKind::AUTHENTICATOR,
        P::PROVIDES,
        config,
        P::authenticator,
    )
}
extern "C" fn extension<P: Plugin>(
    name: abi_stable::std_types::RStr<'_>,
) -> abi_stable::std_types::ROption<ExtensionRef> {
    catch_unwind(|| P::extension(name.as_str()))
        .ok()
        .flatten()
        .into()
}

/// Keeps `RBox` nameable for the macro without a direct abi_stable dependency.
#[doc(hidden)]
pub type _RBox<T> = RBox<T>;

/// Exports `$plugin` (a type implementing [`Plugin`]) as this library's whisk root module.
/// One line in the plugin's `lib.rs`: `whisk_spi::export_plugin!(MyPlugin);`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        /// The whisk root module (abi_stable's library header).
        #[no_mangle]
        #[allow(non_upper_case_globals)]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::__private::LibHeader = {
            extern "C" fn __whisk_root_module() -> $crate::__private::RootModuleResult {
                $crate::__private::__call_root_module_loader(|| {
                    let _ = $crate::sdk::PLUGIN_IDENTITY
                        .set((env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")));
                    $crate::sdk::root_module::<$plugin>()
                })
            }
            // SAFETY: the constructor returns the root module type named here, and the
            // layout of that type is recorded for the host to check (`CheckTypeLayout::Yes`).
            unsafe {
                $crate::__private::LibHeader::from_constructor::<$crate::abi::PluginModRef>(
                    __whisk_root_module,
                    $crate::__private::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use std::task::{RawWaker, RawWakerVTable, Waker};

    fn noop_waker() -> Waker {
        const VTABLE: RawWakerVTable =
            RawWakerVTable::new(|p| RawWaker::new(p, &VTABLE), |_| {}, |_| {}, |_| {});
        // SAFETY: every function of the vtable ignores the data pointer.
        unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
    }

    fn poll_once<T>(future: &mut FfiResultFuture<T>) -> Poll<RResult<T, PluginError>> {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        Pin::new(future).poll(&mut cx)
    }

    #[test]
    fn guard_turns_a_panic_into_an_error_naming_the_entry_point() {
        let result: RResult<u32, PluginError> = guard("choose_invoker", || panic!("boom"));
        let err = result.into_result().unwrap_err();
        assert_eq!(err.kind, ErrorKind::PANIC);
        assert_eq!(err.message.as_str(), "panicked in choose_invoker: boom");
        let ok: RResult<u32, PluginError> = guard("x", || Ok(7));
        assert_eq!(ok.into_result().unwrap(), 7);
    }

    #[test]
    fn a_panic_while_a_future_is_polled_becomes_an_error() {
        let mut future = guard_future("create", async {
            let n: u32 = format!("{}", 1).parse().unwrap();
            if n == 1 {
                panic!("poll boom {n}");
            }
            Ok(n)
        });
        match poll_once(&mut future) {
            Poll::Ready(RResult::RErr(e)) => {
                assert_eq!(e.kind, ErrorKind::PANIC);
                assert!(
                    e.message.contains("create") && e.message.contains("poll boom 1"),
                    "{e}"
                );
            }
            _ => panic!("the panic was not turned into an error"),
        }
    }

    struct PanickingBalancer;
    impl LoadBalancer for PanickingBalancer {
        fn choose_invoker(
            &self,
            _: &ActivationRequest,
            _: &[InvokerState],
        ) -> Result<u32, PluginError> {
            panic!("no invoker today")
        }
        fn completed(&self, _: &Completion) -> Result<(), PluginError> {
            Err(PluginError::internal("not counting"))
        }
        fn active(&self) -> Result<ActiveActivations, PluginError> {
            Ok(ActiveActivations::default())
        }
    }

    #[test]
    fn the_ffi_object_answers_a_panic_as_an_error_and_keeps_working() {
        let lb = into_load_balancer(PanickingBalancer);
        let request = ActivationRequest {
            activation_id: "a".into(),
            action: "guest/x".into(),
            namespace: "guest".into(),
            kind: "nodejs:20".into(),
            limits: ActionLimits {
                timeout_ms: 1,
                memory_mb: 1,
                logs_mb: 1,
                concurrency: 1,
            },
            blackbox: false,
            pool: "default".into(),
        };
        let err = lb
            .choose_invoker(&request, RSlice::from_slice(&[]))
            .into_result()
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::PANIC);
        assert!(err.message.contains("no invoker today"), "{err}");
        // The object is still usable after the panic.
        assert_eq!(lb.active().into_result().unwrap().total, 0);
    }
}
