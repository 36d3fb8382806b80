//! What the host costs on top of the action runtime: a warm blocking invoke of a trivial
//! action through `whisk serve`, against a `/run` sent straight to an action-proxy running
//! the same code, same machine, same run.
//!
//! ```sh
//! cargo build --release --workspace          # the plugins and action-proxy, release
//! cargo bench -p whisk-host --bench invoke    # prints the table
//! cargo bench -p whisk-host --bench invoke -- --iterations 2000 --write BENCHMARKS.md
//! ```
//!
//! Both sides are driven the same way: one keep-alive HTTP/1.1 connection, one request at a
//! time, `TCP_NODELAY`. The two series are measured in alternating rounds, so that drift
//! (frequency scaling, a noisy neighbour) hits both alike. Not a criterion bench on purpose:
//! what matters is the distribution of two end-to-end latencies and their ratio, not a
//! regression estimate of one function.

#[path = "../tests/support/server.rs"]
mod server;

use server::{ServerOptions, WhiskServer, GUEST_KEY, GUEST_NAMESPACE};
use std::{
    fmt::Write as _,
    fs,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// The trivial action: no logs, a constant result.
const ACTION_CODE: &str = "function main(params) { return { ok: true } }";
const ACTION_KIND: &str = "nodejs:20";
const ACTION_NAME: &str = "bench-trivial";
const EXPECTED_RESULT: &str = r#"{"ok":true}"#;
const WARMUP: usize = 50;
const ROUND: usize = 100;

fn main() {
    let args = Args::parse();
    // Before anything starts, so the load average is the machine's, not ours.
    let header = machine_header(args.iterations);
    let bin_dir = server::bin_dir();
    if let Err(e) = server::check_prerequisites(&bin_dir, "cargo build --release --workspace") {
        eprintln!("{e}");
        std::process::exit(2);
    }

    let whisk = WhiskServer::start_with(ServerOptions {
        bin_dir: bin_dir.clone(),
        env: vec![("WHISK_LOG".into(), "warn".into())],
        ..ServerOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let mut host = HostSide::new(whisk.addr);
    host.create_action();

    let proxy = ProxyProcess::start(&bin_dir.join("action-proxy"));
    let mut direct = ProxySide::new(proxy.addr);
    direct.init();

    for _ in 0..WARMUP {
        host.invoke();
        direct.run();
    }

    let mut host_times = Vec::with_capacity(args.iterations);
    let mut direct_times = Vec::with_capacity(args.iterations);
    while host_times.len() < args.iterations {
        let n = ROUND.min(args.iterations - host_times.len());
        for _ in 0..n {
            direct_times.push(timed(|| direct.run()));
        }
        for _ in 0..n {
            host_times.push(timed(|| host.invoke()));
        }
    }

    let host_stats = Stats::of(&mut host_times);
    let direct_stats = Stats::of(&mut direct_times);
    let report = report(args.iterations, &host_stats, &direct_stats);
    println!("{report}");
    if let Some(path) = args.write {
        // cargo runs a bench in its package's directory; a relative path means the
        // workspace root, where BENCHMARKS.md lives.
        let path = server::workspace_root().join(path);
        fs::write(&path, format!("{header}{report}"))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        println!("written to {}", path.display());
    }
    drop(proxy);
    drop(whisk);
}

struct Args {
    iterations: usize,
    write: Option<String>,
}

/// Iterations when run by `cargo test --benches` (no `--bench` flag): a smoke test that
/// both paths work, not a measurement.
const SMOKE_ITERATIONS: usize = 10;

impl Args {
    /// `--iterations N`, `--write FILE` (relative to the workspace root). `cargo bench`
    /// passes `--bench`; without it (`cargo test --benches`) this is a smoke run.
    fn parse() -> Self {
        let mut iterations = None;
        let mut write = None;
        let mut bench = false;
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--bench" => bench = true,
                "--iterations" => {
                    iterations = it
                        .next()
                        .and_then(|n| n.parse().ok())
                        .filter(|&n| n > 0)
                        .or_else(|| panic!("--iterations takes a positive number"))
                }
                "--write" => write = Some(it.next().expect("--write takes a file")),
                _ => {}
            }
        }
        let default = if bench { 1000 } else { SMOKE_ITERATIONS };
        Args {
            iterations: iterations.unwrap_or(default),
            write,
        }
    }
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
        // nothing can fill up and stall it.
        let child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(["--kind", ACTION_KIND])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "action-proxy did not listen");
            thread::sleep(Duration::from_millis(20));
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
    fn of(samples: &mut [Duration]) -> Self {
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

fn report(iterations: usize, host: &Stats, direct: &Stats) -> String {
    let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1000.0);
    let ratio = |a: Duration, b: Duration| format!("{:.2}×", a.as_secs_f64() / b.as_secs_f64());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Warm invoke of a trivial `{ACTION_KIND}` action, {iterations} sequential requests \
         each over one keep-alive connection ({WARMUP} warm-up requests each, not counted), \
         in alternating rounds of {ROUND}. Times in milliseconds.\n"
    );
    let _ = writeln!(out, "| path | mean | p50 | p90 | p99 | min | max |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for (name, s) in [
        (
            "through whisk (`POST …/actions/NAME?blocking=true&result=true`)",
            host,
        ),
        ("straight to action-proxy (`POST /run`)", direct),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            ms(s.mean),
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            ms(s.min),
            ms(s.max)
        );
    }
    let _ = writeln!(
        out,
        "\nRatio whisk / direct: mean {}, p50 {}, p99 {}. The host adds {} ms at the median.",
        ratio(host.mean, direct.mean),
        ratio(host.p50, direct.p50),
        ratio(host.p99, direct.p99),
        ms(host.p50.saturating_sub(direct.p50)),
    );
    let _ = writeln!(
        out,
        "\nThe direct side is the floor: HTTP to the proxy, the launcher's round trip over \
         pipes, the result back. The host side adds what DESIGN.md's data flow of a blocking \
         invoke lists: the authenticator chain, the action from the store, the load \
         balancer's choice, the invoker's warm container, the same `/run`, the logs collected \
         up to the sentinels and handed to the LogStore, the activation record stored, the \
         completion, the HTTP response. Both series run on the same machine at the same time \
         as each other, so background load shows in both; compare the ratio, not the \
         absolute numbers, across machines."
    );
    out
}

/// The machine, for the file: cores, CPU model, kernel, date.
fn machine_header(iterations: usize) -> String {
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
    format!(
        "# Benchmarks\n\n\
         Produced by `cargo build --release --workspace && cargo bench -p whisk-host --bench \
         invoke -- --iterations {iterations} --write BENCHMARKS.md` \
         (source: `host/benches/invoke.rs`; release build of whisk, its plugins and \
         action-proxy).\n\n\
         ## Warm blocking invoke: whisk vs. the bare action runtime\n\n\
         - Machine: {} cores (`nproc`), {cpu}\n\
         - Kernel: {}\n\
         - Node.js: {}\n\
         - Load average before the run (1/5/15 min): {}\n\
         - Date: {}\n\n",
        run("nproc", &[]),
        run("uname", &["-sr"]),
        run("node", &["--version"]),
        fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".into()),
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
