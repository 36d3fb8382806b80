//! From an authorized invoke to a stored activation record: pool routing, the pool's
//! LoadBalancer, the chosen invoker, the record, the completion.
//!
//! Every invoke is one task that runs to its end whether or not anybody still waits for
//! it: a blocking caller that gives up gets a 202 and the record is still written.

use crate::{
    entity::{Action, Activation, ActivationResponse, ActivationStatus, KeyValue},
    invoker::{ActionCode, Invoker, Outcome, RunOutcome, RunRequest},
    plugin::LoadBalancer,
    store::Store,
};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::oneshot;
use whisk_spi::{ActionLimits, ActivationRequest, Completion, ErrorKind};

/// The caller of an invoke, as the authenticator chain identified it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    pub namespace: String,
    pub api_key: Option<String>,
}

/// Why an invoke could not start.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// No invoker can take it (HTTP 503).
    #[error("{0}")]
    NoCapacity(String),
    /// The load balancer failed (HTTP 500).
    #[error("{0}")]
    Internal(String),
}

/// The name of the one execution pool until pools are configurable.
pub const DEFAULT_POOL: &str = "default";

pub struct Activator {
    invokers: Vec<Arc<Invoker>>,
    balancer: LoadBalancer,
    store: Arc<Store>,
}

/// An invoke under way: its id and, when it ends, its record.
pub struct Started {
    pub activation_id: String,
    pub record: oneshot::Receiver<Activation>,
}

impl Activator {
    pub fn new(invokers: Vec<Arc<Invoker>>, balancer: LoadBalancer, store: Arc<Store>) -> Self {
        Self {
            invokers,
            balancer,
            store,
        }
    }

    pub fn invokers(&self) -> &[Arc<Invoker>] {
        &self.invokers
    }

    pub fn balancer(&self) -> &LoadBalancer {
        &self.balancer
    }

    /// Places the activation on an invoker and starts it.
    pub fn start(
        self: &Arc<Self>,
        caller: &Caller,
        action: &Action,
        params: Value,
        transaction_id: &str,
    ) -> Result<Started, InvokeError> {
        let activation_id = crate::entity::new_activation_id();
        let code = Arc::new(action_code(action));
        let request = ActivationRequest {
            activation_id: activation_id.clone().into(),
            action: code.path.clone().into(),
            namespace: action.namespace.clone().into(),
            kind: code.kind.clone().into(),
            limits: code.limits,
            blackbox: code.blackbox(),
            pool: DEFAULT_POOL.into(),
        };
        let states: Vec<_> = self.invokers.iter().map(|i| i.state()).collect();
        let chosen = self
            .balancer
            .choose_invoker(&request, &states)
            .map_err(|e| {
                if e.kind() == ErrorKind::NO_CAPACITY {
                    InvokeError::NoCapacity(e.error.message.to_string())
                } else {
                    InvokeError::Internal(e.to_string())
                }
            })?;
        let Some(invoker) = self.invokers.iter().find(|i| i.id == chosen).cloned() else {
            return Err(InvokeError::Internal(format!(
                "load balancer `{}` chose invoker {chosen}, which does not exist",
                self.balancer.plugin
            )));
        };
        let run = RunRequest {
            activation_id: activation_id.clone(),
            transaction_id: transaction_id.to_string(),
            namespace: action.namespace.clone(),
            action: code,
            params,
            api_key: caller.api_key.clone(),
        };
        let (tx, rx) = oneshot::channel();
        let this = self.clone();
        let caller = caller.clone();
        let action = action.clone();
        tokio::spawn(async move {
            let outcome = invoker.run(run).await;
            let record = record(&caller, &action, &activation_id, outcome);
            let store = this.store.clone();
            let to_store = record.clone();
            match tokio::task::spawn_blocking(move || store.put_activation(&to_store)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(activation = %activation_id, "cannot store the record: {e}")
                }
                Err(e) => {
                    tracing::error!(activation = %activation_id, "storing the record failed: {e}")
                }
            }
            let completion = Completion {
                activation_id: activation_id.clone().into(),
                invoker: invoker.id,
                namespace: action.namespace.clone().into(),
                forced: false,
                system_error: record.response.status_code == ActivationStatus::WhiskError.code(),
            };
            if let Err(e) = this.balancer.completed(&completion) {
                tracing::warn!("{e}");
            }
            let _ = tx.send(record);
        });
        Ok(Started {
            activation_id: request.activation_id.into(),
            record: rx,
        })
    }
}

