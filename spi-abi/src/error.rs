//! The one error type every SPI call can return.
//!
//! Every SPI method returns a result, because a panic caught at the boundary needs
//! somewhere to go (DESIGN.md, decision 3). The same type serves plugin authors and the
//! host, so nothing is converted on the way.

use crate::codes::ErrorKind;
use abi_stable::{std_types::RString, StableAbi};
use std::{any::Any, fmt};

/// An error from a plugin: a kind the host acts on and a message for people.
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq, Eq)]
pub struct PluginError {
    pub kind: ErrorKind,
    pub message: RString,
}

impl PluginError {
    pub fn new(kind: ErrorKind, message: impl fmt::Display) -> Self {
        Self {
            kind,
            message: message.to_string().into(),
        }
    }
    pub fn internal(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::INTERNAL, message)
    }
    pub fn invalid_config(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::INVALID_CONFIG, message)
    }
    pub fn not_provided(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::NOT_PROVIDED, message)
    }
    pub fn unsupported(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::UNSUPPORTED, message)
    }
    pub fn no_capacity(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::NO_CAPACITY, message)
    }
    pub fn unavailable(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::UNAVAILABLE, message)
    }
    pub fn not_found(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::NOT_FOUND, message)
    }
    pub fn action_developer(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::ACTION_DEVELOPER, message)
    }
    pub fn invalid_request(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::INVALID_REQUEST, message)
    }

    /// The error a caught panic becomes; `during` names the entry point.
    pub fn from_panic(during: &str, payload: &(dyn Any + Send)) -> Self {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic payload".into());
        Self::new(ErrorKind::PANIC, format!("panicked in {during}: {what}"))
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind)
    }
}

impl fmt::Debug for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PluginError({}: {:?})", self.kind, self.message.as_str())
    }
}

impl std::error::Error for PluginError {}
