//! What the host costs on top of the action runtime, and what a container costs on top of a
//! process: blocking invokes of a trivial action through `whisk serve`, once per
//! ContainerFactory (process-factory always; docker-factory when `DOCKER_HOST` names an
//! engine), against `/init` and `/run` sent straight to an action-proxy running the same
//! code, same machine, same run.
//!
//! ```sh
//! cargo build --release --workspace          # the plugins and action-proxy, release
//! eval "$(scripts/engine.sh start)"           # optional: docker-factory on podman
//! scripts/build-runtime-images.sh             #   and its runtime images
//! cargo bench -p whisk-host --bench invoke    # prints the tables
//! cargo bench -p whisk-host --bench invoke -- --iterations 1000 --cold 20 --write BENCHMARKS.md
//! ```
//!
//! Two measurements per path:
//! - **cold start**: a blocking invoke that needs a new container. Before each sample the
//!   action is updated (`PUT ?overwrite=true`, not timed); that bumps its version, and a
//!   container initialized with the old version cannot serve the new one, so the invoker
//!   creates, starts and `/init`s a container before the `/run`. The activation record's
//!   `initTime` annotation says how much of that was the `/init` (as in OpenWhisk, the
//!   container's creation counts as `waitTime`); the direct counterpart is a fresh action-proxy process, spawned, `/init`ed and `/run`.
//!   Old versions' idle containers stay in the pool until its memory budget evicts them, so
//!   at most [`POOL_CONTAINERS`] exist per server; the docker run checks that the server
//!   removed every container it labelled `whisk.host=<host id>` when it stopped.
//! - **warm invoke**: one keep-alive HTTP/1.1 connection, one request at a time,
//!   `TCP_NODELAY`, the series measured in alternating rounds, so that drift (frequency
//!   scaling, a noisy neighbour) hits all alike.
//!
//! Not a criterion bench on purpose: what matters is the distribution of end-to-end
//! latencies and their ratios, not a regression estimate of one function.

#[path = "../tests/support/server.rs"]
mod server;