/// The runtime a kind runs on (`nodejs:default` is `nodejs:20`, …); `None` if unsupported.
pub fn resolve_kind(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "nodejs:20" | "nodejs:default" => "nodejs:20",
        "python:3" | "python:default" => "python:3",
        "blackbox" => "blackbox",
        "native" => "native",
        _ => return None,
    })
}

/// The kinds this host runs, for the info document: (family, kind, is default).
pub const RUNTIMES: &[(&str, &str, bool)] = &[
    ("nodejs", "nodejs:20", true),
    ("python", "python:3", true),
    ("blackbox", "blackbox", true),
    ("native", "native", true),
];

fn action_code(action: &Action) -> ActionCode {
    let exec = &action.exec;
    let kind = resolve_kind(&exec.kind)
        .unwrap_or(exec.kind.as_str())
        .to_string();
    ActionCode {
        key: format!(
            "{}/{}@{}#{}",
            action.namespace, action.name, action.version, action.updated
        ),
        path: format!("{}/{}", action.namespace, action.name),
        name: action.name.clone(),
        kind,
        code: exec.code.clone().unwrap_or_default(),
        binary: exec.binary,
        main: exec.main.clone().unwrap_or_else(|| "main".into()),
        image: exec.image.clone(),
        limits: ActionLimits {
            timeout_ms: action.limits.timeout,
            memory_mb: action.limits.memory,
            logs_mb: action.limits.logs,
            concurrency: action.limits.concurrency,
        },
    }
}

/// The activation record, as OpenWhisk writes it.
fn record(caller: &Caller, action: &Action, activation_id: &str, run: RunOutcome) -> Activation {
    let response = match run.outcome {
        Outcome::Success => ActivationResponse::success(run.result),
        Outcome::ApplicationError => {
            ActivationResponse::new(ActivationStatus::ApplicationError, Some(run.result))
        }
        Outcome::DeveloperError => {
            ActivationResponse::new(ActivationStatus::DeveloperError, Some(run.result))
        }
        Outcome::WhiskError => {
            ActivationResponse::new(ActivationStatus::WhiskError, Some(run.result))
        }
    };
    let limits = &action.limits;
    let mut annotations = vec![
        KeyValue::new("path", format!("{}/{}", action.namespace, action.name)),
        KeyValue::new("waitTime", run.wait.as_millis() as u64),
        KeyValue::new(
            "kind",
            resolve_kind(&action.exec.kind).unwrap_or(&action.exec.kind),
        ),
        KeyValue::new("timeout", run.timed_out),
        KeyValue::new(
            "limits",
            json!({
                "timeout": limits.timeout, "memory": limits.memory,
                "logs": limits.logs, "concurrency": limits.concurrency,
            }),
        ),
    ];
    if let Some(init) = run.init {
        annotations.push(KeyValue::new("initTime", init.as_millis() as u64));
    }
    Activation {
        namespace: action.namespace.clone(),
        name: action.name.clone(),
        subject: caller.subject.clone(),
        activation_id: activation_id.to_string(),
        start: run.start_ms,
        end: run.end_ms,
        duration: run.end_ms.saturating_sub(run.start_ms),
        response,
        logs: run.logs,
        version: action.version.clone(),
        publish: false,
        annotations,
        cause: None,
    }
}
