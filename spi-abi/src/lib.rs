//! # whisk-spi: the stable plugin interface of whisk
//!
//! whisk is a single-node, OpenWhisk-compatible serverless host whose extension points are
//! plugins: shared libraries the host loads at startup, as its config chooses. This crate
//! is the one thing a plugin author depends on. It holds
//!
//! - the SPIs as ordinary Rust traits: [`LoadBalancer`], [`ContainerFactory`],
//!   [`LogStore`], [`Authenticator`], plus [`Plugin`] (what a file provides and how to build
//!   each part from its config);
//! - the FFI-safe entity types they exchange ([`types`], [`codes`], [`PluginError`]);
//! - [`export_plugin!`], which exports a plugin in one line; every entry point it builds
//!   catches panics and returns an error instead (a panic never crosses the boundary);
//! - the binary interface the host loads ([`abi`]) and the lookup of later capabilities
//!   by name ([`extension`]).
//!
//! ## Why the interface looks like this
//! The boundary is [abi_stable]: layouts are checked when a plugin loads, so a plugin
//! built against an incompatible interface is refused with an error rather than crashing
//! the host. Calls that only compute are synchronous; calls that wait on I/O return
//! `async_ffi` futures that the host awaits on its own runtime (see [`runtime`] for why a
//! plugin owns its own tokio runtime).
//!
//! ## Versioning
//! abi_stable allows only the plugin side of a type to be newer: a host whose copy of the
//! root module or of an SPI trait has one more field than the plugin's refuses that plugin.
//! So everything released in 1.0 stays exactly as it is for all of 1.x; a minor release
//! adds capabilities as new [`extension`] types, and value sets that may grow are codes
//! with an "unknown" reading. A 2.0 plugin is refused by a 1.x host with a version error.
//! See `README.md` for the full policy.

pub mod abi;
pub mod codes;
pub mod container_logs;
mod error;
pub mod extension;
pub mod layout;
mod plugin_log;
#[cfg(feature = "tokio")]
pub mod runtime;
pub mod sdk;
pub mod types;

pub use codes::{AuthVerdict, ContainerStatus, ErrorKind, InvokerHealth, LogLevel, SpiKind};
pub use error::PluginError;
pub use sdk::{
    into_authenticator, into_container_factory, into_load_balancer, into_log_store, Authenticator,
    ContainerFactory, LoadBalancer, LogStore, Plugin, PluginConfig,
};
pub use types::*;

/// The interface version this crate defines (its package version).
pub const SPI_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Re-exported for plugin authors who build FFI values by hand.
pub use abi_stable::std_types;

#[doc(hidden)]
pub mod __private {
    pub use abi_stable::library::{
        __call_root_module_loader, CheckTypeLayout, LibHeader, RootModuleResult,
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn export_macro_uses_abi_stables_symbol_name() {
        // The macro spells the symbol out because `#[no_mangle]` needs an identifier.
        assert_eq!(
            crate::abi::ROOT_MODULE_SYMBOL,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }
}

/// The plugin author's guide (`README.md`): its example must compile.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod plugin_guide {}
