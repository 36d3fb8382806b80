//! One activation on an invoker: get a container, `/init` it if new, `/run`, classify the
//! result as OpenWhisk does, collect the logs, give the container back.

use super::{pool::Grant, Container, Invoker};
use crate::plugin::PluginCallError;
use serde_json::{json, Value};
use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use whisk_spi::{
    ActionLimits, ContainerLogs, ContainerSpec, ContainerStatus, ErrorKind, KeyValue, LogContext,
    LogsRequest,
};

/// OpenWhisk's messages for the outcomes the invoker decides.
pub mod messages {
    pub fn timed_out(timeout_ms: u64, during_init: bool) -> String {
        if during_init {
            format!("The action exceeded its time limits of {timeout_ms} milliseconds during initialization.")
        } else {
            format!("The action exceeded its time limits of {timeout_ms} milliseconds.")
        }
    }
    pub const ABNORMAL_RUN: &str =
        "The action did not produce a valid response and exited unexpectedly.";
    pub const ABNORMAL_INIT: &str =
        "The action failed to generate or locate a binary. See logs for details.";
    pub const NOT_A_DICTIONARY: &str = "The action did not return a dictionary.";
    pub const MEMORY_EXHAUSTED: &str = "The action exhausted its memory and was aborted.";
}

/// The action as the invoker needs it.
#[derive(Debug, Clone)]
pub struct ActionCode {
    /// Namespace, name and version: containers are reused only for the same key.
    pub key: String,
    /// `namespace/name`.
    pub path: String,
    pub name: String,
    pub kind: String,
    pub code: String,
    pub binary: bool,
    pub main: String,
    /// The user's image, for blackbox actions.
    pub image: Option<String>,
    pub limits: ActionLimits,
}

impl ActionCode {
    pub fn blackbox(&self) -> bool {
        self.kind == "blackbox"
    }
}

/// One activation to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub activation_id: String,
    pub transaction_id: String,
    pub namespace: String,
    pub action: Arc<ActionCode>,
    pub params: Value,
    pub api_key: Option<String>,
}

/// OpenWhisk's four outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    ApplicationError,
    DeveloperError,
    WhiskError,
}

/// How an activation went.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub outcome: Outcome,
    pub result: Value,
    /// Epoch milliseconds: when the invoker started on it (init included) and finished.
    pub start_ms: u64,
    pub end_ms: u64,
    /// Time spent waiting for a container.
    pub wait: Duration,
    /// Set on a cold start: how long `/init` took (container creation counts as wait).
    pub init: Option<Duration>,
    pub timed_out: bool,
    pub logs: Vec<String>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn error_result(message: &str) -> Value {
    json!({ "error": message })
}

/// Classifies what `/run` answered, as OpenWhisk does: a JSON object is a success unless
/// it has an `error` field (an application error); anything else is the developer's.
pub fn classify(status: u16, body: &[u8]) -> (Outcome, Value) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    match (status, parsed) {
        (200, Some(Value::Object(map))) => {
            if map.contains_key("error") {
                (Outcome::ApplicationError, Value::Object(map))
            } else {
                (Outcome::Success, Value::Object(map))
            }
        }
        (200, _) => (
            Outcome::DeveloperError,
            error_result(messages::NOT_A_DICTIONARY),
        ),
        (_, Some(Value::Object(map))) if map.get("error").is_some() => {
            (Outcome::DeveloperError, json!({ "error": map["error"] }))
        }
        _ => (
            Outcome::DeveloperError,
            error_result(messages::ABNORMAL_RUN),
        ),
    }
}

/// When `/init` of a new container started and how long it took.
struct Init {
    start_ms: u64,
    started: Instant,
    took: Duration,
}

/// The failure of a step before `/run`, as an outcome.
struct Failed {
    outcome: Outcome,
    result: Value,
    timed_out: bool,
}

impl Failed {
    fn from_factory(invoker: &Invoker, e: &PluginCallError) -> Self {
        invoker.note_factory_error(e.kind());
        let outcome = if e.kind() == ErrorKind::ACTION_DEVELOPER {
            Outcome::DeveloperError
        } else {
            Outcome::WhiskError
        };
        tracing::warn!(invoker = %invoker.name, "{e}");
        let message = if outcome == Outcome::DeveloperError {
            e.error.message.to_string()
        } else {
            format!("Failed to start a container: {}", e.error.message)
        };
        Self {
            outcome,
            result: error_result(&message),
            timed_out: false,
        }
    }
}

