//! The ContainerFactory over the Engine API: create/start/wait-ready, destroy, pause,
//! logs, inspect and the removal of this host's containers.

use crate::{
    activation_logs::Source,
    config::{Config, Network},
    engine::{ApiError, Engine},
    log_file::LogFile,
    logs::{LineAssembler, Stream},
    state,
};
use bollard::{
    container::LogOutput,
    models::{ContainerCreateBody, HostConfig, HostConfigLogConfig},
    query_parameters::{
        CreateContainerOptions, CreateImageOptions, InspectContainerOptions, ListContainersOptions,
        LogsOptions, RemoveContainerOptions,
    },
};
use futures_util::StreamExt;
use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::time::timeout_at;
use whisk_spi::{
    ContainerHandle, ContainerLogs, ContainerSpec, ContainerState, ContainerStatus, LogLine,
    LogsRequest, PluginError,
};

/// The label that marks a container as this host's; its value is `host_id`.
pub const HOST_LABEL: &str = "whisk.host";
/// The port the action proxy listens on when the container has a network of its own.
const PROXY_PORT: u16 = 8080;

/// The factory's state, shared by the futures it hands out.
pub struct Factory {
    config: Config,
    engine: Engine,
    /// Ports on 127.0.0.1 handed to containers (host networking).
    ports: Mutex<PortBook>,
    /// Where each container's logs are read from (by container id), once asked for.
    log_sources: Mutex<HashMap<String, Arc<Source>>>,
    /// Requests made to the engine's logs endpoint, for tests and diagnostics.
    api_log_reads: AtomicU64,
}

/// Which ports of 127.0.0.1 this factory has handed out: reserved when picked (so two
/// concurrent creates never get the same one), then owned by a container until removed.
#[derive(Default)]
struct PortBook {
    reserved: HashSet<u16>,
    by_container: HashMap<String, u16>,
}

impl PortBook {
    fn in_use(&self, port: u16) -> bool {
        self.reserved.contains(&port) || self.by_container.values().any(|p| *p == port)
    }
    fn assign(&mut self, port: u16, container: &str) {
        self.reserved.remove(&port);
        self.by_container.insert(container.to_string(), port);
    }
    fn release(&mut self, port: u16) {
        self.reserved.remove(&port);
    }
    fn release_container(&mut self, container: &str) {
        self.by_container.remove(container);
    }
}

