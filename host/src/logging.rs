//! The host's log: `tracing` to stderr, filtered by `WHISK_LOG` (same syntax as
//! `RUST_LOG`; default `info`). Plugins' events arrive under target `whisk::plugin` with
//! a `plugin` field.

use std::io::IsTerminal;
use tracing_subscriber::{fmt, EnvFilter};

/// Installs the subscriber once; later calls do nothing (tests call it freely).
pub fn init() {
    let filter = EnvFilter::try_from_env("WHISK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: a log file stays plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
