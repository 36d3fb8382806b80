//! A tokio runtime owned by the plugin (feature `tokio`).
//!
//! Tokio's runtime does not cross a dylib boundary: the plugin's copy of tokio cannot see
//! the host's runtime, so tokio I/O or timers awaited directly in a plugin future would
//! panic with "no reactor running". Run such work with [`spawn`]: it goes to a runtime
//! this plugin creates on first use (one worker thread), and the returned future, which
//! the host polls on its own runtime, resolves when the task does.

use crate::error::PluginError;
use std::{future::Future, sync::OnceLock};
use tokio::runtime::{Builder, Handle, Runtime};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The plugin's runtime, created on first use.
pub fn handle() -> &'static Handle {
    RUNTIME
        .get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("whisk-plugin")
                .enable_all()
                .build()
                .expect("the plugin's tokio runtime could not be created")
        })
        .handle()
}

/// Runs `future` on the plugin's runtime; a panic in it becomes a `PANIC` error.
pub async fn spawn<F>(future: F) -> Result<F::Output, PluginError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle().spawn(future).await.map_err(|e| {
        if e.is_panic() {
            PluginError::from_panic("a task on the plugin runtime", e.into_panic().as_ref())
        } else {
            PluginError::internal("a task on the plugin runtime was cancelled")
        }
    })
}

/// Runs a fallible `future` on the plugin's runtime.
pub async fn run<F, T>(future: F) -> Result<T, PluginError>
where
    F: Future<Output = Result<T, PluginError>> + Send + 'static,
    T: Send + 'static,
{
    spawn(future).await?
}