impl Factory {
    pub fn new(config: Config) -> Result<Factory, PluginError> {
        let socket: PathBuf = config.validate()?;
        let engine = Engine::connect(&socket, Duration::from_millis(config.api_timeout_ms))?;
        Ok(Factory {
            config,
            engine,
            ports: Mutex::new(PortBook::default()),
            log_sources: Mutex::new(HashMap::new()),
            api_log_reads: AtomicU64::new(0),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    // ------------------------------------------------------------ init / cleanup

    /// Removes every container labelled as this host's; answers how many.
    pub async fn remove_all(self: &Arc<Self>, during: &str) -> Result<usize, PluginError> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{HOST_LABEL}={}", self.config.host_id)],
        )]);
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        };
        let list = self
            .engine
            .call(during, self.engine.docker().list_containers(Some(options)))
            .await
            .map_err(|e| e.into_plugin_error(during))?;
        // A removal takes 0.1–0.2 s on podman: a few at a time.
        let ids: Vec<String> = list.into_iter().filter_map(|c| c.id).collect();
        let removed = ids.len();
        let results: Vec<Result<(), PluginError>> = futures_util::stream::iter(ids)
            .map(|id| async move { self.remove(&id, during).await })
            .buffer_unordered(8)
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(removed)
    }

    /// Force-removes one container (and its anonymous volumes); gone already is fine.
    async fn remove(&self, id: &str, during: &str) -> Result<(), PluginError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        let result = self
            .engine
            .call(
                during,
                self.engine.docker().remove_container(id, Some(options)),
            )
            .await;
        self.ports.lock().unwrap().release_container(id);
        self.log_sources.lock().unwrap().remove(id);
        match result {
            Ok(()) | Err(ApiError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into_plugin_error(during)),
        }
    }

    // ------------------------------------------------------------ create

    pub async fn create(
        self: &Arc<Self>,
        spec: ContainerSpec,
    ) -> Result<ContainerHandle, PluginError> {
        let image = self.image_for(&spec)?;
        if spec.blackbox {
            self.ensure_blackbox_image(&image).await?;
        }
        let network = match spec.network.as_str() {
            "" => Network::parse(&self.config.network),
            other => Network::parse(other),
        };
        // With host networking the port is picked here and can, rarely, be taken by
        // someone else before the proxy binds it: then the proxy exits at once saying so,
        // and one more port is tried.
        let attempts = if network == Network::Host { 2 } else { 1 };
        let mut last = None;
        for _ in 0..attempts {
            match self.create_once(&spec, &image, &network).await {
                Ok(handle) => return Ok(handle),
                Err(StartFailure::PortTaken(e)) => last = Some(e),
                Err(StartFailure::Other(e)) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| PluginError::internal("create: no attempt made")))
    }

    fn image_for(&self, spec: &ContainerSpec) -> Result<String, PluginError> {
        if spec.blackbox {
            let image = spec.image.trim();
            if image.is_empty() {
                return Err(PluginError::invalid_request(
                    "a blackbox container needs an image (ContainerSpec.image is empty)",
                ));
            }
            return Ok(image.to_string());
        }
        self.config
            .runtimes
            .get(spec.kind.as_str())
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = self.config.runtimes.keys().map(String::as_str).collect();
                PluginError::invalid_request(format!(
                    "no image for action kind {:?}: configured kinds are [{}] \
                     (add it under [plugins.docker-factory.runtimes])",
                    spec.kind.as_str(),
                    known.join(", ")
                ))
            })
    }

    async fn create_once(
        self: &Arc<Self>,
        spec: &ContainerSpec,
        image: &str,
        network: &Network,
    ) -> Result<ContainerHandle, StartFailure> {
        let name = container_name(&self.config.name_prefix, spec.invoker, &spec.name);
        let port = match network {
            Network::Host => Some(self.free_port().map_err(StartFailure::Other)?),
            _ => None,
        };
        let id = match self
            .create_container(spec, image, network, &name, port)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                if let Some(port) = port {
                    self.ports.lock().unwrap().release(port);
                }
                return Err(e);
            }
        };
        if let Some(port) = port {
            self.ports.lock().unwrap().assign(port, &id);
        }
        let started = self.start_and_wait(spec, &id, &name, network, port).await;
        if started.is_err() {
            // Leave nothing behind for a container that never served.
            let _ = self
                .remove(&id, "remove a container that did not start")
                .await;
        }
        started
    }

    async fn create_container(
        &self,
        spec: &ContainerSpec,
        image: &str,
        network: &Network,
        name: &str,
        port: Option<u16>,
    ) -> Result<String, StartFailure> {
        let body = self
            .create_body(spec, image, network, port)
            .map_err(StartFailure::Other)?;
        let options = CreateContainerOptions {
            name: Some(name.to_string()),
            ..Default::default()
        };
        let what = format!("create container {name}");
        let created = self
            .engine
            .call(
                &what,
                self.engine.docker().create_container(Some(options), body),
            )
            .await
            .map_err(|e| match e {
                ApiError::NotFound(message) => {
                    StartFailure::Other(self.missing_image(spec, image, &message))
                }
                e => StartFailure::Other(e.into_plugin_error(&what)),
            })?;
        Ok(created.id)
    }

    fn missing_image(&self, spec: &ContainerSpec, image: &str, message: &str) -> PluginError {
        if spec.blackbox {
            PluginError::action_developer(format!(
                "Failed to create a container of image '{image}': {}",
                message.trim()
            ))
        } else {
            PluginError::internal(format!(
                "the runtime image {image:?} of kind {:?} is missing from the container engine \
                 ({}); build it with scripts/build-runtime-images.sh",
                spec.kind.as_str(),
                message.trim()
            ))
        }
    }

    fn create_body(
        &self,
        spec: &ContainerSpec,
        image: &str,
        network: &Network,
        port: Option<u16>,
    ) -> Result<ContainerCreateBody, PluginError> {
        // Later entries win in Docker's env handling, so the proxy's own settings come
        // last: the action cannot redirect the port the host will connect to.
        let mut env: Vec<String> = spec
            .env
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        env.extend(
            self.config
                .extra_env
                .iter()
                .map(|(k, v)| format!("{k}={v}")),
        );
        env.push(format!("__OW_KIND={}", spec.kind));
        match port {
            Some(port) => {
                env.push(format!("__OW_PROXY_PORT={port}"));
                env.push("__OW_PROXY_HOST=127.0.0.1".to_string());
            }
            None => env.push(format!("__OW_PROXY_PORT={PROXY_PORT}")),
        }

        let mut labels: HashMap<String, String> = self
            .config
            .extra_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.insert(HOST_LABEL.into(), self.config.host_id.clone());
        labels.insert("whisk.invoker".into(), spec.invoker.to_string());
        labels.insert("whisk.kind".into(), spec.kind.to_string());

        let memory = i64::from(spec.memory_mb) * 1024 * 1024;
        let mut host_config = HostConfig {
            network_mode: Some(network.mode().to_string()),
            ..Default::default()
        };
        if memory > 0 {
            host_config.memory = Some(memory);
            // Equal to the memory limit: no swap on top of it, as OpenWhisk does.
            host_config.memory_swap = Some(memory);
        }
        if spec.cpu_shares > 0 {
            host_config.cpu_shares = Some(i64::from(spec.cpu_shares));
        }
        if self.config.pids_limit > 0 {
            host_config.pids_limit = Some(self.config.pids_limit);
        }
        apply_parameters(&spec.parameters, &mut env, &mut labels, &mut host_config)?;

        Ok(ContainerCreateBody {
            image: Some(image.to_string()),
            env: Some(env),
            labels: Some(labels),
            cmd: self.config.cmd.clone(),
            host_config: Some(host_config),
            ..Default::default()
        })
    }

    /// A port of 127.0.0.1 that nothing listens on now and that this factory has not
    /// handed out, reserved until `assign` or `release`.
    fn free_port(&self) -> Result<u16, PluginError> {
        for _ in 0..32 {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| {
                PluginError::internal(format!("cannot find a free port on 127.0.0.1: {e}"))
            })?;
            let port = listener
                .local_addr()
                .map_err(|e| PluginError::internal(format!("cannot find a free port: {e}")))?
                .port();
            let mut book = self.ports.lock().unwrap();
            if !book.in_use(port) {
                book.reserved.insert(port);
                return Ok(port);
            }
        }
        Err(PluginError::internal(
            "cannot find a free port on 127.0.0.1 not already given to a container",
        ))
    }

    async fn start_and_wait(
        &self,
        spec: &ContainerSpec,
        id: &str,
        name: &str,
        network: &Network,
        port: Option<u16>,
    ) -> Result<ContainerHandle, StartFailure> {
        let what = format!("start container {name}");
        self.engine
            .call(
                &what,
                self.engine
                    .docker()
                    .start_container(id, None::<bollard::query_parameters::StartContainerOptions>),
            )
            .await
            .map_err(|e| StartFailure::Other(e.into_plugin_error(&what)))?;

        let address = match (network, port) {
            (Network::Host, Some(port)) => format!("127.0.0.1:{port}"),
            (Network::None, _) => String::new(),
            (Network::Named(net), _) => {
                let ip = self
                    .container_ip(id, net)
                    .await
                    .map_err(StartFailure::Other)?;
                format!("{ip}:{PROXY_PORT}")
            }
            (Network::Host, None) => unreachable!("host networking always has a port"),
        };
        let handle = ContainerHandle {
            id: id.into(),
            name: name.into(),
            address: address.clone().into(),
        };
        if address.is_empty() {
            // network = none: nothing can connect, so there is nothing to wait for.
            return Ok(handle);
        }
        self.wait_ready(spec, &handle).await?;
        Ok(handle)
    }

    async fn container_ip(&self, id: &str, network: &str) -> Result<String, PluginError> {
        let what = "inspect the new container for its address";
        let info = self
            .engine
            .call(
                what,
                self.engine
                    .docker()
                    .inspect_container(id, None::<InspectContainerOptions>),
            )
            .await
            .map_err(|e| e.into_plugin_error(what))?;
        info.network_settings
            .and_then(|n| n.networks)
            .and_then(|mut nets| nets.remove(network))
            .and_then(|endpoint| endpoint.ip_address)
            .filter(|ip| !ip.is_empty())
            .ok_or_else(|| {
                PluginError::internal(format!(
                    "the container has no IP address on network {network:?}"
                ))
            })
    }

    /// Waits until the proxy accepts a TCP connection, the container exits, or
    /// `startup_timeout_ms` passes.
    async fn wait_ready(
        &self,
        spec: &ContainerSpec,
        handle: &ContainerHandle,
    ) -> Result<(), StartFailure> {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(self.config.startup_timeout_ms);
        let mut tries = 0u32;
        loop {
            let connect = tokio::net::TcpStream::connect(handle.address.as_str());
            let accepted = matches!(
                tokio::time::timeout(Duration::from_millis(200), connect).await,
                Ok(Ok(_))
            );
            tries += 1;
            // After a connection, confirm the container still runs: with host networking
            // another process could own the port. Every few misses, look for an early exit.
            if accepted || tries % 8 == 0 {
                let state = self.inspect(handle).await.map_err(StartFailure::Other)?;
                if state.status != ContainerStatus::RUNNING {
                    return Err(self.startup_failure(spec, handle, &state).await);
                }
                if accepted {
                    tracing::debug!(
                        container = handle.name.as_str(),
                        ms = started.elapsed().as_millis() as u64,
                        "proxy ready"
                    );
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                let message = format!(
                    "the container {} did not accept connections on {} within {} ms",
                    handle.name, handle.address, self.config.startup_timeout_ms
                );
                return Err(StartFailure::Other(if spec.blackbox {
                    PluginError::action_developer(format!(
                        "{message}: a blackbox image must serve the action protocol on \
                         $__OW_PROXY_PORT (or 8080 on a network of its own)"
                    ))
                } else {
                    PluginError::internal(message)
                }));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn startup_failure(
        &self,
        spec: &ContainerSpec,
        handle: &ContainerHandle,
        state: &ContainerState,
    ) -> StartFailure {
        let mut last = std::collections::VecDeque::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        let _ = self
            .read_lines(&handle.id, false, deadline, |line| {
                if last.len() == 5 {
                    last.pop_front();
                }
                last.push_back(line.message.to_string());
                false
            })
            .await;
        let output = Vec::from(last).join(" | ");
        let message = format!(
            "the container {} stopped during startup ({}){}",
            handle.name,
            state.message,
            if output.is_empty() {
                String::new()
            } else {
                format!("; its last output: {output}")
            }
        );
        if output.contains("in use") {
            StartFailure::PortTaken(PluginError::internal(message))
        } else if spec.blackbox {
            StartFailure::Other(PluginError::action_developer(message))
        } else {
            StartFailure::Other(PluginError::internal(message))
        }
    }

    // ------------------------------------------------------------ blackbox images

    /// OpenWhisk's rule: pull when the tag is `latest` or the image is not here; a failed
    /// pull is the action developer's error unless a local copy can be used.
    async fn ensure_blackbox_image(&self, image: &str) -> Result<(), PluginError> {
        let what = format!("inspect image {image}");
        let local = match self
            .engine
            .call(&what, self.engine.docker().inspect_image(image))
            .await
        {
            Ok(_) => true,
            Err(ApiError::NotFound(_)) => false,
            Err(e) => return Err(e.into_plugin_error(&what)),
        };
        let (repo, tag) = split_image(image);
        if local && tag != "latest" {
            return Ok(());
        }
        let timeout = Duration::from_millis(self.config.pull_timeout_ms);
        let failure = match tokio::time::timeout(timeout, self.pull(&repo, &tag)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(PullError::Unavailable(e))) => return Err(e),
            Ok(Err(PullError::Failed(reason))) => reason,
            Err(_) => format!("no result within {} ms", self.config.pull_timeout_ms),
        };
        if local {
            tracing::warn!(
                image,
                reason = failure.as_str(),
                "pull failed; using the local image"
            );
            return Ok(());
        }
        Err(PluginError::action_developer(format!(
            "Failed to pull container image '{image}': {failure}"
        )))
    }

    async fn pull(&self, repo: &str, tag: &str) -> Result<(), PullError> {
        let options = CreateImageOptions {
            from_image: Some(repo.to_string()),
            tag: Some(tag.to_string()),
            ..Default::default()
        };
        let mut progress = self.engine.docker().create_image(Some(options), None, None);
        while let Some(item) = progress.next().await {
            match item {
                Ok(info) => {
                    if let Some(error) = info.error.or(info.error_detail.and_then(|d| d.message)) {
                        return Err(PullError::Failed(error));
                    }
                }
                // The engine's own words ("pinging container registry …: no such host").
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(PullError::Failed(error))
                }
                Err(e) => {
                    return Err(match self.engine.classify("pull", e) {
                        ApiError::Unavailable(e) => PullError::Unavailable(e),
                        ApiError::NotFound(m) => PullError::Failed(m),
                        ApiError::Failed(e) => PullError::Failed(e.message.to_string()),
                    })
                }
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------ destroy, pause

    pub async fn destroy(&self, handle: &ContainerHandle) -> Result<(), PluginError> {
        self.remove(&handle.id, &format!("remove container {}", handle.name))
            .await
    }

    pub async fn pause(&self, handle: &ContainerHandle, pause: bool) -> Result<(), PluginError> {
        let docker = self.engine.docker();
        let (what, result) = if pause {
            let what = format!("pause container {}", handle.name);
            let r = self
                .engine
                .call(&what, docker.pause_container(&handle.id))
                .await;
            (what, r)
        } else {
            let what = format!("unpause container {}", handle.name);
            let r = self
                .engine
                .call(&what, docker.unpause_container(&handle.id))
                .await;
            (what, r)
        };
        result.map_err(|e| e.into_plugin_error(&what))
    }

    pub fn pause_idle(&self) -> bool {
        self.config.pause_idle
    }

    // ------------------------------------------------------------ inspect

    pub async fn inspect(&self, handle: &ContainerHandle) -> Result<ContainerState, PluginError> {
        let what = format!("inspect container {}", handle.name);
        match self
            .engine
            .call(
                &what,
                self.engine
                    .docker()
                    .inspect_container(&handle.id, None::<InspectContainerOptions>),
            )
            .await
        {
            Ok(info) => Ok(state::from_inspect(&info)),
            Err(ApiError::NotFound(_)) => Ok(ContainerState {
                status: ContainerStatus::GONE,
                exit_code: whisk_spi::std_types::ROption::RNone,
                message: "no such container".into(),
            }),
            Err(e) => Err(e.into_plugin_error(&what)),
        }
    }

    // ------------------------------------------------------------ logs

    /// Streams the container's whole lines, in the engine's order, to `each` (which
    /// answers whether to stop): everything written so far (`follow = false`), or also what
    /// comes later until `each` says stop, the container ends or `deadline` passes.
    pub async fn read_lines(
        &self,
        id: &str,
        follow: bool,
        deadline: Instant,
        mut each: impl FnMut(LogLine) -> bool,
    ) -> Result<(), PluginError> {
        let options = LogsOptions {
            follow,
            stdout: true,
            stderr: true,
            timestamps: true,
            ..Default::default()
        };
        let what = format!("read the logs of container {id}");
        self.api_log_reads.fetch_add(1, Ordering::Relaxed);
        let mut stream = self.engine.docker().logs(id, Some(options));
        let mut assembler = LineAssembler::default();
        let deadline = tokio::time::Instant::from_std(deadline);
        loop {
            let item = match timeout_at(deadline, stream.next()).await {
                Ok(Some(item)) => item,
                Ok(None) => return Ok(()),
                // Waiting for more lines: the deadline only ends the wait.
                Err(_) if follow => return Ok(()),
                Err(_) => {
                    return Err(crate::engine::unreachable(
                        self.engine.socket(),
                        &format!("{what}: no answer in time"),
                    ))
                }
            };
            let lines = match item {
                Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                    assembler.push(Stream::Stdout, &message)
                }
                Ok(LogOutput::StdErr { message }) => assembler.push(Stream::Stderr, &message),
                Ok(LogOutput::StdIn { .. }) => Vec::new(),
                Err(e) => return Err(self.engine.classify(&what, e).into_plugin_error(&what)),
            };
            for line in lines {
                if each(line) {
                    return Ok(());
                }
            }
        }
    }

    pub async fn logs(
        &self,
        handle: &ContainerHandle,
        request: LogsRequest,
    ) -> Result<ContainerLogs, PluginError> {
        crate::activation_logs::read(self, handle, request).await
    }

    /// How many requests the engine's logs endpoint has had from this factory.
    pub fn api_log_reads(&self) -> u64 {
        self.api_log_reads.load(Ordering::Relaxed)
    }

    /// Where the logs of `handle` are read from: its log file when the engine names one
    /// this process can open (and `log_files` is on), else the logs API. Decided on the
    /// first call and kept until the container is removed.
    pub async fn log_source(&self, handle: &ContainerHandle) -> Result<Arc<Source>, PluginError> {
        if let Some(source) = self.log_sources.lock().unwrap().get(handle.id.as_str()) {
            return Ok(source.clone());
        }
        let source = if self.config.log_files {
            let what = format!("inspect container {} for its log file", handle.name);
            let info = match self
                .engine
                .call(
                    &what,
                    self.engine
                        .docker()
                        .inspect_container(&handle.id, None::<InspectContainerOptions>),
                )
                .await
            {
                Ok(info) => info,
                // Gone: the logs API says so in its own words, as before.
                Err(ApiError::NotFound(_)) => return Ok(Arc::new(Source::Api)),
                Err(e) => return Err(e.into_plugin_error(&what)),
            };
            let path = info.log_path.filter(|p| !p.is_empty());
            match path.as_deref().map(|p| (p, LogFile::open(p.as_ref()))) {
                Some((_, Ok(file))) => Source::File(Box::new(tokio::sync::Mutex::new(file))),
                Some((p, Err(e))) => {
                    tracing::info!(
                        container = handle.name.as_str(),
                        path = p,
                        error = %e,
                        "the container's log file cannot be read here; using the logs API"
                    );
                    Source::Api
                }
                None => Source::Api,
            }
        } else {
            Source::Api
        };
        let mut sources = self.log_sources.lock().unwrap();
        Ok(sources
            .entry(handle.id.to_string())
            .or_insert_with(|| Arc::new(source))
            .clone())
    }
}

/// Why a start attempt failed: a port someone else took (worth another try) or not.
enum StartFailure {
    PortTaken(PluginError),
    Other(PluginError),
}

enum PullError {
    Unavailable(PluginError),
    Failed(String),
}

/// `wsk<invoker>_<name>` with characters Docker refuses in names replaced by `_`.
pub fn container_name(prefix: &str, invoker: u32, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}{invoker}_{clean}")
}

/// `registry:5000/ns/img:tag@digest` → (`registry:5000/ns/img`, `tag`); no tag → `latest`.
pub fn split_image(image: &str) -> (String, String) {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_slash = without_digest.rfind('/').map(|i| i + 1).unwrap_or(0);
    match without_digest[last_slash..].rfind(':') {
        Some(colon) => {
            let at = last_slash + colon;
            (
                without_digest[..at].to_string(),
                without_digest[at + 1..].to_string(),
            )
        }
        None => (without_digest.to_string(), "latest".to_string()),
    }
}

/// Container parameters from the spec (asked for by the LogStore, say). Each key is one
/// option; an unknown key is refused rather than silently ignored.
fn apply_parameters(
    parameters: &[whisk_spi::KeyValue],
    env: &mut Vec<String>,
    labels: &mut HashMap<String, String>,
    host_config: &mut HostConfig,
) -> Result<(), PluginError> {
    let mut log_opts: HashMap<String, String> = HashMap::new();
    let mut log_driver: Option<String> = None;
    let pair = |value: &str, key: &str| {
        value
            .split_once('=')
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .ok_or_else(|| {
                PluginError::invalid_request(format!(
                    "container parameter {key} = {value:?}: expected name=value"
                ))
            })
    };
    for kv in parameters {
        let (key, value) = (kv.key.as_str(), kv.value.as_str());
        match key {
            "env" => env.push(value.to_string()),
            "label" => {
                let (k, v) = pair(value, key)?;
                labels.insert(k, v);
            }
            "log-driver" => log_driver = Some(value.to_string()),
            "log-opt" => {
                let (k, v) = pair(value, key)?;
                log_opts.insert(k, v);
            }
            other => {
                return Err(PluginError::invalid_request(format!(
                    "container parameter {other:?} is not supported by docker-factory \
                     (supported: env, label, log-driver, log-opt)"
                )))
            }
        }
    }
    if log_driver.is_some() || !log_opts.is_empty() {
        host_config.log_config = Some(HostConfigLogConfig {
            typ: log_driver,
            config: Some(log_opts),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_images() {
        assert_eq!(
            container_name("wsk", 0, "guest_hello-1"),
            "wsk0_guest_hello-1"
        );
        assert_eq!(container_name("wsk", 3, "a/b c"), "wsk3_a_b_c");
        assert_eq!(split_image("alpine"), ("alpine".into(), "latest".into()));
        assert_eq!(split_image("me/img:2"), ("me/img".into(), "2".into()));
        assert_eq!(
            split_image("reg:5000/me/img"),
            ("reg:5000/me/img".into(), "latest".into())
        );
        assert_eq!(
            split_image("reg:5000/me/img:v1@sha256:abc"),
            ("reg:5000/me/img".into(), "v1".into())
        );
    }

    #[test]
    fn parameters_map_to_options_and_unknown_ones_fail() {
        let mut env = Vec::new();
        let mut labels = HashMap::new();
        let mut hc = HostConfig::default();
        let params = vec![
            whisk_spi::KeyValue::new("env", "A=1"),
            whisk_spi::KeyValue::new("label", "x=y"),
            whisk_spi::KeyValue::new("log-driver", "k8s-file"),
            whisk_spi::KeyValue::new("log-opt", "max-size=1m"),
        ];
        apply_parameters(&params, &mut env, &mut labels, &mut hc).unwrap();
        assert_eq!(env, vec!["A=1".to_string()]);
        assert_eq!(labels.get("x").map(String::as_str), Some("y"));
        assert_eq!(
            hc.log_config.as_ref().unwrap().typ.as_deref(),
            Some("k8s-file")
        );
        let bad = vec![whisk_spi::KeyValue::new("dns", "1.1.1.1")];
        let e = apply_parameters(&bad, &mut env, &mut labels, &mut hc).unwrap_err();
        assert!(e.message.contains("dns"), "{e}");
    }
}
