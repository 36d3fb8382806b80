//! The ContainerFactory: each "container" is an action-proxy process group on a loopback
//! port.
//!
//! All process and timer work runs on the plugin's own tokio runtime
//! (`whisk_spi::runtime::run`): the host's runtime is not visible inside a cdylib.

use crate::{
    capture::LogCapture,
    config::Settings,
    pid_files::{self, Instance, PidRecord},
    process::{self, Signal},
};
use std::{
    collections::HashMap,
    net::{SocketAddr, TcpListener},
    path::PathBuf,
    process::{ExitStatus, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::Duration,
};
use tokio::{net::TcpStream, process::Command, sync::watch, time::Instant};
use whisk_spi::{
    container_logs::{STDERR, STDOUT},
    std_types::{RNone, RSome},
    ContainerFactory, ContainerHandle, ContainerLogs, ContainerSpec, ContainerState,
    ContainerStatus, LogsRequest, PluginError,
};

/// How often a starting proxy is probed for a listening socket.
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
/// How long a killed group may take to be reaped before destroy reports it.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts at a free port when another process takes the chosen one first.
const PORT_ATTEMPTS: usize = 5;
/// Lines of a failed proxy's stderr quoted in the error.
const STDERR_LINES_IN_ERRORS: usize = 20;

/// Action containers as local action-proxy processes. Cheap to clone; clones share the
/// containers.
#[derive(Clone)]
pub struct ProcessFactory {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    instance: Instance,
    containers: Mutex<HashMap<String, Arc<Proxy>>>,
    next_id: AtomicU64,
}

/// One running (or exited, not yet destroyed) proxy.
struct Proxy {
    /// Its pid, which is also its process group's id.
    pid: u32,
    logs: Arc<LogCapture>,
    /// Set once the waiter task has reaped it.
    exit: watch::Receiver<Option<ExitStatus>>,
    paused: AtomicBool,
    /// The factory sent it SIGKILL (for the exit message).
    killed: AtomicBool,
    pid_file: PathBuf,
}

impl ProcessFactory {
    /// A factory with `settings` (see [`crate::Config::resolve`]). Creates the state
    /// directory; starts nothing.
    pub fn new(settings: Settings) -> Result<Self, PluginError> {
        std::fs::create_dir_all(&settings.state_dir).map_err(|e| {
            PluginError::invalid_config(format!(
                "state_dir {}: cannot create it: {e}",
                settings.state_dir.display()
            ))
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                instance: Instance::register(),
                containers: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
            }),
        })
    }

    /// The settings in effect.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The pid (and process group) of a container's proxy, while the factory knows it.
    pub fn pid(&self, container: &ContainerHandle) -> Option<u32> {
        self.inner.find(container).map(|proxy| proxy.pid)
    }
}

impl ContainerFactory for ProcessFactory {
    async fn init(&self) -> Result<(), PluginError> {
        let inner = self.inner.clone();
        whisk_spi::runtime::run(async move { inner.remove_leftovers() }).await
    }

    async fn create(&self, spec: ContainerSpec) -> Result<ContainerHandle, PluginError> {
        let inner = self.inner.clone();
        whisk_spi::runtime::run(async move { inner.create(spec).await }).await
    }

    async fn destroy(&self, container: ContainerHandle) -> Result<(), PluginError> {
        let inner = self.inner.clone();
        whisk_spi::runtime::run(async move { inner.destroy(&container).await }).await
    }

    async fn suspend(&self, container: ContainerHandle) -> Result<(), PluginError> {
        let inner = self.inner.clone();
        whisk_spi::runtime::run(async move { inner.signal(&container, Signal::Stop) }).await
    }

    async fn resume(&self, container: ContainerHandle) -> Result<(), PluginError> {
        let inner = self.inner.clone();
        whisk_spi::runtime::run(async move { inner.signal(&container, Signal::Continue) }).await
    }

    async fn logs(
        &self,
        container: ContainerHandle,
        request: LogsRequest,
    ) -> Result<ContainerLogs, PluginError> {
        let inner = self.inner.clone();
        whisk_spi::runtime::run(async move { inner.logs(&container, request).await }).await
    }

    async fn inspect(&self, container: ContainerHandle) -> Result<ContainerState, PluginError> {
        let inner = self.inner.clone();
        whisk_spi::runtime::run(async move { Ok(inner.inspect(&container)) }).await
    }

