//! Starts a real `whisk serve` for end-to-end tests and benchmarks, and always stops it.
//!
//! Include it with `#[path = "support/server.rs"] mod server;` (from `host/tests`) or
//! `#[path = "../tests/support/server.rs"] mod server;` (from `host/benches`): it needs
//! nothing beyond std and serde_json (a dependency of the package), so it works in any test
//! or bench target of the package.
//!
//! The server gets a config written into a private temporary directory (its database, its
//! logs and its own stdout/stderr captures live there too), a free port on 127.0.0.1, and the
//! plugins found in the directory of the `whisk` binary. [`WhiskServer`] is a drop guard:
//! SIGTERM, a few seconds' grace, then SIGKILL of the server's whole process group (so action
//! proxies it started cannot outlive a test), even when the test panics. When the test
//! panicked the temporary directory is kept for inspection and its path printed.
#![allow(dead_code)] // each including target uses a different part

use std::{
    fs,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// The guest subject's key, as in `config/guest-auth.toml` (OpenWhisk's well-known guest key).
pub const GUEST_KEY: &str =
    "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";
/// The guest subject's namespace.
pub const GUEST_NAMESPACE: &str = "guest";

/// The plugin files the test config selects, as the loader names them.
pub const PLUGIN_FILES: [&str; 4] = [
    "libprocess_factory.so",
    "libroundrobin_lb.so",
    "libfile_logging.so",
    "libbasic_auth.so",
];

/// How long the server may take to answer `GET /health`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Grace between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The workspace root (the parent of the `host` package).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// Where a binary target of this workspace was built for the running profile: the
/// directory of the `whisk` binary cargo built for this test or bench.
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_whisk"))
        .parent()
        .expect("the whisk binary is in a directory")
        .to_path_buf()
}

/// What the server needs besides itself: the action proxy and the plugin files, all in
/// `bin_dir`. Lists everything missing, with the command that builds it.
pub fn check_prerequisites(bin_dir: &Path, build_command: &str) -> Result<(), String> {
    let mut missing = Vec::new();
    for file in ["whisk", "action-proxy"].iter().chain(PLUGIN_FILES.iter()) {
        let path = bin_dir.join(file);
        if !path.is_file() {
            missing.push(path.display().to_string());
        }
    }
    let credentials = workspace_root().join("config/guest-auth.toml");
    if !credentials.is_file() {
        missing.push(credentials.display().to_string());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "missing: {}\n(`cargo test` does not build plugins (cdylib) or other packages' \
             binaries): run `{build_command}` first",
            missing.join(", ")
        ))
    }
}

/// Which ContainerFactory plugin the server runs actions with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Factory {
    /// process-factory: action-proxy as local processes.
    Process,
    /// docker-factory on the engine at `socket` (podman's Docker API here), with the
    /// runtime images of scripts/build-runtime-images.sh; its containers carry the label
    /// `whisk.host=<host_id>`.
    Docker { socket: PathBuf, host_id: String },
}

impl Factory {
    /// docker-factory on the engine at `DOCKER_HOST`, with a host id of this process;
    /// `None` when DOCKER_HOST is not set.
    pub fn docker_from_env() -> Option<Self> {
        let host = std::env::var("DOCKER_HOST").ok()?;
        Some(Factory::Docker {
            socket: PathBuf::from(host.trim_start_matches("unix://")),
            host_id: format!("whisk-e2e-{}", std::process::id()),
        })
    }

    fn table(&self, bin_dir: &Path) -> String {
        let toml_str = |p: &Path| format!("{:?}", p.display().to_string());
        match self {
            Factory::Process => format!(
                "container_factory = \"process-factory\"\n\n[plugins.process-factory]\naction_proxy = {}\n",
                toml_str(&bin_dir.join("action-proxy"))
            ),
            Factory::Docker { socket, host_id } => format!(
                r#"container_factory = "docker-factory"

[plugins.docker-factory]
socket = {socket}
network = "host"
host_id = "{host_id}"

[plugins.docker-factory.runtimes]
"nodejs:20" = "whisk/action-nodejs:1"
"python:3" = "whisk/action-python:1"
native = "whisk/action-native:1"
"#,
                socket = toml_str(socket),
            ),
        }
    }
}

/// How to start a server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Directory holding `whisk`, `action-proxy` and the plugin files.
    pub bin_dir: PathBuf,
    /// `[invoker] memory_mb`.
    pub invoker_memory_mb: u64,
    /// Extra environment for the server (e.g. `WHISK_LOG`).
    pub env: Vec<(String, String)>,
    /// The ContainerFactory plugin.
    pub factory: Factory,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            bin_dir: bin_dir(),
            invoker_memory_mb: 2048,
            env: vec![("WHISK_LOG".into(), "info".into())],
            factory: Factory::Process,
        }
    }
}

