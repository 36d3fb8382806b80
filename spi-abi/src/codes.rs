//! Small value sets that travel across the boundary as plain numbers.
//!
//! abi_stable lets only the plugin side of a non-exhaustive enum have more variants, so a
//! set that may grow in a later 1.x release would make a newer plugin unloadable in an older
//! host. Each set here is therefore a `u32` code: a newer peer may send a code this side does
//! not know, which reads as "unknown" (`as_str()` says so) instead of being undefined
//! behaviour. Codes are never reused or renumbered.

use abi_stable::StableAbi;
use std::fmt;

macro_rules! code_type {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[repr(transparent)]
        #[derive(StableAbi, Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);

        impl $name {
            $( $(#[$vmeta])* pub const $variant: Self = Self($value); )*

            /// Every value this version of the crate knows.
            pub const KNOWN: &'static [Self] = &[$(Self::$variant),*];

            /// The lower-case name of the value, or `"unknown"` for a code this version of
            /// the crate does not know (sent by a newer peer).
            pub fn as_str(self) -> &'static str {
                match self.0 {
                    $( $value => $text, )*
                    _ => "unknown",
                }
            }

            /// Whether this version of the crate knows the code.
            pub fn is_known(self) -> bool {
                Self::KNOWN.contains(&self)
            }

            /// The value whose name is `text` (as printed by `as_str`).
            pub fn from_name(text: &str) -> Option<Self> {
                Self::KNOWN.iter().copied().find(|v| v.as_str() == text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.is_known() {
                    f.write_str(self.as_str())
                } else {
                    write!(f, "unknown({})", self.0)
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}::{}", stringify!($name), self)
            }
        }
    };
}

code_type! {
    /// An extension point of the host. One plugin may provide several.
    SpiKind {
        /// Chooses an invoker for each activation ([`crate::LoadBalancer`]).
        LOAD_BALANCER = 1 => "load-balancer",
        /// Creates and destroys action containers ([`crate::ContainerFactory`]).
        CONTAINER_FACTORY = 2 => "container-factory",
        /// Collects and serves activation logs ([`crate::LogStore`]).
        LOG_STORE = 3 => "log-store",
        /// Turns a request's credentials into an identity ([`crate::Authenticator`]).
        AUTHENTICATOR = 4 => "authenticator",
    }
}

code_type! {
    /// An invoker's health, as OpenWhisk's invoker supervision reports it.
    InvokerHealth {
        /// Healthy: takes activations.
        UP = 1 => "up",
        /// Answers, but its health-check actions fail (system errors).
        UNHEALTHY = 2 => "unhealthy",
        /// Does not answer in time.
        UNRESPONSIVE = 3 => "unresponsive",
        /// Gone (offline).
        DOWN = 4 => "down",
    }
}

impl InvokerHealth {
    /// Only a healthy invoker takes activations (OpenWhisk's `isUsable`); an unknown code
    /// from a newer host counts as not usable.
    pub fn is_usable(self) -> bool {
        self == Self::UP
    }
}

code_type! {
    /// What went wrong in a plugin call. The host maps it to an HTTP status or an
    /// activation outcome.
    ErrorKind {
        /// A failure inside the plugin or its backend.
        INTERNAL = 1 => "internal",
        /// The plugin panicked; the SDK caught it at the boundary.
        PANIC = 2 => "panic",
        /// The plugin's configuration table was refused.
        INVALID_CONFIG = 3 => "invalid-config",
        /// The plugin does not provide this SPI kind or extension.
        NOT_PROVIDED = 4 => "not-provided",
        /// The operation is not supported by this implementation (e.g. suspend).
        UNSUPPORTED = 5 => "unsupported",
        /// No invoker or container can take the activation now.
        NO_CAPACITY = 6 => "no-capacity",
        /// A backend the plugin needs (container engine, remote service) is unreachable.
        UNAVAILABLE = 7 => "unavailable",
        /// The thing asked for does not exist.
        NOT_FOUND = 8 => "not-found",
        /// The action itself is at fault (bad image, memory exhausted): an action developer
        /// error in OpenWhisk's terms.
        ACTION_DEVELOPER = 9 => "action-developer",
        /// The request handed to the plugin was malformed.
        INVALID_REQUEST = 10 => "invalid-request",
    }
}

code_type! {
    /// An authenticator's answer.
    AuthVerdict {
        /// The credentials are valid; the outcome carries the identity.
        AUTHENTICATED = 1 => "authenticated",
        /// Not this authenticator's scheme or realm: the next one in the chain is asked.
        NOT_MINE = 2 => "not-mine",
        /// This authenticator's scheme, but the credentials are wrong: the chain stops.
        REJECTED = 3 => "rejected",
    }
}

code_type! {
    /// A container's state as its factory sees it.
    ContainerStatus {
        RUNNING = 1 => "running",
        PAUSED = 2 => "paused",
        EXITED = 3 => "exited",
        /// Killed by the out-of-memory killer: the action exhausted its memory limit.
        OOM_KILLED = 4 => "oom-killed",
        /// The container no longer exists.
        GONE = 5 => "gone",
    }
}

code_type! {
    /// The level of a log event forwarded from a plugin to the host.
    LogLevel {
        ERROR = 1 => "error",
        WARN = 2 => "warn",
        INFO = 3 => "info",
        DEBUG = 4 => "debug",
        TRACE = 5 => "trace",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_codes_read_as_unknown_instead_of_failing() {
        let from_newer_peer = InvokerHealth(99);
        assert_eq!(from_newer_peer.as_str(), "unknown");
        assert!(!from_newer_peer.is_known());
        assert!(!from_newer_peer.is_usable());
        assert_eq!(from_newer_peer.to_string(), "unknown(99)");
    }

    #[test]
    fn names_round_trip() {
        for kind in SpiKind::KNOWN {
            assert_eq!(SpiKind::from_name(kind.as_str()), Some(*kind));
        }
        assert_eq!(SpiKind::from_name("nope"), None);
        assert!(InvokerHealth::UP.is_usable());
        assert!(!InvokerHealth::UNHEALTHY.is_usable());
    }
}