impl Invoker {
    /// Runs one activation to its end. Never fails: every failure is an outcome.
    pub async fn run(self: &Arc<Self>, request: RunRequest) -> RunOutcome {
        self.pending.fetch_add(1, Ordering::Relaxed);
        let queued_at = Instant::now();
        let outcome = self.run_inner(&request, queued_at).await;
        self.pending.fetch_sub(1, Ordering::Relaxed);
        outcome
    }

    async fn run_inner(self: &Arc<Self>, request: &RunRequest, queued_at: Instant) -> RunOutcome {
        let action = &request.action;
        let (container, init) = match self.acquire(request).await {
            Ok(pair) => pair,
            Err(failed) => {
                let now = now_ms();
                return RunOutcome {
                    outcome: failed.outcome,
                    result: failed.result,
                    start_ms: now,
                    end_ms: now,
                    wait: queued_at.elapsed(),
                    init: None,
                    timed_out: failed.timed_out,
                    logs: Vec::new(),
                };
            }
        };
        let (start_ms, wait, init_time) = match init {
            Some((start_ms, wait, init_time)) => (start_ms, wait, Some(init_time)),
            None => (now_ms(), queued_at.elapsed(), None),
        };
        let timeout_ms = action.limits.timeout_ms;
        let deadline = start_ms + timeout_ms;
        let mut body = json!({
            "value": request.params,
            "namespace": request.namespace,
            "action_name": format!("/{}", action.path),
            "activation_id": request.activation_id,
            "transaction_id": request.transaction_id,
            "deadline": deadline.to_string(),
        });
        if let Some(key) = &request.api_key {
            body["api_key"] = Value::String(key.clone());
        }
        let body = serde_json::to_vec(&body).expect("JSON of plain values");
        let remaining =
            Duration::from_millis(timeout_ms).saturating_sub(init_time.unwrap_or_default());
        let answer = tokio::time::timeout(remaining, container.client.post("/run", body)).await;
        let (outcome, result, timed_out, keep) = match answer {
            Err(_) => (
                Outcome::DeveloperError,
                error_result(&messages::timed_out(timeout_ms, false)),
                true,
                false,
            ),
            Ok(Ok((200, body))) => {
                let (outcome, result) = classify(200, &body);
                (outcome, result, false, true)
            }
            Ok(Ok((status, body))) => {
                // The proxy says the action broke down: the container is not reused, and
                // an out-of-memory kill (of the action or the container) is named as such.
                let (outcome, result) = classify(status, &body);
                let result = if self.oom_killed(&container).await {
                    error_result(messages::MEMORY_EXHAUSTED)
                } else {
                    result
                };
                (outcome, result, false, false)
            }
            Ok(Err(e)) => {
                tracing::debug!(container = %container.handle.name, "{e}");
                let message = if self.oom_killed(&container).await {
                    messages::MEMORY_EXHAUSTED
                } else {
                    messages::ABNORMAL_RUN
                };
                (Outcome::DeveloperError, error_result(message), false, false)
            }
        };
        let end_ms = now_ms();
        let logs = self
            .collect_logs(request, &container, !timed_out && keep)
            .await;
        if keep {
            container.release();
            self.capacity_freed.notify_waiters();
            self.pause_when_idle(&container);
        } else {
            self.discard(&container);
        }
        RunOutcome {
            outcome,
            result,
            start_ms,
            end_ms,
            wait,
            init: init_time,
            timed_out,
            logs,
        }
    }

    /// Whether the factory saw the container (or a process in it) killed for memory.
    async fn oom_killed(&self, container: &Container) -> bool {
        matches!(
            self.factory.inspect(container.handle.clone()).await,
            Ok(state) if state.status == ContainerStatus::OOM_KILLED
        )
    }

