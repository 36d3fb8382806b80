//! The HTTP server: OpenWhisk's REST API under `/api/v1` and the info documents.
//!
//! Handlers are grouped by resource: [`actions`], [`invoke`], [`activations`]; the
//! authenticator chain is an extractor ([`auth`]); every error has OpenWhisk's
//! `{"error", "code"}` body ([`error`]).

mod actions;
mod activations;
mod auth;
pub mod error;
mod invoke;
mod query;

use crate::{
    activator::{Activator, Caller, RUNTIMES},
    config::Config,
    invoker::{Invoker, InvokerSettings},
    plugin::{Authenticator, ContainerFactory, LogStore, SelectedPlugins},
    store::Store,
};
use axum::{
    extract::{DefaultBodyLimit, State},
    middleware,
    routing::get,
    Json, Router,
};
use serde_json::{json, Value};
use std::{net::SocketAddr, sync::Arc, time::Duration};

/// What the handlers share.
pub struct AppState {
    pub config: Config,
    pub store: Arc<Store>,
    pub authenticators: Vec<Authenticator>,
    pub log_store: Arc<LogStore>,
    pub factory: Arc<ContainerFactory>,
    pub activator: Arc<Activator>,
}

impl AppState {
    /// Opens the store and sets up the invokers over the loaded plugins. Spawns the
    /// invokers' maintenance tasks, so it must run inside a tokio runtime.
    pub fn new(config: Config, plugins: SelectedPlugins, api_host: String) -> anyhow::Result<Self> {
        let store = Arc::new(Store::open(&config.server.data_dir)?);
        let SelectedPlugins {
            load_balancer,
            container_factory,
            log_store,
            authenticators,
            ..
        } = plugins;
        let factory = Arc::new(container_factory);
        let log_store = Arc::new(log_store);
        let invokers: Vec<Arc<Invoker>> = (0..config.invoker.count)
            .map(|id| {
                let invoker = Invoker::new(
                    InvokerSettings {
                        id,
                        memory_mb: config.invoker.memory_mb,
                        idle_timeout: Duration::from_secs(config.invoker.idle_timeout_s),
                        max_pending: 1024,
                        api_host: api_host.clone(),
                        pause_grace: (config.invoker.pause_grace_ms > 0)
                            .then(|| Duration::from_millis(config.invoker.pause_grace_ms)),
                    },
                    factory.clone(),
                    log_store.clone(),
                );
                invoker.spawn_maintenance();
                invoker
            })
            .collect();
        let activator = Arc::new(Activator::new(invokers, load_balancer, store.clone()));
        Ok(Self {
            config,
            store,
            authenticators,
            log_store,
            factory,
            activator,
        })
    }
}

/// Serves until Ctrl-C or SIGTERM, then lets the container factory clean up.
pub async fn run(config: Config, plugins: SelectedPlugins) -> anyhow::Result<()> {
    let listen = config.server.listen.clone();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let address = listener.local_addr()?;
    plugins.container_factory.init().await?;
    let state = Arc::new(AppState::new(config, plugins, format!("http://{address}"))?);
    let app = router(state.clone());
    tracing::info!("listening on http://{address}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    tracing::info!("shutting down: removing containers");
    if let Err(e) = state.factory.cleanup().await {
        tracing::error!("{e}");
    }
    Ok(())
}

pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.config.server.max_body_bytes;
    let api = Router::new()
        .route("/namespaces", get(namespaces))
        .route("/namespaces/{ns}/actions", get(actions::list))
        .route(
            "/namespaces/{ns}/actions/{name}",
            get(actions::get)
                .put(actions::put)
                .delete(actions::delete)
                .post(invoke::invoke),
        )
        .route("/namespaces/{ns}/activations", get(activations::list))
        .route("/namespaces/{ns}/activations/{id}", get(activations::get))
        .route(
            "/namespaces/{ns}/activations/{id}/result",
            get(activations::result),
        )
        .route(
            "/namespaces/{ns}/activations/{id}/logs",
            get(activations::logs),
        );
    Router::new()
        .route("/health", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/", get(info))
        .route("/api/v1", get(info))
        .nest("/api/v1", api)
        .fallback(|| async { error::ApiError::not_found() })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(error::transaction))
        .with_state(state)
}

async fn namespaces(caller: Caller) -> Json<Value> {
    Json(json!([caller.namespace]))
}

/// OpenWhisk's info document, plus what the configured authenticators advertise.
async fn info(State(state): State<Arc<AppState>>) -> Json<Value> {
    let mechanisms: Vec<Value> = state
        .authenticators
        .iter()
        .filter_map(|a| {
            a.mechanism().ok().map(|m| {
                json!({ "plugin": a.plugin.as_ref(), "scheme": m.scheme.as_str(), "challenge": m.challenge() })
            })
        })
        .collect();
    let mut runtimes = serde_json::Map::new();
    for (family, kind, default) in RUNTIMES {
        runtimes.insert(
            family.to_string(),
            json!([{ "kind": kind, "default": default }]),
        );
    }
    let l = &state.config.limits;
    Json(json!({
        "description": "whisk: an OpenWhisk-compatible serverless host",
        "api_paths": ["/api/v1"],
        "runtimes": runtimes,
        "limits": {
            "min_action_duration": l.timeout_ms_min,
            "max_action_duration": l.timeout_ms_max,
            "min_action_memory": u64::from(l.memory_mb_min) * 1024 * 1024,
            "max_action_memory": u64::from(l.memory_mb_max) * 1024 * 1024,
            "min_action_logs": u64::from(l.logs_mb_min) * 1024 * 1024,
            "max_action_logs": u64::from(l.logs_mb_max) * 1024 * 1024,
            "max_action_concurrency": l.concurrency_max,
        },
        "auth_mechanisms": mechanisms,
        "build": env!("CARGO_PKG_VERSION"),
    }))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