use serde_json::Value;
use server::{Factory, ServerOptions, WhiskServer, GUEST_KEY, GUEST_NAMESPACE};
use std::{
    fmt::Write as _,
    fs,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// The trivial action: no logs, a constant result.
const ACTION_CODE: &str = "function main(params) { return { ok: true } }";
const ACTION_KIND: &str = "nodejs:20";
const ACTION_NAME: &str = "bench-trivial";
const EXPECTED_RESULT: &str = r#"{"ok":true}"#;
/// The action's memory limit (OpenWhisk's default), which the pool budget counts.
const ACTION_MEMORY_MB: u64 = 256;
/// Containers a server's pool holds before it evicts the least recently used idle one.
const POOL_CONTAINERS: u64 = 8;
const WARMUP: usize = 50;
const ROUND: usize = 100;

fn main() {
    let args = Args::parse();
    if args.help {
        println!("{}", Args::USAGE);
        return;
    }
    let bin_dir = server::bin_dir();
    if let Err(e) = server::check_prerequisites(&bin_dir, "cargo build --release --workspace") {
        eprintln!("{e}");
        std::process::exit(2);
    }
    let docker = Factory::docker_from_env().map(|factory| match factory {
        Factory::Docker { socket, .. } => Engine {
            socket,
            host_id: format!("whisk-bench-{}", std::process::id()),
        },
        Factory::Process => unreachable!("docker_from_env answers docker-factory"),
    });
    // Before anything starts, so the load average is the machine's, not ours.
    let header = machine_header(&args, docker.as_ref());

    let mut hosts = vec![HostUnderTest::start(
        "process-factory",
        Factory::Process,
        None,
    )];
    if let Some(engine) = &docker {
        hosts.push(HostUnderTest::start(
            "docker-factory",
            Factory::Docker {
                socket: engine.socket.clone(),
                host_id: engine.host_id.clone(),
            },
            Some(engine.clone()),
        ));
    }

    // Cold starts, one path after the other for each sample, so drift hits all alike. The
    // first of each is not counted: it pays one-time costs (the page cache, the engine's
    // first container from the image).
    let bin = bin_dir.join("action-proxy");
    let mut direct_cold = ColdSamples::default();
    for sample in 0..=args.cold {
        for host in &mut hosts {
            let (total, init) = host.cold_invoke();
            if sample > 0 {
                host.cold.total.push(total);
                host.cold.init.push(init);
            }
        }
        let (total, init) = cold_direct(&bin);
        if sample > 0 {
            direct_cold.total.push(total);
            direct_cold.init.push(init);
        }
    }
    for host in &mut hosts {
        if let Some(engine) = &host.engine {
            host.containers_after_cold = Some(engine.containers().len());
        }
    }

    // Warm invokes: the container of the action's current version is there from the last
    // cold sample; the direct side gets a proxy of its own, initialized once.
    let proxy = ProxyProcess::start(&bin);
    let mut direct = ProxySide::new(proxy.addr);
    direct.init();
    for _ in 0..WARMUP {
        direct.run();
        for host in &mut hosts {
            host.side.invoke();
        }
    }
    let mut direct_warm = Vec::with_capacity(args.iterations);
    while direct_warm.len() < args.iterations {
        let n = ROUND.min(args.iterations - direct_warm.len());
        // One untimed request opens each round: the pool suspends a container idle for its
        // pause grace (process-factory: SIGSTOP after 50 ms), which the other series' rounds
        // last longer than, and resuming it is not what a warm invoke measures.
        direct.run();
        for _ in 0..n {
            direct_warm.push(timed(|| direct.run()));
        }
        for host in &mut hosts {
            host.side.invoke();
            for _ in 0..n {
                host.warm.push(timed(|| host.side.invoke()));
            }
        }
    }
    drop(proxy);

    let after_load = load_average();
    let mut results = Results {
        iterations: args.iterations,
        cold: args.cold,
        hosts: Vec::new(),
        direct_cold: direct_cold.stats(),
        direct_warm: Stats::of(&direct_warm),
        direct_rounds: RoundDrift::of(&direct_warm),
        docker_measured: docker.is_some(),
        after_load,
    };
    let mut leftovers = false;
    for mut host in hosts {
        host.whisk.stop();
        // The server removes its containers at shutdown: none may be left.
        let left = host
            .engine
            .as_ref()
            .map(|e| (e.host_id.clone(), e.containers()));
        if let Some((_, names)) = &left {
            if !names.is_empty() {
                eprintln!("containers left on the engine after the server stopped: {names:?}");
                leftovers = true;
            }
        }
        results.hosts.push(HostResults {
            label: host.label,
            cold: host.cold.stats(),
            cold_split: host.cold.eviction_split(),
            warm: Stats::of(&host.warm),
            rounds: RoundDrift::of(&host.warm),
            containers_after_cold: host.containers_after_cold,
            left: left.map(|(id, names)| (id, names.len())),
        });
    }

    let report = report(&results);
    println!("{report}");
    if let Some(path) = args.write {
        // cargo runs a bench in its package's directory; a relative path means the
        // workspace root, where BENCHMARKS.md lives.
        let path = server::workspace_root().join(path);
        fs::write(&path, format!("{header}{report}"))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        println!("written to {}", path.display());
    }
    if leftovers {
        std::process::exit(1);
    }
}

struct Args {
    iterations: usize,
    cold: usize,
    write: Option<String>,
    note: Option<String>,
    help: bool,
}

/// Iterations and cold samples when run by `cargo test --benches` (no `--bench` flag): a
/// smoke test that every path works, not a measurement.
const SMOKE_ITERATIONS: usize = 10;
const SMOKE_COLD: usize = 2;

impl Args {
    const USAGE: &'static str = "\
cargo bench -p whisk-host --bench invoke -- [OPTIONS]

Blocking invokes of a trivial nodejs:20 action through `whisk serve` with process-factory
and, when DOCKER_HOST is set, docker-factory (eval \"$(scripts/engine.sh start)\" and
scripts/build-runtime-images.sh), against /init and /run straight to an action-proxy.
Needs a release build first: cargo build --release --workspace

  --iterations N   warm requests per path (default 1000; 10 under cargo test --benches)
  --cold N         cold starts per path (default 20; 2 under cargo test --benches)
  --write FILE     also write the report with the machine's description to FILE
                   (relative to the workspace root, e.g. BENCHMARKS.md)
  --note TEXT      a line about the machine for the report (e.g. that it is shared)
  --help           this text";

    /// `cargo bench` passes `--bench`; without it (`cargo test --benches`) this is a smoke
    /// run.
    fn parse() -> Self {
        let positive = |flag: &str, value: Option<String>| -> usize {
            value
                .and_then(|n| n.parse().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| panic!("{flag} takes a positive number"))
        };
        let mut iterations = None;
        let mut cold = None;
        let mut write = None;
        let mut note = None;
        let mut bench = false;
        let mut help = false;
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--bench" => bench = true,
                "--help" | "-h" => help = true,
                "--iterations" => iterations = Some(positive("--iterations", it.next())),
                "--cold" => cold = Some(positive("--cold", it.next())),
                "--write" => write = Some(it.next().expect("--write takes a file")),
                "--note" => note = Some(it.next().expect("--note takes a text")),
                _ => {}
            }
        }
        let (default_iterations, default_cold) = if bench {
            (1000, 20)
        } else {
            (SMOKE_ITERATIONS, SMOKE_COLD)
        };
        Args {
            iterations: iterations.unwrap_or(default_iterations),
            cold: cold.unwrap_or(default_cold),
            write,
            note,
            help,
        }
    }
}

