//! The HTTP endpoints and the one action this process serves.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::sync::Mutex;

use crate::action_loop::{Launch, LoopChild};
use crate::kind::{self, Kind};
use crate::logs;
use crate::native::NativeAction;
use crate::protocol::{InitRequest, JsonObject, ProxyError, RunRequest};

const NODE_LAUNCHER: &str = include_str!("../launchers/launcher.js");
const PYTHON_LAUNCHER: &str = include_str!("../launchers/launcher.py");

/// Settings that do not come over HTTP.
pub struct ProxySettings {
    /// `__OW_KIND`, if the host set it.
    pub kind: Option<String>,
    /// Interpreters, `node` and `python3` from PATH unless overridden.
    pub node: String,
    pub python: String,
    /// Where the action's files go; created by the caller, owned by it.
    pub workdir: PathBuf,
}

pub struct Proxy {
    settings: ProxySettings,
    /// Held for a whole `/init`, so that two concurrent ones cannot both succeed.
    init_turn: Mutex<()>,
    action: OnceLock<Action>,
    /// Held for a whole activation, sentinels included: activations never overlap, so each
    /// one's logs sit between two sentinels.
    run_turn: Mutex<()>,
}

enum Action {
    Loop(Box<LoopChild>),
    Native(NativeAction),
}

pub fn router(proxy: Arc<Proxy>) -> Router {
    Router::new()
        .route("/init", post(init))
        .route("/run", post(run))
        // Action code may be tens of MB; the host is the only client.
        .layer(DefaultBodyLimit::disable())
        .with_state(proxy)
}

async fn init(State(proxy): State<Arc<Proxy>>, body: Bytes) -> Response {
    respond(proxy.init(&body).await)
}

async fn run(State(proxy): State<Arc<Proxy>>, body: Bytes) -> Response {
    // A task of its own: if the host gives up on the request, the activation still runs to
    // its end, so the launcher stays in step and the sentinels are written.
    match tokio::spawn(async move { proxy.run(&body).await }).await {
        Ok(outcome) => respond(outcome),
        Err(e) => ProxyError::ActionFailed(format!("the proxy failed: {e}")).into_response(),
    }
}

fn respond(outcome: Result<JsonObject, ProxyError>) -> Response {
    match outcome {
        Ok(object) => object.into_response(),
        Err(e) => e.into_response(),
    }
}

impl Proxy {
    pub fn new(settings: ProxySettings) -> Proxy {
        Proxy {
            settings,
            init_turn: Mutex::new(()),
            action: OnceLock::new(),
            run_turn: Mutex::new(()),
        }
    }

    async fn init(&self, body: &[u8]) -> Result<JsonObject, ProxyError> {
        let _turn = self.init_turn.lock().await;
        if self.action.get().is_some() {
            return Err(ProxyError::AlreadyInitialized);
        }
        let request: InitRequest = serde_json::from_slice(body)
            .map_err(|e| ProxyError::BadRequest(format!("Invalid /init body: {e}")))?;
        let value = &request.value;
        let code = kind::action_code(value)?;
        let kind = Kind::select(self.settings.kind.as_deref(), &code)?;
        let env = value.env_vars();
        let workdir = &self.settings.workdir;
        let main = value.main_name();
        let action = match kind {
            Kind::Native => Action::Native(NativeAction::install(workdir, &code, env)?),
            Kind::Node => {
                let launch =
                    self.launch(&self.settings.node, "js", NODE_LAUNCHER, &code, main, env)?;
                Action::Loop(Box::new(LoopChild::start(launch).await?))
            }
            Kind::Python => {
                let launch = self.launch(
                    &self.settings.python,
                    "py",
                    PYTHON_LAUNCHER,
                    &code,
                    main,
                    env,
                )?;
                Action::Loop(Box::new(LoopChild::start(launch).await?))
            }
        };
        if self.action.set(action).is_err() {
            unreachable!("init_turn is held, so no other init can have set the action");
        }
        Ok(JsonObject::ok())
    }

    /// Writes the launcher and the code next to each other and says how to start them.
    fn launch(
        &self,
        program: &str,
        extension: &str,
        launcher: &str,
        code: &[u8],
        main: &str,
        env: Vec<(String, String)>,
    ) -> Result<Launch, ProxyError> {
        let workdir = &self.settings.workdir;
        let launcher_file = write(
            workdir,
            &format!("launcher.{extension}"),
            launcher.as_bytes(),
        )?;
        let code_file = write(workdir, &format!("action.{extension}"), code)?;
        Ok(Launch {
            program: program.to_string(),
            launcher: launcher_file,
            code_file,
            main: main.to_string(),
            workdir: workdir.clone(),
            env,
        })
    }

    async fn run(&self, body: &[u8]) -> Result<JsonObject, ProxyError> {
        let action = self.action.get().ok_or(ProxyError::NotInitialized)?;
        let request = RunRequest::parse(body)?;
        let _turn = self.run_turn.lock().await;
        let outcome = match action {
            Action::Loop(child) => {
                let message = serde_json::Value::Object(request.message).to_string();
                child.run(&message).await
            }
            Action::Native(native) => native.run(&request).await,
        };
        logs::end_activation();
        outcome
    }
}

fn write(dir: &Path, name: &str, contents: &[u8]) -> Result<PathBuf, ProxyError> {
    let path = dir.join(name);
    std::fs::write(&path, contents)
        .map_err(|e| ProxyError::InitFailed(format!("Cannot write {}: {e}", path.display())))?;
    Ok(path)
}
