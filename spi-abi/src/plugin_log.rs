//! Plugin side of log forwarding.
//!
//! Each plugin file carries its own copy of tracing's statics, so its events would reach no
//! subscriber the host installed (DESIGN.md, decision 7). When the host attaches, this
//! installs inside the plugin a subscriber that formats each event (message and fields as
//! text) and hands it to the host's sink, and a panic hook that reports panics the same way
//! instead of writing to stderr.

use crate::{
    abi::{HostServices, LogSinkBox},
    codes::LogLevel,
};
use abi_stable::std_types::RStr;
use std::{fmt::Write as _, sync::RwLock};
use tracing::{field::Field, Event, Level, Subscriber};
use tracing_subscriber::{layer::Context, prelude::*, Layer};

static SINK: RwLock<Option<(LogSinkBox, LogLevel)>> = RwLock::new(None);

pub(crate) extern "C" fn attach(host: HostServices) {
    // Nothing here may unwind into the host.
    let _ = std::panic::catch_unwind(move || {
        let first = {
            let mut sink = SINK.write().unwrap_or_else(|e| e.into_inner());
            let first = sink.is_none();
            *sink = Some((host.log_sink, host.max_level));
            first
        };
        if first {
            let _ = tracing_subscriber::registry().with(Forward).try_init();
            std::panic::set_hook(Box::new(|info| {
                let location = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let payload = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                emit(
                    LogLevel::ERROR,
                    "panic",
                    &format!("panicked{location}: {payload}"),
                );
            }));
        }
    });
}

fn emit(level: LogLevel, target: &str, message: &str) {
    let sink = SINK.read().unwrap_or_else(|e| e.into_inner());
    if let Some((sink, max)) = sink.as_ref() {
        if level.0 <= max.0 {
            sink.log(level, RStr::from_str(target), RStr::from_str(message));
        }
    }
}

fn level_code(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::ERROR,
        Level::WARN => LogLevel::WARN,
        Level::INFO => LogLevel::INFO,
        Level::DEBUG => LogLevel::DEBUG,
        _ => LogLevel::TRACE,
    }
}

struct Forward;

impl<S: Subscriber> Layer<S> for Forward {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        let sink = SINK.read().unwrap_or_else(|e| e.into_inner());
        sink.as_ref()
            .is_some_and(|(_, max)| level_code(metadata.level()).0 <= max.0)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut text = EventText::default();
        event.record(&mut text);
        emit(
            level_code(event.metadata().level()),
            event.metadata().target(),
            &text.finish(),
        );
    }
}

/// The message first, then `key=value` for each other field.
#[derive(Default)]
struct EventText {
    message: String,
    fields: String,
}

impl EventText {
    fn finish(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else if self.message.is_empty() {
            self.fields.trim_start().to_string()
        } else {
            format!("{}{}", self.message, self.fields)
        }
    }
}

impl tracing::field::Visit for EventText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}
