//! `action-proxy`: whisk's action runtime, speaking OpenWhisk's action container protocol
//! (`POST /init`, `POST /run`) inside a container or as a plain process.
//!
//! One process serves one action. Node.js and Python actions run in one long-lived
//! launcher process (OpenWhisk's ActionLoop, see `action_loop.rs`); native actions run as
//! a fresh process per activation (OpenWhisk's dockerskeleton convention, see `native.rs`).
//! The proxy's stdout and stderr are the action's logs, each activation closed by a sentinel
//! line (see `logs.rs`).
//!
//! The proxy's own diagnostics go to stderr, where a log collector would take them for
//! action output, so by default it says nothing but fatal startup errors. `ACTION_PROXY_LOG`
//! (a level: error, warn, info, debug, trace) turns more on for debugging; `RUST_LOG` is deliberately not read, as a
//! host run with `RUST_LOG=debug` would otherwise fill every action's logs.
//!
//! Runs on a current-thread runtime: activations are serialized anyway, and the thread that
//! forks children must outlive them for their parent-death signal (see `child.rs`).

mod action_loop;
mod child;
mod config;
mod kind;
mod logs;
mod native;
mod protocol;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tracing::level_filters::LevelFilter;

use crate::config::Command;
use crate::server::{Proxy, ProxySettings};

fn main() -> ExitCode {
    let config = match config::parse(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(Command::Serve(config)) => config,
        Ok(Command::Help) => {
            print!("{}", config::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("action-proxy: {message}");
            return ExitCode::from(2);
        }
    };
    init_diagnostics();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("action-proxy: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("action-proxy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_diagnostics() {
    let level = std::env::var("ACTION_PROXY_LOG")
        .ok()
        .and_then(|text| text.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::OFF);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

async fn serve(config: config::Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
    let workdir = WorkDir::create().context("cannot create the action's directory")?;
    tracing::info!(
        address = %listener.local_addr()?,
        kind = config.kind.as_deref().unwrap_or("(from code)"),
        workdir = %workdir.0.display(),
        "serving"
    );
    let proxy = Arc::new(Proxy::new(ProxySettings {
        kind: config.kind,
        node: config.node,
        python: config.python,
        workdir: workdir.0.clone(),
    }));
    let app = server::router(proxy);
    tokio::select! {
        served = axum::serve(listener, app) => served.context("the HTTP server failed")?,
        () = shutdown_requested() => tracing::info!("shutting down"),
    }
    // Returning removes the action's files (`workdir`); `main` then drops the runtime and
    // with it the action's process (kill on drop; on Linux the parent-death signal would
    // kill it anyway).
    Ok(())
}

/// SIGTERM or SIGINT. No graceful drain: an activation in progress is abandoned, as the host
/// is tearing the action down anyway.
async fn shutdown_requested() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// The directory holding the action's code and launcher, private to this process and removed
/// when it ends normally.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create() -> std::io::Result<WorkDir> {
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(format!("whisk-action-{}", std::process::id()));
        // A leftover of an earlier process with the same pid is not ours to keep.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(WorkDir(path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