/// One `whisk serve` with one ContainerFactory, and what was measured through it.
struct HostUnderTest {
    label: &'static str,
    whisk: WhiskServer,
    side: HostSide,
    /// The engine, for docker-factory.
    engine: Option<Engine>,
    cold: ColdSamples,
    warm: Vec<Duration>,
    containers_after_cold: Option<usize>,
}

impl HostUnderTest {
    fn start(label: &'static str, factory: Factory, engine: Option<Engine>) -> Self {
        let whisk = WhiskServer::start_with(ServerOptions {
            invoker_memory_mb: POOL_CONTAINERS * ACTION_MEMORY_MB,
            env: vec![("WHISK_LOG".into(), "warn".into())],
            factory,
            ..ServerOptions::default()
        })
        .unwrap_or_else(|e| panic!("{label}: {e}"));
        let side = HostSide::new(whisk.addr);
        Self {
            label,
            whisk,
            side,
            engine,
            cold: ColdSamples::default(),
            warm: Vec::new(),
            containers_after_cold: None,
        }
    }

    /// A new version of the action (not timed), then a timed blocking invoke of it: the
    /// time the client waited, and the record's `initTime`.
    fn cold_invoke(&mut self) -> (Duration, Duration) {
        self.side.create_action();
        let start = Instant::now();
        let record = self.side.invoke_record();
        let total = start.elapsed();
        let record: Value = serde_json::from_str(&record)
            .unwrap_or_else(|e| panic!("{}: the activation record: {e}: {record}", self.label));
        assert_eq!(
            record["response"]["result"],
            serde_json::json!({ "ok": true }),
            "{}: cold invoke result: {record}",
            self.label
        );
        let init = record["annotations"]
            .as_array()
            .and_then(|a| a.iter().find(|kv| kv["key"] == "initTime"))
            .and_then(|kv| kv["value"].as_u64())
            .unwrap_or_else(|| {
                panic!(
                    "{}: no initTime in the record, so no new container: {record}",
                    self.label
                )
            });
        (total, Duration::from_millis(init))
    }
}

/// The engine docker-factory uses, to see its containers.
#[derive(Clone)]
struct Engine {
    socket: PathBuf,
    host_id: String,
}

impl Engine {
    /// Names of the containers labelled `whisk.host=<host_id>`, running or not. (A count
    /// of zero after the cold samples, where the pool keeps several, would mean the engine
    /// did not answer with a list.)
    fn containers(&self) -> Vec<String> {
        server::containers_of(&self.socket, &self.host_id)
    }

    /// The engine's name and version, as `GET /version` has them.
    fn version(&self) -> String {
        let body = self.get("/version");
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        let product = v["Components"][0]["Name"].as_str().unwrap_or("engine");
        format!(
            "{product} {} (Docker Engine API {})",
            v["Version"].as_str().unwrap_or("?"),
            v["ApiVersion"].as_str().unwrap_or("?")
        )
    }

