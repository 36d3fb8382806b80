//! The HTTP server: the REST API under `/api/v1` and the info documents.

use crate::{config::Config, plugin::SelectedPlugins};
use axum::{routing::get, Json, Router};
use std::sync::Arc;

/// What the handlers share.
pub struct AppState {
    pub config: Config,
    pub plugins: SelectedPlugins,
}

/// Serves until Ctrl-C or SIGTERM, then lets the container factory clean up.
pub async fn run(config: Config, plugins: SelectedPlugins) -> anyhow::Result<()> {
    plugins.container_factory.init().await?;
    let listen = config.server.listen.clone();
    let state = Arc::new(AppState { config, plugins });
    let app = router(state.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("shutting down");
    if let Err(e) = state.plugins.container_factory.cleanup().await {
        tracing::error!("{e}");
    }
    Ok(())
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/", get(info))
        .route("/api/v1", get(info))
        .with_state(state)
}

async fn info(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> Json<serde_json::Value> {
    let mechanisms: Vec<serde_json::Value> = state
        .plugins
        .authenticators
        .iter()
        .filter_map(|a| {
            a.mechanism().ok().map(|m| {
                serde_json::json!({
                    "plugin": a.plugin.as_ref(),
                    "scheme": m.scheme.as_str(),
                    "challenge": m.challenge(),
                })
            })
        })
        .collect();
    Json(serde_json::json!({
        "description": "whisk: an OpenWhisk-compatible serverless host",
        "api_paths": ["/api/v1"],
        "auth_mechanisms": mechanisms,
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