    /// A container holding the action with a slot taken, and for a cold start when it
    /// started, the wait before it, and the init time.
    async fn acquire(
        self: &Arc<Self>,
        request: &RunRequest,
    ) -> Result<(Arc<Container>, Option<(u64, Duration, Duration)>), Failed> {
        let action = &request.action;
        let need = action.limits.memory_mb;
        if u64::from(need) > self.settings.memory_mb {
            return Err(Failed {
                outcome: Outcome::WhiskError,
                result: error_result(&format!(
                    "The action needs {need} MB, more than this invoker's container pool has ({} MB).",
                    self.settings.memory_mb
                )),
                timed_out: false,
            });
        }
        let queued_at = Instant::now();
        loop {
            let notified = self.capacity_freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let grant = self
                .lock_pool()
                .grant(&action.key, need, self.settings.memory_mb);
            match grant {
                Grant::Warm(container) => {
                    if let Err(e) = self.ready(&container).await {
                        tracing::warn!(invoker = %self.name, "{e}");
                        self.discard(&container);
                        continue;
                    }
                    return Ok((container, None));
                }
                Grant::Cold { evicted } => {
                    for c in evicted {
                        self.destroy_later(c.handle.clone());
                    }
                    let result = self.cold_start(request).await;
                    self.lock_pool().reserved_mb -= u64::from(need);
                    return match result {
                        Ok((container, init)) => {
                            self.lock_pool().containers.push(container.clone());
                            // As OpenWhisk: the wait covers the queue and the container's
                            // creation, initTime only `/init`, and the activation starts
                            // with `/init`.
                            let wait = init.started.duration_since(queued_at);
                            Ok((container, Some((init.start_ms, wait, init.took))))
                        }
                        Err(failed) => {
                            self.capacity_freed.notify_waiters();
                            Err(failed)
                        }
                    };
                }
                Grant::Wait => notified.await,
            }
        }
    }

