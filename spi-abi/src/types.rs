//! The entity types the SPIs exchange, FFI-safe (`#[repr(C)]`, abi_stable's `R*` types).
//!
//! Names follow OpenWhisk where a plugin needs the same thing. Every type here is part of
//! the frozen 1.0 layout: a field is never added, removed or retyped within 1.x (a newer
//! host would refuse an older plugin, see the crate docs). Values that may grow are codes
//! ([`crate::codes`]).

use crate::codes::{AuthVerdict, ContainerStatus, InvokerHealth, SpiKind};
use abi_stable::{
    std_types::{ROption, RString, RVec},
    StableAbi,
};

/// A key and a value: environment variables, challenge parameters, container options.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyValue {
    pub key: RString,
    pub value: RString,
}

impl KeyValue {
    pub fn new(key: impl Into<RString>, value: impl Into<RString>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// What a plugin file says about itself. Read before any constructor is called.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct PluginMetadata {
    /// The plugin's name: its package name and the name operators select it by.
    pub name: RString,
    /// The plugin's own version (its package version).
    pub version: RString,
    /// One line for `whisk plugin check`.
    pub description: RString,
    /// The SPI kinds it provides.
    pub kinds: RVec<SpiKind>,
    /// The whisk-spi version it was built against.
    pub spi_version: RString,
    /// The compiler that built it (`rustc --version`).
    pub rustc_version: RString,
}

// ---------------------------------------------------------------- load balancing

/// An action's limits, as OpenWhisk's `ActionLimits`.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq, Eq)]
pub struct ActionLimits {
    /// Time limit of one activation, in milliseconds.
    pub timeout_ms: u64,
    /// Memory of one container, in MB.
    pub memory_mb: u32,
    /// Log size limit of one activation, in MB.
    pub logs_mb: u32,
    /// Activations one container may run at once.
    pub concurrency: u32,
}

/// An activation waiting to be placed on an invoker.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ActivationRequest {
    pub activation_id: RString,
    /// Fully qualified action name: `namespace[/package]/name`.
    pub action: RString,
    /// The namespace the activation is accounted to.
    pub namespace: RString,
    /// The action's kind (`nodejs:20`, `python:3`, `blackbox`, …).
    pub kind: RString,
    pub limits: ActionLimits,
    /// Whether the action brings its own image.
    pub blackbox: bool,
    /// The execution pool the host routed the activation to.
    pub pool: RString,
}

/// One invoker as the host sees it when an activation is placed.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct InvokerState {
    /// The invoker's index within its pool; `choose_invoker` answers one of these.
    pub id: u32,
    pub name: RString,
    pub health: InvokerHealth,
    /// Memory of the invoker's container pool not in use, in MB.
    pub free_memory_mb: u64,
    /// The pool's whole memory budget, in MB.
    pub total_memory_mb: u64,
    /// Activations the invoker can still start without queueing.
    pub free_slots: u32,
}

/// An activation finished (or was given up) on an invoker: its capacity is free again.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Completion {
    pub activation_id: RString,
    pub invoker: u32,
    pub namespace: RString,
    /// The host gave up waiting (OpenWhisk's forced completion) rather than hearing back.
    pub forced: bool,
    /// It ended with a whisk internal error.
    pub system_error: bool,
}

/// How many activations the balancer currently counts as running.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Default)]
pub struct ActiveActivations {
    pub total: u64,
    pub per_namespace: RVec<NamespaceCount>,
    pub per_invoker: RVec<InvokerCount>,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct NamespaceCount {
    pub namespace: RString,
    pub count: u64,
}

#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq, Eq)]
pub struct InvokerCount {
    pub invoker: u32,
    pub count: u64,
}

// ---------------------------------------------------------------- containers

/// What the invoker asks a factory to create.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ContainerSpec {
    /// The invoker asking, for name prefixes (`wsk<invoker>_`) and labels.
    pub invoker: u32,
    /// A name unique on this host, chosen by the invoker.
    pub name: RString,
    /// The action's kind; the factory maps it to an image or a runtime.
    pub kind: RString,
    /// The user's image for a blackbox action; empty otherwise.
    pub image: RString,
    pub blackbox: bool,
    pub memory_mb: u32,
    /// CPU shares derived from the memory share, as OpenWhisk does.
    pub cpu_shares: u32,
    /// Environment for the action proxy.
    pub env: RVec<KeyValue>,
    /// Network to attach to; empty for the factory's configured default.
    pub network: RString,
    /// Extra container parameters, e.g. asked for by the LogStore.
    pub parameters: RVec<KeyValue>,
}

/// A created container.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerHandle {
    /// The factory's id for it.
    pub id: RString,
    pub name: RString,
    /// `host:port` where the action proxy listens.
    pub address: RString,
}