/// A running `whisk serve`; stopped when dropped.
pub struct WhiskServer {
    child: Option<Child>,
    /// Where the REST API listens.
    pub addr: SocketAddr,
    /// The private temporary directory: config, database, logs, captured output.
    pub dir: PathBuf,
    /// The server's captured stderr (its log).
    pub stderr_log: PathBuf,
    /// The server's captured stdout.
    pub stdout_log: PathBuf,
}

impl WhiskServer {
    /// Starts a server with the default options (the binaries cargo built for this target)
    /// and waits until it is ready; panics with the server's log if it does not come up.
    pub fn start() -> Self {
        Self::start_with(ServerOptions::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a server and waits until `GET /health` answers 200.
    pub fn start_with(options: ServerOptions) -> Result<Self, String> {
        let dir = private_temp_dir()?;
        // A port that was free a moment ago; the server binding it is the real test, and
        // its failure shows in the log below.
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
        let config_path = dir.join("whisk.toml");
        fs::write(&config_path, config_toml(&options, addr, &dir))
            .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;

        let stderr_log = dir.join("whisk.stderr.log");
        let stdout_log = dir.join("whisk.stdout.log");
        let open = |p: &Path| {
            fs::File::create(p).map_err(|e| format!("cannot create {}: {e}", p.display()))
        };
        let mut command = Command::new(options.bin_dir.join("whisk"));
        command
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .current_dir(&dir)
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(open(&stdout_log)?)
            .stderr(open(&stderr_log)?)
            // Its own process group, so that stopping it also reaches what it started.
            .process_group(0);
        let child = command.spawn().map_err(|e| {
            format!(
                "cannot start {}: {e}",
                options.bin_dir.join("whisk").display()
            )
        })?;

        let mut server = WhiskServer {
            child: Some(child),
            addr,
            dir,
            stderr_log,
            stdout_log,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `http://127.0.0.1:PORT`, as `__OW_API_HOST` wants it.
    pub fn api_host(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.stderr_log).unwrap_or_else(|e| format!("<no log: {e}>"))
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!(
                        "whisk serve exited with {status} before it was ready; its log ({}):\n{}",
                        self.stderr_log.display(),
                        self.log()
                    ));
                }
            }
            if health_status(self.addr) == Some(200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "whisk serve did not answer GET /health with 200 within {READY_TIMEOUT:?}; \
                     its log ({}):\n{}",
                    self.stderr_log.display(),
                    self.log()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, up to [`STOP_GRACE`] to exit, then SIGKILL of the process group. Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        // The group id is the server's pid (process_group(0)); whatever is left of it —
        // the server if it ignored SIGTERM, action proxies it failed to clean up — goes.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for WhiskServer {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            eprintln!(
                "whisk server files kept for inspection in {}",
                self.dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn config_toml(options: &ServerOptions, addr: SocketAddr, dir: &Path) -> String {
    let toml_str = |p: &Path| format!("{:?}", p.display().to_string());
    let bin_dir = &options.bin_dir;
    // The factory's line of [spi] and its table come last: [spi] is the table open there.
    format!(
        r#"[server]
listen = "{addr}"
data_dir = {data}

[loader]
dirs = [{bin}]

[invoker]
count = 1
memory_mb = {memory}
idle_timeout_s = 600

[plugins.file-logging]
directory = {logs}

[plugins.basic-auth]
credentials_file = {credentials}

[spi]
load_balancer = "roundrobin-lb"
log_store = "file-logging"
authentication = ["basic-auth"]
{factory}"#,
        data = toml_str(&dir.join("data")),
        bin = toml_str(bin_dir),
        memory = options.invoker_memory_mb,
        logs = toml_str(&dir.join("logs")),
        credentials = toml_str(&workspace_root().join("config/guest-auth.toml")),
        factory = options.factory.table(bin_dir),
    )
}

/// A directory of our own under the system's temp dir.
fn private_temp_dir() -> Result<PathBuf, String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("whisk-test-{}-{nanos}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// The status of `GET /health`, or None if the server does not answer (yet).
fn health_status(addr: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    // "HTTP/1.1 200"
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Names of the containers labelled `whisk.host=<host_id>`, through the Engine API.
pub fn containers_of(socket: &Path, host_id: &str) -> Vec<String> {
    use std::io::{Read, Write};
    let filter = format!("%7B%22label%22%3A%5B%22whisk.host%3D{host_id}%22%5D%7D");
    let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("the engine answers");
    write!(
        stream,
        "GET /containers/json?all=true&filters={filter} HTTP/1.0\r\nHost: d\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("[]");
    let list: Vec<serde_json::Value> = serde_json::from_str(body).unwrap_or_default();
    list.iter()
        .filter_map(|c| c["Names"][0].as_str().map(String::from))
        .collect()
}