    async fn cleanup(&self) -> Result<(), PluginError> {
        let inner = self.inner.clone();
        whisk_spi::runtime::run(async move { inner.cleanup().await }).await
    }
}

/// Why a start attempt failed.
enum StartError {
    /// Another process took the port between choosing and binding it: try another.
    PortTaken,
    Failed(PluginError),
}

impl Inner {
    fn containers(&self) -> MutexGuard<'_, HashMap<String, Arc<Proxy>>> {
        self.containers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn find(&self, container: &ContainerHandle) -> Option<Arc<Proxy>> {
        self.containers().get(container.id.as_str()).cloned()
    }

    fn program_name(&self) -> String {
        self.settings
            .action_proxy
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn remove_leftovers(&self) -> Result<(), PluginError> {
        let dir = &self.settings.state_dir;
        let swept = pid_files::sweep(dir, &self.program_name()).map_err(|e| {
            PluginError::internal(format!(
                "cannot read the state directory {}: {e}",
                dir.display()
            ))
        })?;
        let killed = swept
            .iter()
            .filter(|(_, s)| matches!(s, pid_files::Swept::Killed(_)))
            .count();
        tracing::info!(
            state_dir = %dir.display(),
            killed,
            files_seen = swept.len(),
            "removed leftovers of earlier runs"
        );
        Ok(())
    }

    async fn create(&self, spec: ContainerSpec) -> Result<ContainerHandle, PluginError> {
        if spec.blackbox || !spec.image.is_empty() {
            return Err(PluginError::unsupported(format!(
                "process-factory runs action-proxy kinds only, not images (asked for {:?}); \
                 use a container engine factory for blackbox actions",
                spec.image.as_str()
            )));
        }
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port(self.settings.host)?;
            match self.start(&spec, port).await {
                Ok(handle) => return Ok(handle),
                Err(StartError::PortTaken) => continue,
                Err(StartError::Failed(e)) => return Err(e),
            }
        }
        Err(PluginError::unavailable(format!(
            "no free port on {} after {PORT_ATTEMPTS} attempts: other processes kept taking them",
            self.settings.host
        )))
    }

    async fn start(&self, spec: &ContainerSpec, port: u16) -> Result<ContainerHandle, StartError> {
        let settings = &self.settings;
        let address = SocketAddr::new(settings.host, port);
        let mut cmd = Command::new(&settings.action_proxy);
        cmd.env_clear()
            .envs(
                settings
                    .pass_env
                    .iter()
                    .filter_map(|k| std::env::var_os(k).map(|v| (k, v))),
            )
            .envs(
                spec.env
                    .iter()
                    .map(|kv| (kv.key.as_str(), kv.value.as_str())),
            )
            .env("__OW_PROXY_PORT", port.to_string())
            .env("__OW_PROXY_HOST", settings.host.to_string())
            .env("__OW_KIND", spec.kind.as_str())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(false);
        let memory_limit = (spec.memory_mb > 0).then(|| u64::from(spec.memory_mb) * 1024 * 1024);
        process::prepare(&mut cmd, memory_limit);
        let mut child = cmd.spawn().map_err(|e| {
            StartError::Failed(PluginError::unavailable(format!(
                "cannot start {}: {e}",
                settings.action_proxy.display()
            )))
        })?;
        let Some(pid) = child.id() else {
            return Err(StartError::Failed(PluginError::internal(
                "the action-proxy exited before its pid could be read",
            )));
        };

        let logs = LogCapture::new();
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(logs.clone().capture(stdout, STDOUT));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(logs.clone().capture(stderr, STDERR));
        }
        let (exited, exit) = watch::channel(None);
        tokio::spawn(async move {
            // The only place the child is waited for, so it is reaped exactly once.
            let status = child.wait().await.ok();
            let _ = exited.send(status.or(Some(ExitStatus::default())));
        });

        let seq = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = format!("{pid}-{seq}");
        let pid_file = pid_files::path_for(&settings.state_dir, &id);
        let proxy = Arc::new(Proxy {
            pid,
            logs,
            exit,
            paused: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            pid_file,
        });
        let record = PidRecord {
            pid,
            owner: process::own_pid(),
            instance: self.instance.id(),
        };
        if let Err(e) = pid_files::write(&proxy.pid_file, &record) {
            proxy.kill_and_reap().await;
            return Err(StartError::Failed(PluginError::internal(format!(
                "cannot write the pid file {}: {e}",
                proxy.pid_file.display()
            ))));
        }

