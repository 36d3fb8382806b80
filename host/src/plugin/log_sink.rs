//! Host side of log forwarding: a plugin's `tracing` events land in the host's log under
//! the plugin's name (each plugin has its own copy of tracing's statics, so without this
//! sink its events would vanish; DESIGN.md decision 7).

use abi_stable::{sabi_trait::TD_Opaque, std_types::RStr};
use tracing::level_filters::LevelFilter;
use whisk_spi::{
    abi::{HostServices, LogSink, LogSink_TO, PluginModRef},
    LogLevel,
};

struct HostLogSink {
    plugin: String,
}

impl LogSink for HostLogSink {
    fn log(&self, level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
        let (plugin, target, message) = (self.plugin.as_str(), target.as_str(), message.as_str());
        match level {
            LogLevel::ERROR => {
                tracing::error!(target: "whisk::plugin", plugin, module = target, "{message}")
            }
            LogLevel::WARN => {
                tracing::warn!(target: "whisk::plugin", plugin, module = target, "{message}")
            }
            LogLevel::INFO => {
                tracing::info!(target: "whisk::plugin", plugin, module = target, "{message}")
            }
            LogLevel::DEBUG => {
                tracing::debug!(target: "whisk::plugin", plugin, module = target, "{message}")
            }
            _ => tracing::trace!(target: "whisk::plugin", plugin, module = target, "{message}"),
        }
    }
}

fn max_level() -> LogLevel {
    match LevelFilter::current() {
        LevelFilter::OFF => LogLevel(0),
        LevelFilter::ERROR => LogLevel::ERROR,
        LevelFilter::WARN => LogLevel::WARN,
        LevelFilter::INFO => LogLevel::INFO,
        LevelFilter::DEBUG => LogLevel::DEBUG,
        _ => LogLevel::TRACE,
    }
}

/// Hands `module` its sink, named after `plugin`.
pub(super) fn attach(module: PluginModRef, plugin: &str) {
    let sink = LogSink_TO::from_value(
        HostLogSink {
            plugin: plugin.to_string(),
        },
        TD_Opaque,
    );
    (module.attach())(HostServices {
        log_sink: sink,
        max_level: max_level(),
    });
}