    /// The body of a GET over HTTP/1.0, which the engine answers and then closes.
    fn get(&self, path: &str) -> String {
        let mut stream = UnixStream::connect(&self.socket).unwrap_or_else(|e| {
            panic!(
                "the engine at {} does not answer: {e} (scripts/engine.sh status)",
                self.socket.display()
            )
        });
        write!(stream, "GET {path} HTTP/1.0\r\nHost: engine\r\n\r\n").expect("request");
        let mut raw = String::new();
        stream
            .read_to_string(&mut raw)
            .expect("the engine's answer");
        raw.split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct ColdSamples {
    /// The whole invoke, as the client saw it.
    total: Vec<Duration>,
    /// Host: the record's `initTime`; direct: the `/init` request.
    init: Vec<Duration>,
}

impl ColdSamples {
    fn stats(&self) -> ColdStats {
        ColdStats {
            total: Stats::of(&self.total),
            init: Stats::of(&self.init),
        }
    }

    /// Through whisk, taken in order from a new server: the median invoke of the samples
    /// that found room in the pool, and of those that had to evict an idle container
    /// first; `None` unless there are both. The first, uncounted sample made the first
    /// container, so counted sample `i` makes container `i + 2`.
    fn eviction_split(&self) -> Option<(Duration, Duration)> {
        let room = (POOL_CONTAINERS as usize)
            .saturating_sub(1)
            .min(self.total.len());
        let (fit, evicted) = self.total.split_at(room);
        (!fit.is_empty() && !evicted.is_empty())
            .then(|| (Stats::of(fit).p50, Stats::of(evicted).p50))
    }
}

struct ColdStats {
    total: Stats,
    init: Stats,
}

struct HostResults {
    label: &'static str,
    cold: ColdStats,
    /// See [`ColdSamples::eviction_split`].
    cold_split: Option<(Duration, Duration)>,
    warm: Stats,
    rounds: RoundDrift,
    containers_after_cold: Option<usize>,
    /// Host id and how many of its containers the engine still had after the server stopped.
    left: Option<(String, usize)>,
}

struct Results {
    iterations: usize,
    cold: usize,
    hosts: Vec<HostResults>,
    direct_cold: ColdStats,
    direct_warm: Stats,
    direct_rounds: RoundDrift,
    docker_measured: bool,
    after_load: String,
}

/// The median of a warm series' first and last round: drift within the run, whether from
/// the machine or from the path itself.
struct RoundDrift {
    first: Duration,
    last: Duration,
}

impl RoundDrift {
    /// Of the samples in the order they were taken.
    fn of(samples: &[Duration]) -> Self {
        let median = |round: &[Duration]| {
            let mut round = round.to_vec();
            round.sort();
            round[round.len() / 2]
        };
        let last_start = (samples.len() - 1) / ROUND * ROUND;
        Self {
            first: median(&samples[..ROUND.min(samples.len())]),
            last: median(&samples[last_start..]),
        }
    }
}

/// The direct counterpart of a cold start: spawn an action-proxy, wait until it listens,
/// `/init`, `/run`. Answers the whole time and that of the `/init` request.
fn cold_direct(binary: &Path) -> (Duration, Duration) {
    let start = Instant::now();
    let proxy = ProxyProcess::start(binary);
    let mut side = ProxySide::new(proxy.addr);
    let init = timed(|| side.init());
    side.run();
    let total = start.elapsed();
    drop(side);
    drop(proxy);
    (total, init)
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// Invokes through the REST API, as a client would.
struct HostSide {
    conn: Connection,
    auth: String,
}

impl HostSide {
    fn new(addr: SocketAddr) -> Self {
        Self {
            conn: Connection::open(addr),
            auth: format!("Basic {}", base64(GUEST_KEY.as_bytes())),
        }
    }

    fn create_action(&mut self) {
        let body = format!(
            r#"{{"exec":{{"kind":"{ACTION_KIND}","code":{}}}}}"#,
            json_string(ACTION_CODE)
        );
        let path =
            format!("/api/v1/namespaces/{GUEST_NAMESPACE}/actions/{ACTION_NAME}?overwrite=true");
        let (status, answer) = self.conn.request("PUT", &path, Some(&self.auth), &body);
        assert_eq!(status, 200, "creating the action: {answer}");
    }

    fn invoke(&mut self) {
        let path = format!(
            "/api/v1/namespaces/{GUEST_NAMESPACE}/actions/{ACTION_NAME}?blocking=true&result=true"
        );
        let (status, answer) = self.conn.request("POST", &path, Some(&self.auth), "{}");
        assert_eq!(status, 200, "invoke: {answer}");
        assert_eq!(strip_ws(&answer), EXPECTED_RESULT, "invoke result");
    }

    /// A blocking invoke answering the whole activation record.
    fn invoke_record(&mut self) -> String {
        let path =
            format!("/api/v1/namespaces/{GUEST_NAMESPACE}/actions/{ACTION_NAME}?blocking=true");
        let (status, answer) = self.conn.request("POST", &path, Some(&self.auth), "{}");
        assert_eq!(status, 200, "invoke: {answer}");
        answer
    }
}

/// `/init` and `/run` straight to an action-proxy.
struct ProxySide {
    conn: Connection,
    activation: u64,
}

impl ProxySide {
    fn new(addr: SocketAddr) -> Self {
        Self {
            conn: Connection::open(addr),
            activation: 0,
        }
    }

    fn init(&mut self) {
        let body = format!(
            r#"{{"value":{{"code":{},"main":"main","binary":false,"env":{{}},"name":"{ACTION_NAME}"}}}}"#,
            json_string(ACTION_CODE)
        );
        let (status, answer) = self.conn.request("POST", "/init", None, &body);
        assert_eq!(status, 200, "/init: {answer}");
    }

    /// A body shaped like the one the host sends: the value and the activation's context.
    fn run(&mut self) {
        self.activation += 1;
        let body = format!(
            r#"{{"value":{{}},"namespace":"{GUEST_NAMESPACE}","action_name":"/{GUEST_NAMESPACE}/{ACTION_NAME}","activation_id":"{:032x}","transaction_id":"bench","deadline":"{}","api_key":"{GUEST_KEY}"}}"#,
            self.activation,
            u64::MAX / 2
        );
        let (status, answer) = self.conn.request("POST", "/run", None, &body);
        assert_eq!(status, 200, "/run: {answer}");
        assert_eq!(strip_ws(&answer), EXPECTED_RESULT, "/run result");
    }
}

/// The variables of the bench's environment an action-proxy of the direct side inherits:
/// process-factory's default `pass_env`.
const PROXY_ENV: [&str; 9] = [
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "__OW_PROXY_NODE",
    "__OW_PROXY_PYTHON",
    "ACTION_PROXY_LOG",
];

/// An action-proxy process of our own, for the direct side.
struct ProxyProcess {
    child: Child,
    addr: SocketAddr,
}

impl ProxyProcess {
    fn start(binary: &Path) -> Self {
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        // No pipes: its output (only the activation sentinels here) goes to /dev/null, so
        // nothing can fill up and stall it. The environment is what process-factory gives
        // its proxies (its default `pass_env`), not the bench's: node reads some variables
        // at startup (`NODE_EXTRA_CA_CERTS` alone adds about 100 ms to every `/init` here).
        let child = Command::new(binary)
            .env_clear()
            .envs(
                PROXY_ENV
                    .iter()
                    .filter_map(|k| std::env::var_os(k).map(|v| (k, v))),
            )
            .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(["--kind", ACTION_KIND])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let deadline = Instant::now() + Duration::from_secs(10);
        // Polled often: a cold sample of the direct side counts this wait.
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "action-proxy did not listen");
            thread::sleep(Duration::from_millis(1));
        }
        Self { child, addr }
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        // SIGTERM lets it remove its private directory; SIGKILL if it does not go.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal keep-alive HTTP/1.1 client: one connection, one request at a time,
/// `Content-Length` or chunked answers. Enough for two servers we know, nothing more.
struct Connection {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl Connection {
    fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .expect("read timeout");
        Self {
            addr,
            reader: BufReader::new(stream),
        }
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: &str,
    ) -> (u16, String) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(auth) = authorization {
            let _ = write!(head, "Authorization: {auth}\r\n");
        }
        head.push_str("\r\n");
        head.push_str(body);
        let stream = self.reader.get_mut();
        stream
            .write_all(head.as_bytes())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        self.read_response()
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn read_response(&mut self) -> std::io::Result<(u16, String)> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(format!("bad status line {line:?}")))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
                let start = body.len();
                body.resize(start + size, 0);
                self.reader.read_exact(&mut body[start..])?;
                line.clear();
                self.reader.read_line(&mut line)?; // the chunk's CRLF
                if size == 0 {
                    break;
                }
            }
        } else {
            let length = length.ok_or_else(|| invalid("no Content-Length".into()))?;
            body.resize(length, 0);
            self.reader.read_exact(&mut body)?;
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

struct Stats {
    mean: Duration,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    min: Duration,
    max: Duration,
}

impl Stats {
    /// Of samples in any order (they stay in theirs).
    fn of(samples: &[Duration]) -> Self {
        let mut samples = samples.to_vec();
        samples.sort();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Self {
            mean: samples.iter().sum::<Duration>() / samples.len() as u32,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            min: samples[0],
            max: samples[samples.len() - 1],
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.2}×", a.as_secs_f64() / b.as_secs_f64())
}

fn row(out: &mut String, name: &str, s: &Stats, columns: &[fn(&Stats) -> Duration]) {
    let _ = write!(out, "| {name} |");
    for column in columns {
        let _ = write!(out, " {} |", ms(column(s)));
    }
    out.push('\n');
}

fn report(r: &Results) -> String {
    let mut out = String::new();
    let not_measured = "**docker-factory was not measured in this run**: `DOCKER_HOST` was not \
        set. To include it, start podman's Docker API service and import the runtime images, \
        then run the same command with `DOCKER_HOST` set: `eval \"$(scripts/engine.sh start)\" \
        && scripts/build-runtime-images.sh && cargo bench -p whisk-host --bench invoke -- …` \
        (`scripts/engine.sh status` says whether it runs; `eval \"$(scripts/engine.sh env)\"` \
        sets the variables again in another shell).";

    let _ = writeln!(
        out,
        "## Cold start: a blocking invoke that needs a new container\n\n\
         {cold} samples per path (one more before them, not counted: it pays one-time costs \
         such as the page cache and the engine's first container from the image), the paths \
         taking turns sample by sample. Before each sample through whisk the action is \
         updated (`PUT …/actions/NAME?overwrite=true`, not timed): its new version is in no \
         warm container, so the invoke creates a container, starts it, waits until its proxy \
         listens, `/init`s it and `/run`s it. Times in milliseconds.\n",
        cold = r.cold
    );
    let cold_columns: [fn(&Stats) -> Duration; 5] =
        [|s| s.mean, |s| s.p50, |s| s.p90, |s| s.max, |s| s.min];
    let _ = writeln!(out, "| path | mean | p50 | p90 | max | min |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for h in &r.hosts {
        row(
            &mut out,
            &format!("whisk + {}: blocking invoke, as the client waits", h.label),
            &h.cold.total,
            &cold_columns,
        );
        row(
            &mut out,
            &format!("whisk + {}: the record's `initTime`", h.label),
            &h.cold.init,
            &cold_columns,
        );
    }
    row(
        &mut out,
        "straight to a new action-proxy process: spawn, listen, `/init`, `/run`",
        &r.direct_cold.total,
        &cold_columns,
    );
    row(
        &mut out,
        "straight to a new action-proxy process: the `/init` request",
        &r.direct_cold.init,
        &cold_columns,
    );
    out.push('\n');
    if !r.docker_measured {
        let _ = writeln!(out, "{not_measured}\n");
    }
    for h in &r.hosts {
        let _ = writeln!(
            out,
            "- {}: a cold start takes {} of the direct one at the median ({} mean), and as \
             long as {:.0} warm invokes through whisk (p50 / p50); `initTime` is {} of it at \
             the median.",
            h.label,
            ratio(h.cold.total.p50, r.direct_cold.total.p50),
            ratio(h.cold.total.mean, r.direct_cold.total.mean),
            h.cold.total.p50.as_secs_f64() / h.warm.p50.as_secs_f64(),
            percent(h.cold.init.p50, h.cold.total.p50),
        );
    }
    if let [process, docker] = &r.hosts[..] {
        let _ = writeln!(
            out,
            "- docker-factory / process-factory, cold: invoke p50 {}, mean {}; `initTime` \
             p50 {}. The container's extra cost at the median: {} ms.",
            ratio(docker.cold.total.p50, process.cold.total.p50),
            ratio(docker.cold.total.mean, process.cold.total.mean),
            ratio(docker.cold.init.p50, process.cold.init.p50),
            ms(docker.cold.total.p50.saturating_sub(process.cold.total.p50)),
        );
    }
    let _ = writeln!(
        out,
        "\nwhisk's `initTime` is the `/init` request alone, as OpenWhisk records it; creating \
         the container (process-factory: spawn action-proxy and wait for its port; \
         docker-factory: create and start the container through the engine, wait for the \
         proxy's port) counts as `waitTime`. The direct `/init` row is the same request on a \
         bare proxy: the proxy starting node's launcher, which loads the code. What the invoke \
         takes beyond `initTime` is the container's creation, the host's share and the \
         `/run`.\n\n\
         The containers of old versions stay idle in the pool until its memory budget \
         ({budget} MB: {POOL_CONTAINERS} containers of {ACTION_MEMORY_MB} MB) makes room for \
         a new one by evicting the least recently used: from the {POOL_CONTAINERS}th counted \
         sample of a server on, a cold start first evicts one, whose removal runs in the \
         background while the new container is created, as on any full pool.\n",
        budget = POOL_CONTAINERS * ACTION_MEMORY_MB,
    );
    for h in &r.hosts {
        let mut line = String::new();
        if let Some((fit, evicted)) = h.cold_split {
            let _ = write!(
                line,
                " Median invoke {} ms without an eviction, {} ms with one.",
                ms(fit),
                ms(evicted)
            );
        }
        if let (Some(after_cold), Some((host_id, left))) = (h.containers_after_cold, &h.left) {
            let _ = write!(
                line,
                " The engine held {after_cold} containers labelled `whisk.host={host_id}` \
                 after the cold samples, and {left} once the server had stopped{}.",
                if *left == 0 {
                    " (it removes its containers at shutdown)"
                } else {
                    ": **the server left containers behind**"
                }
            );
        }
        if !line.is_empty() {
            let _ = writeln!(out, "- {}:{line}", h.label);
        }
    }

    let _ = writeln!(
        out,
        "\n## Warm invoke: whisk vs. the bare action runtime\n\n\
         A trivial `{ACTION_KIND}` action, {iterations} sequential requests per path, each \
         over one keep-alive connection ({WARMUP} warm-up requests each, not counted), in \
         alternating rounds of {ROUND}. Each round opens with one request that is not timed: \
         the pool suspends a container once it has been idle for its pause grace \
         (process-factory: SIGSTOP after 50 ms), the other paths' rounds last longer than \
         that, and resuming is not part of a warm invoke. Times in milliseconds.\n",
        iterations = r.iterations
    );
    let warm_columns: [fn(&Stats) -> Duration; 6] = [
        |s| s.mean,
        |s| s.p50,
        |s| s.p90,
        |s| s.p99,
        |s| s.min,
        |s| s.max,
    ];
    let _ = writeln!(out, "| path | mean | p50 | p90 | p99 | min | max |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for h in &r.hosts {
        row(
            &mut out,
            &format!(
                "whisk + {} (`POST …/actions/NAME?blocking=true&result=true`)",
                h.label
            ),
            &h.warm,
            &warm_columns,
        );
    }
    row(
        &mut out,
        "straight to action-proxy (`POST /run`)",
        &r.direct_warm,
        &warm_columns,
    );
    out.push('\n');
    if !r.docker_measured {
        let _ = writeln!(out, "{not_measured}\n");
    }
    for h in &r.hosts {
        let _ = writeln!(
            out,
            "- whisk + {} / direct: mean {}, p50 {}, p99 {}. The host adds {} ms at the \
             median.",
            h.label,
            ratio(h.warm.mean, r.direct_warm.mean),
            ratio(h.warm.p50, r.direct_warm.p50),
            ratio(h.warm.p99, r.direct_warm.p99),
            ms(h.warm.p50.saturating_sub(r.direct_warm.p50)),
        );
    }
    if let [process, docker] = &r.hosts[..] {
        let _ = writeln!(
            out,
            "- docker-factory / process-factory, warm: mean {}, p50 {}, p99 {}.",
            ratio(docker.warm.mean, process.warm.mean),
            ratio(docker.warm.p50, process.warm.p50),
            ratio(docker.warm.p99, process.warm.p99),
        );
    }
    let mut drift = r
        .hosts
        .iter()
        .map(|h| (format!("whisk + {}", h.label), &h.rounds))
        .collect::<Vec<_>>();
    drift.push(("direct".to_string(), &r.direct_rounds));
    if r.iterations > ROUND {
        let _ = writeln!(
            out,
            "- p50 of the first round → the last: {}.",
            drift
                .iter()
                .map(|(name, d)| format!("{name} {} → {} ms", ms(d.first), ms(d.last)))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let _ = writeln!(
        out,
        "\nThe direct side is the floor: HTTP to the proxy, the launcher's round trip over \
         pipes, the result back. The host side adds what DESIGN.md's data flow of a blocking \
         invoke lists: the authenticator chain, the action from the store, the load \
         balancer's choice, the invoker's warm container, the same `/run`, the logs collected \
         up to the sentinels (docker-factory: from the container's log file) and handed to the \
         LogStore, the activation record stored, the completion, the HTTP response.{}\n\n\
         All paths run on the same machine in the same run, taking turns, so background \
         load shows in all of them; the load average after the run (1/5/15 min) was {}. \
         Compare the ratios, not the absolute numbers, across machines and runs.",
        if r.docker_measured {
            " docker-factory reads an activation's lines from the log file the engine \
             names for the container (`LogPath`), from where the previous read stopped \
             (`plugins/docker-factory/src/log_file.rs`), not through the Engine API, which \
             can only replay a container's whole log: so its warm invoke does not cost more \
             the more activations the container has served (compare the first and last \
             rounds above)."
        } else {
            ""
        },
        r.after_load
    );
    out
}

fn percent(part: Duration, whole: Duration) -> String {
    format!("{:.0} %", 100.0 * part.as_secs_f64() / whole.as_secs_f64())
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The machine, for the file: cores, CPU model, kernel, node, the engine, load, date.
fn machine_header(args: &Args, engine: Option<&Engine>) -> String {
    let run = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let mut command = format!(
        "cargo build --release --workspace && {}cargo bench -p whisk-host --bench invoke -- \
         --iterations {} --cold {}",
        if engine.is_some() {
            "eval \"$(scripts/engine.sh env)\" && "
        } else {
            ""
        },
        args.iterations,
        args.cold
    );
    if let Some(path) = &args.write {
        let _ = write!(command, " --write {path}");
    }
    if let Some(note) = &args.note {
        let _ = write!(command, " --note '{note}'");
    }
    let mut machine = format!("- Machine: {} cores (`nproc`), {cpu}\n", run("nproc", &[]));
    if let Some(note) = &args.note {
        let _ = writeln!(machine, "- Note: {note}");
    }
    format!(
        "# Benchmarks\n\n\
         Produced by `{command}` (source: `host/benches/invoke.rs`; release build of whisk, \
         its plugins and action-proxy).\n\n\
         Blocking invokes of a trivial `{ACTION_KIND}` action through whisk with each \
         ContainerFactory, cold and warm, against `/init` and `/run` sent straight to the \
         bare action runtime (action-proxy).\n\n\
         {machine}\
         - Kernel: {}\n\
         - Node.js: {}\n\
         - Container engine (docker-factory): {}\n\
         - Load average before the run (1/5/15 min): {}\n\
         - Date: {}\n\n",
        run("uname", &["-sr"]),
        run("node", &["--version"]),
        engine.map_or_else(
            || "none, `DOCKER_HOST` not set".to_string(),
            |e| format!("{} at `DOCKER_HOST`", e.version())
        ),
        load_average(),
        run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
    )
}

fn strip_ws(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