/// A container's state (used to tell an out-of-memory kill from other failures).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ContainerState {
    pub status: ContainerStatus,
    /// Exit code when it exited.
    pub exit_code: ROption<i64>,
    pub message: RString,
}

/// Which logs of a container to read.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq, Eq)]
pub struct LogsRequest {
    /// Cursor returned by the previous read (0 = from the start).
    pub since: u64,
    /// Stop after this many bytes of messages (0 = no limit).
    pub limit_bytes: u64,
    /// Read until the end-of-activation sentinel has been seen on stdout and stderr.
    pub wait_for_sentinel: bool,
    /// Give up waiting for the sentinel after this long.
    pub timeout_ms: u64,
}

/// One line a container wrote.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// RFC 3339 time with fractional seconds, UTC.
    pub time: RString,
    /// `stdout` or `stderr`.
    pub stream: RString,
    pub message: RString,
}

/// Lines read from a container.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Default)]
pub struct ContainerLogs {
    pub lines: RVec<LogLine>,
    /// Pass as `since` to read on from here.
    pub cursor: u64,
    /// The limit cut the logs short.
    pub truncated: bool,
    /// The sentinel was seen on both streams.
    pub complete: bool,
}

// ---------------------------------------------------------------- logs

/// The activation whose logs a LogStore collects.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct LogContext {
    pub activation_id: RString,
    pub namespace: RString,
    /// Fully qualified action name.
    pub action: RString,
    /// The action's log limit, in bytes.
    pub limit_bytes: u64,
    pub container: ContainerHandle,
}

// ---------------------------------------------------------------- authentication

/// A request's credentials and where it came from.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct AuthRequest {
    /// The Authorization scheme (`Basic`, `Bearer`, …), as sent.
    pub scheme: RString,
    /// The rest of the Authorization header.
    pub credentials: RString,
    pub method: RString,
    pub path: RString,
    pub client_addr: RString,
}

/// Per-identity limits; `RNone` = the host's defaults.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq, Default)]
pub struct IdentityLimits {
    pub invocations_per_minute: ROption<u32>,
    pub concurrent_invocations: ROption<u32>,
    pub fires_per_minute: ROption<u32>,
}

/// Who is calling, as OpenWhisk's `Identity`.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Identity {
    pub subject: RString,
    pub namespace: RString,
    pub namespace_uuid: RString,
    /// `READ`, `PUT`, `DELETE`, `ACTIVATE`, `REJECT`.
    pub rights: RVec<RString>,
    pub limits: IdentityLimits,
    /// A key the action may use to call back (`__OW_API_KEY`), if this mechanism has one.
    pub api_key: ROption<RString>,
}

/// An authenticator's answer; build it with [`AuthOutcome::authenticated`],
/// [`AuthOutcome::not_mine`] or [`AuthOutcome::rejected`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct AuthOutcome {
    pub verdict: AuthVerdict,
    /// Set when `verdict` is `AUTHENTICATED`.
    pub identity: ROption<Identity>,
    /// Why it was rejected (logged by the host, not shown to the caller).
    pub reason: RString,
}

impl AuthOutcome {
    pub fn authenticated(identity: Identity) -> Self {
        Self {
            verdict: AuthVerdict::AUTHENTICATED,
            identity: ROption::RSome(identity),
            reason: RString::new(),
        }
    }
    pub fn not_mine() -> Self {
        Self {
            verdict: AuthVerdict::NOT_MINE,
            identity: ROption::RNone,
            reason: RString::new(),
        }
    }
    pub fn rejected(reason: impl Into<RString>) -> Self {
        Self {
            verdict: AuthVerdict::REJECTED,
            identity: ROption::RNone,
            reason: reason.into(),
        }
    }
}

/// What an authenticator advertises: the scheme and the parameters of its challenge,
/// e.g. `Basic realm="whisk"` is scheme `Basic` with parameter `realm = whisk`.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct AuthMechanism {
    pub scheme: RString,
    pub parameters: RVec<KeyValue>,
}

impl AuthMechanism {
    /// The `WWW-Authenticate` header value.
    pub fn challenge(&self) -> String {
        let mut out = self.scheme.to_string();
        for (i, p) in self.parameters.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { ", " });
            let escaped = p.value.replace('\\', "\\\\").replace('"', "\\\"");
            out.push_str(&format!("{}=\"{}\"", p.key, escaped));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_formats_parameters_quoted() {
        let m = AuthMechanism {
            scheme: "Basic".into(),
            parameters: vec![KeyValue::new("realm", "whisk \"x\"")].into(),
        };
        assert_eq!(m.challenge(), r#"Basic realm="whisk \"x\"""#);
        let bare = AuthMechanism {
            scheme: "Bearer".into(),
            parameters: RVec::new(),
        };
        assert_eq!(bare.challenge(), "Bearer");
    }
}
