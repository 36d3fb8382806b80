//! # file-logging: a LogStore plugin for whisk that keeps activation logs in files
//!
//! Each line an action writes becomes one JSON line in `<directory>/activations.log`:
//! `{"activationId","namespace","action","stream","time","message"}`. When the next line
//! would take that file past `max_file_bytes`, it is renamed `activations.log.1` (the older
//! ones shift to `.2` … up to `.<max_files>`, the oldest is dropped) and a new one begins.
//!
//! `collect` drops end-of-activation sentinels, applies the action's log limit the way
//! OpenWhisk does (the line that crosses it and all after it are dropped, and OpenWhisk's
//! notice `Logs were truncated because the total bytes size exceeds the limit of N bytes.`
//! is added on `stderr`; the same notice when the container factory already cut the logs),
//! appends the lines and flushes them before it answers, and answers the lines for the
//! activation record in OpenWhisk's format (`<time> <stream>: <message>`). `fetch` reads
//! the rotated files oldest first, then the current one, and answers an activation's lines
//! in the same format; an activation with no logs (or of another namespace) answers an
//! empty list, as OpenWhisk's `{"logs":[]}`.
//!
//! File I/O runs on blocking threads of the plugin's own tokio runtime, never on the
//! host's threads. One lock serializes appends; a fetch scans without blocking appends,
//! except while a rotation renames the files.
//!
//! Config (`[plugins.file-logging]`; an unknown key is an error):
//! - `directory` (required): where the files live; created if missing; a relative path is
//!   relative to the host process's working directory;
//! - `max_file_bytes` (default 10 MiB): the size at which `activations.log` is rotated;
//! - `max_files` (default 5): rotated files kept; 0 keeps none (a full file is discarded).

mod files;
mod record;

use files::LogFiles;
use record::{now_rfc3339, records_for, Record};
use serde::Deserialize;
use std::{future::Future, path::PathBuf, sync::Arc};
use whisk_spi::{
    abi::LogStoreBox, ContainerLogs, LogContext, LogStore, Plugin, PluginConfig, PluginError,
    SpiKind,
};

pub use record::{truncation_notice, SENTINEL};

/// The plugin's table in the host config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub directory: PathBuf,
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    #[serde(default = "default_max_files")]
    pub max_files: u32,
}

fn default_max_file_bytes() -> u64 {
    10 * 1024 * 1024
}

fn default_max_files() -> u32 {
    5
}

/// The plugin: provides the LogStore SPI.
pub struct FileLoggingPlugin;

impl Plugin for FileLoggingPlugin {
    const PROVIDES: &'static [SpiKind] = &[SpiKind::LOG_STORE];
    const DESCRIPTION: &'static str =
        "activation logs as JSON lines in size-rotated files under a directory";

    fn log_store(config: PluginConfig) -> Result<LogStoreBox, PluginError> {
        Ok(whisk_spi::into_log_store(FileLogStore::new(
            config.parse()?,
        )?))
    }
}

whisk_spi::export_plugin!(FileLoggingPlugin);

/// The LogStore over one directory.
pub struct FileLogStore {
    files: Arc<LogFiles>,
}

impl FileLogStore {
    /// Creates the directory if missing and opens its current file: a directory that cannot
    /// be written is refused here, at startup.
    pub fn new(config: Config) -> Result<Self, PluginError> {
        if config.max_file_bytes == 0 {
            return Err(PluginError::invalid_config(
                "`max_file_bytes` must be at least 1",
            ));
        }
        // Resolved once, so the files stay where they are if the working directory changes
        // and errors show the full path.
        let directory = std::path::absolute(&config.directory).map_err(|e| {
            PluginError::invalid_config(format!("`directory` {}: {e}", config.directory.display()))
        })?;
        let files = LogFiles::open(directory.clone(), config.max_file_bytes, config.max_files)
            .map_err(|e| {
                PluginError::invalid_config(format!(
                    "`directory` {}: cannot create or write {}: {e}",
                    directory.display(),
                    files::CURRENT
                ))
            })?;
        tracing::info!(
            directory = %files.directory().display(),
            max_file_bytes = config.max_file_bytes,
            max_files = config.max_files,
            "storing activation logs"
        );
        Ok(Self {
            files: Arc::new(files),
        })
    }
}

impl LogStore for FileLogStore {
    fn collect(
        &self,
        context: LogContext,
        logs: ContainerLogs,
    ) -> impl Future<Output = Result<Vec<String>, PluginError>> + Send {
        let files = self.files.clone();
        off_thread(move || {
            let records = records_for(&context, &logs, &now_rfc3339());
            let json = records
                .iter()
                .map(|r| serde_json::to_string(r).expect("a record of strings serializes"))
                .collect::<Vec<_>>();
            files.append(&json)?;
            Ok(records.iter().map(Record::formatted).collect())
        })
    }

    fn fetch(
        &self,
        namespace: String,
        activation_id: String,
    ) -> impl Future<Output = Result<Vec<String>, PluginError>> + Send {
        let files = self.files.clone();
        off_thread(move || {
            let records = files.scan(&namespace, &activation_id)?;
            Ok(records.iter().map(Record::formatted).collect())
        })
    }
}

/// Runs blocking `work` on a blocking thread of the plugin's own runtime (the host's
/// runtime is not reachable from a plugin, see `whisk_spi::runtime`).
fn off_thread<T, F>(work: F) -> impl Future<Output = Result<T, PluginError>> + Send
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, PluginError> + Send + 'static,
{
    whisk_spi::runtime::run(async move {
        tokio::task::spawn_blocking(work).await.map_err(|e| {
            if e.is_panic() {
                PluginError::from_panic("log file I/O", e.into_panic().as_ref())
            } else {
                PluginError::internal("log file I/O was cancelled")
            }
        })?
    })
}

#[cfg(test)]
mod tests;