    /// Creates a container for the action and initializes it.
    async fn cold_start(
        self: &Arc<Self>,
        request: &RunRequest,
    ) -> Result<(Arc<Container>, Init), Failed> {
        let action = &request.action;
        let serial = self.containers_created.fetch_add(1, Ordering::Relaxed);
        let mut parameters = Vec::new();
        match self.log_store.container_parameters() {
            Ok(p) => parameters = p,
            Err(e) => tracing::warn!("{e}"),
        }
        let spec = ContainerSpec {
            invoker: self.id,
            name: format!("{}_{}", sanitize(&action.path), serial).into(),
            kind: action.kind.clone().into(),
            image: action.image.clone().unwrap_or_default().into(),
            blackbox: action.blackbox(),
            memory_mb: action.limits.memory_mb,
            cpu_shares: cpu_shares(action.limits.memory_mb, self.settings.memory_mb),
            env: vec![KeyValue::new(
                "__OW_API_HOST",
                self.settings.api_host.clone(),
            )]
            .into(),
            network: "".into(),
            parameters: parameters.into(),
        };
        let handle = self
            .factory
            .create(spec)
            .await
            .map_err(|e| Failed::from_factory(self, &e))?;
        if self.health() != whisk_spi::InvokerHealth::UP {
            self.set_health(whisk_spi::InvokerHealth::UP);
        }
        let container = Arc::new(Container::new(
            handle,
            action.key.clone(),
            action.limits.memory_mb,
            action.limits.concurrency,
        ));
        let init = json!({ "value": {
            "name": action.name,
            "main": action.main,
            "code": action.code,
            "binary": action.binary,
            "env": {},
        }});
        let body = serde_json::to_vec(&init).expect("JSON of plain values");
        let timeout = Duration::from_millis(action.limits.timeout_ms);
        let init = Init {
            start_ms: now_ms(),
            started: Instant::now(),
            took: Duration::ZERO,
        };
        let failed = match tokio::time::timeout(timeout, container.client.post("/init", body)).await
        {
            Ok(Ok((200, _))) => None,
            Ok(Ok((status, body))) => {
                let (_, result) = classify(status, &body);
                let result = if status == 200 {
                    result
                } else {
                    result_or(result, messages::ABNORMAL_INIT)
                };
                Some(Failed {
                    outcome: Outcome::DeveloperError,
                    result,
                    timed_out: false,
                })
            }
            Ok(Err(e)) => {
                tracing::debug!("init: {e}");
                Some(Failed {
                    outcome: Outcome::DeveloperError,
                    result: error_result(messages::ABNORMAL_INIT),
                    timed_out: false,
                })
            }
            Err(_) => Some(Failed {
                outcome: Outcome::DeveloperError,
                result: error_result(&messages::timed_out(action.limits.timeout_ms, true)),
                timed_out: true,
            }),
        };
        match failed {
            None => Ok((
                container,
                Init {
                    took: init.started.elapsed(),
                    ..init
                },
            )),
            Some(failed) => {
                // Keep the init's output in the service log; the container goes away.
                let logs = self
                    .factory
                    .logs(container.handle.clone(), logs_request(0, 0, false))
                    .await
                    .map(|l| {
                        l.lines
                            .iter()
                            .map(|l| l.message.to_string())
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default();
                if !logs.is_empty() {
                    tracing::info!(action = %action.path, "init failed; container output:\n{logs}");
                }
                self.destroy_later(container.handle.clone());
                Err(failed)
            }
        }
    }

    /// Reads the activation's lines from the container and hands them to the LogStore.
    async fn collect_logs(
        &self,
        request: &RunRequest,
        container: &Container,
        wait_for_sentinel: bool,
    ) -> Vec<String> {
        let limit_bytes = u64::from(request.action.limits.logs_mb) * 1024 * 1024;
        let context = LogContext {
            activation_id: request.activation_id.clone().into(),
            namespace: request.namespace.clone().into(),
            action: request.action.path.clone().into(),
            limit_bytes,
            container: container.handle.clone(),
        };
        let out_of_band = self.log_store.collects_out_of_band().unwrap_or(false);
        let logs = if out_of_band || container.concurrency > 1 {
            // Lines of concurrent activations interleave: they cannot be told apart.
            ContainerLogs::default()
        } else {
            let since = container.usage().log_cursor;
            match self
                .factory
                .logs(
                    container.handle.clone(),
                    logs_request(since, limit_bytes, wait_for_sentinel),
                )
                .await
            {
                Ok(logs) => {
                    container.usage().log_cursor = logs.cursor;
                    logs
                }
                Err(e) => {
                    tracing::warn!("{e}");
                    ContainerLogs::default()
                }
            }
        };
        match self.log_store.collect(context, logs).await {
            Ok(lines) => lines,
            Err(e) => {
                tracing::warn!("{e}");
                vec![format!("Logs could not be collected: {}", e.error.message)]
            }
        }
    }
}

fn logs_request(since: u64, limit_bytes: u64, wait_for_sentinel: bool) -> LogsRequest {
    LogsRequest {
        since,
        limit_bytes,
        wait_for_sentinel,
        timeout_ms: 2_000,
    }
}

fn result_or(result: Value, fallback: &str) -> Value {
    if result.get("error").is_some() {
        result
    } else {
        error_result(fallback)
    }
}

/// A container name part from an action path.
fn sanitize(path: &str) -> String {
    path.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// CPU shares in proportion to the memory share, as OpenWhisk does (1024 = one whole pool).
fn cpu_shares(memory_mb: u32, pool_mb: u64) -> u32 {
    ((u64::from(memory_mb) * 1024) / pool_mb.max(1)).clamp(2, 1024) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_openwhisk() {
        assert_eq!(classify(200, br#"{"ok":true}"#).0, Outcome::Success);
        let (o, r) = classify(200, br#"{"error":"bad input"}"#);
        assert_eq!(o, Outcome::ApplicationError);
        assert_eq!(r["error"], "bad input");
        let (o, r) = classify(200, b"[1,2]");
        assert_eq!(o, Outcome::DeveloperError);
        assert_eq!(r["error"], messages::NOT_A_DICTIONARY);
        let (o, r) = classify(
            502,
            br#"{"error":"The action did not return a dictionary."}"#,
        );
        assert_eq!(o, Outcome::DeveloperError);
        assert_eq!(r["error"], messages::NOT_A_DICTIONARY);
        let (o, r) = classify(500, b"garbage");
        assert_eq!(o, Outcome::DeveloperError);
        assert_eq!(r["error"], messages::ABNORMAL_RUN);
    }

    #[test]
    fn timeout_message_is_openwhisks() {
        assert_eq!(
            messages::timed_out(1000, false),
            "The action exceeded its time limits of 1000 milliseconds."
        );
    }

    #[test]
    fn cpu_shares_follow_memory_share() {
        assert_eq!(cpu_shares(256, 1024), 256);
        assert_eq!(cpu_shares(1, 100_000), 2);
        assert_eq!(cpu_shares(512, 512), 1024);
    }
}