        if let Err(e) = self.wait_until_listening(&proxy, address).await {
            proxy.kill_and_reap().await;
            pid_files::remove(&proxy.pid_file);
            return Err(e);
        }
        self.containers().insert(id.clone(), proxy);
        tracing::debug!(id = %id, name = %spec.name, %address, kind = %spec.kind, "proxy started");
        Ok(ContainerHandle {
            id: id.into(),
            name: spec.name.clone(),
            address: address.to_string().into(),
        })
    }

    /// Waits until the proxy accepts a connection, exits, or the startup timeout passes.
    async fn wait_until_listening(
        &self,
        proxy: &Proxy,
        address: SocketAddr,
    ) -> Result<(), StartError> {
        let timeout = self.settings.startup_timeout;
        let deadline = Instant::now() + timeout;
        let mut exit = proxy.exit.clone();
        loop {
            let exited = *exit.borrow_and_update();
            if let Some(status) = exited {
                // Let the capture tasks take the last lines it wrote.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let stderr = proxy.logs.stderr_tail(STDERR_LINES_IN_ERRORS);
                if stderr.iter().any(|l| l.contains("in use")) {
                    return Err(StartError::PortTaken);
                }
                return Err(StartError::Failed(PluginError::internal(format!(
                    "{} exited while starting ({}){}",
                    self.settings.action_proxy.display(),
                    describe_exit(status, false),
                    quoted(&stderr)
                ))));
            }
            if TcpStream::connect(address).await.is_ok() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                let stderr = proxy.logs.stderr_tail(STDERR_LINES_IN_ERRORS);
                return Err(StartError::Failed(PluginError::internal(format!(
                    "{} did not accept connections on {address} within {} ms; killed it{}",
                    self.settings.action_proxy.display(),
                    timeout.as_millis(),
                    quoted(&stderr)
                ))));
            }
            let pause = PROBE_INTERVAL.min(deadline - now);
            tokio::select! {
                _ = exit.changed() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn destroy(&self, container: &ContainerHandle) -> Result<(), PluginError> {
        // Destroying what is already gone succeeds: the caller wanted it gone.
        let Some(proxy) = self.containers().remove(container.id.as_str()) else {
            return Ok(());
        };
        let reaped = proxy.kill_and_reap().await;
        pid_files::remove(&proxy.pid_file);
        if reaped {
            Ok(())
        } else {
            Err(PluginError::internal(format!(
                "container {} (pid {}) was sent SIGKILL but had not exited after {} s",
                container.id,
                proxy.pid,
                REAP_TIMEOUT.as_secs()
            )))
        }
    }

    fn signal(&self, container: &ContainerHandle, signal: Signal) -> Result<(), PluginError> {
        let proxy = self.find(container).ok_or_else(|| unknown(container))?;
        let exited = *proxy.exit.borrow();
        if let Some(status) = exited {
            return Err(PluginError::internal(format!(
                "container {} has exited ({})",
                container.id,
                describe_exit(status, proxy.killed.load(Ordering::Relaxed))
            )));
        }
        process::signal_group(proxy.pid, signal).map_err(|e| {
            PluginError::internal(format!("cannot signal container {}: {e}", container.id))
        })?;
        proxy
            .paused
            .store(signal == Signal::Stop, Ordering::Relaxed);
        Ok(())
    }

    fn inspect(&self, container: &ContainerHandle) -> ContainerState {
        let Some(proxy) = self.find(container) else {
            return ContainerState {
                status: ContainerStatus::GONE,
                exit_code: RNone,
                message: format!(
                    "no container {} in this factory (destroyed, or never created by it)",
                    container.id
                )
                .into(),
            };
        };
        let exited = *proxy.exit.borrow();
        if let Some(status) = exited {
            return ContainerState {
                status: ContainerStatus::EXITED,
                exit_code: RSome(exit_code(status)),
                message: describe_exit(status, proxy.killed.load(Ordering::Relaxed)).into(),
            };
        }
        let (status, message) = if proxy.paused.load(Ordering::Relaxed) {
            (
                ContainerStatus::PAUSED,
                format!("pid {} is stopped (SIGSTOP)", proxy.pid),
            )
        } else {
            (ContainerStatus::RUNNING, format!("pid {}", proxy.pid))
        };
        ContainerState {
            status,
            exit_code: RNone,
            message: message.into(),
        }
    }

    async fn logs(
        &self,
        container: &ContainerHandle,
        request: LogsRequest,
    ) -> Result<ContainerLogs, PluginError> {
        let proxy = self.find(container).ok_or_else(|| unknown(container))?;
        let deadline = Instant::now() + Duration::from_millis(request.timeout_ms);
        let mut changed = proxy.logs.subscribe();
        loop {
            let read = proxy.logs.read(request.since, request.limit_bytes);
            if read.logs.complete || !request.wait_for_sentinel || read.ended {
                return Ok(read.logs);
            }
            // Not complete: nothing was consumed for good yet, so a later read from the same
            // `since` sees these lines again plus what arrived meanwhile.
            let woke = tokio::time::timeout_at(deadline, changed.changed()).await;
            if woke.is_err() {
                return Ok(proxy.logs.read(request.since, request.limit_bytes).logs);
            }
        }
    }

    async fn cleanup(&self) -> Result<(), PluginError> {
        let proxies: Vec<_> = self.containers().drain().map(|(_, p)| p).collect();
        for proxy in &proxies {
            proxy.send_kill();
        }
        let mut stuck = Vec::new();
        for proxy in &proxies {
            if !proxy.reaped_within(REAP_TIMEOUT).await {
                stuck.push(proxy.pid.to_string());
            }
            pid_files::remove(&proxy.pid_file);
        }
        if stuck.is_empty() {
            Ok(())
        } else {
            Err(PluginError::internal(format!(
                "sent SIGKILL, but these action-proxy processes had not exited after {} s: {}",
                REAP_TIMEOUT.as_secs(),
                stuck.join(", ")
            )))
        }
    }
}

impl Drop for Inner {
    /// A factory dropped without `cleanup` still leaves no proxy running. It cannot wait
    /// here; the waiter tasks on the plugin's runtime reap the processes.
    fn drop(&mut self) {
        for proxy in self.containers().values() {
            proxy.send_kill();
            pid_files::remove(&proxy.pid_file);
        }
    }
}

impl Proxy {
    fn has_exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    /// SIGKILL to the whole group, unless it was already reaped (then its pid may belong to
    /// someone else by now).
    fn send_kill(&self) {
        if self.has_exited() {
            return;
        }
        self.killed.store(true, Ordering::Relaxed);
        // A remaining window: the waiter may reap the leader between the check above and
        // this kill. The group id could then be reused only by a new process that made itself
        // a group leader with exactly this id in those microseconds.
        if let Err(e) = process::signal_group(self.pid, Signal::Kill) {
            if e.raw_os_error() != Some(libc::ESRCH) {
                tracing::warn!(pid = self.pid, error = %e, "cannot kill an action-proxy");
            }
        }
    }

    async fn reaped_within(&self, limit: Duration) -> bool {
        let mut exit = self.exit.clone();
        tokio::time::timeout(limit, exit.wait_for(Option::is_some))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Kills the group and waits (bounded) until the leader is reaped; whether it was.
    async fn kill_and_reap(&self) -> bool {
        self.send_kill();
        self.reaped_within(REAP_TIMEOUT).await
    }
}

/// A port on `host` that was free a moment ago (the OS picks it; the listener is closed
/// again so that the proxy can bind it).
fn free_port(host: std::net::IpAddr) -> Result<u16, PluginError> {
    TcpListener::bind((host, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| PluginError::unavailable(format!("cannot find a free port on {host}: {e}")))
}

fn unknown(container: &ContainerHandle) -> PluginError {
    PluginError::not_found(format!(
        "no container {} in this factory (destroyed, or never created by it)",
        container.id
    ))
}

/// The exit code as Docker reports it: the code, or 128 + the signal.
fn exit_code(status: ExitStatus) -> i64 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => i64::from(code),
        (None, Some(signal)) => 128 + i64::from(signal),
        (None, None) => -1,
    }
}

fn describe_exit(status: ExitStatus, killed_by_factory: bool) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => {
            let by = if killed_by_factory && signal == libc::SIGKILL {
                ", sent by the factory"
            } else {
                ""
            };
            format!(
                "killed by signal {signal} ({}{by})",
                process::signal_name(signal)
            )
        }
        (None, None) => "exited".into(),
    }
}

fn quoted(stderr: &[String]) -> String {
    if stderr.is_empty() {
        "; it wrote nothing on stderr".into()
    } else {
        format!("; its stderr:\n{}", stderr.join("\n"))
    }
}
