//! The end-to-end suite: the official OpenWhisk JS client (npm `openwhisk`) against a real
//! `whisk serve` with the round-robin load balancer, file logging and basic auth plugins,
//! once with the process factory and once with the docker factory on the engine at
//! `DOCKER_HOST` (podman's Docker API, started by `scripts/engine.sh`; the runtime images
//! from `scripts/build-runtime-images.sh`). The docker run also checks that every action
//! ran in a container.
//!
//! The JavaScript tests live in `host/tests/e2e` and run with node's built-in runner. This
//! test builds nothing: it checks what it needs and says how to get it, starts the server,
//! runs `node --test` with `__OW_API_HOST`/`__OW_API_KEY`, streams node's output, and on
//! failure prints the server's log.
//!
//! ```sh
//! cargo build --workspace
//! npm install --prefix host/tests/e2e
//! cargo test -p whisk-host --test npm_client
//! ```

#[path = "support/server.rs"]
mod server;

use server::{containers_of, Factory, ServerOptions, WhiskServer, GUEST_KEY};
use std::{
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// The whole suite must finish in this time (the slowest test waits for a time limit).
const SUITE_TIMEOUT: Duration = Duration::from_secs(600);

#[test]
fn openwhisk_npm_client_suite() {
    let server = suite(Factory::Process);
    drop(server);
}

#[test]
fn openwhisk_npm_client_suite_on_docker() {
    let Some(factory) = Factory::docker_from_env() else {
        assert_eq!(
            std::env::var("WHISK_SKIP_ENGINE_TESTS").as_deref(),
            Ok("1"),
            "DOCKER_HOST is not set: start the engine with `eval \"$(scripts/engine.sh start)\"` and \
             build the images with scripts/build-runtime-images.sh (or set WHISK_SKIP_ENGINE_TESTS=1)"
        );
        return;
    };
    let Factory::Docker { socket, host_id } = factory.clone() else {
        unreachable!()
    };
    let server = suite(factory);
    // Every action of the suite ran in a container of this host: the engine has them, and
    // no action-proxy process was started by the host itself.
    let containers = containers_of(&socket, &host_id);
    assert!(
        containers.len() >= 3,
        "the suite's actions ran in containers: {containers:?}"
    );
    let own_proxies = Command::new("pgrep")
        .args([
            "-P",
            &server.pid().expect("running").to_string(),
            "-x",
            "action-proxy",
        ])
        .output()
        .expect("pgrep (procps) runs, to look for local proxies");
    let own_proxies = String::from_utf8_lossy(&own_proxies.stdout)
        .trim()
        .to_string();
    assert!(
        own_proxies.is_empty(),
        "the host started local proxies: {own_proxies}"
    );
    drop(server);
    assert!(
        containers_of(&socket, &host_id).is_empty(),
        "the host removed its containers at shutdown"
    );
}

/// Runs the node suite against a server with `factory`; answers the server, still running.
fn suite(factory: Factory) -> WhiskServer {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    if let Err(missing) = server::check_prerequisites(&server::bin_dir(), "cargo build --workspace")
    {
        panic!("{missing}");
    }
    assert!(
        e2e.join("node_modules/openwhisk/package.json").is_file(),
        "the openwhisk npm client is not installed: run `npm install --prefix host/tests/e2e` first"
    );
    let node_ok = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(node_ok, "`node` (20 or newer) is not on PATH");

    let server = WhiskServer::start_with(ServerOptions {
        factory,
        ..ServerOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "whisk serve on {} (log: {})",
        server.api_host(),
        server.stderr_log.display()
    );

    // One file at a time: the list test pages through the namespace and must see it settle.
    let mut node = Command::new("node")
        .args(["--test", "--test-concurrency=1"])
        .current_dir(&e2e)
        .env("__OW_API_HOST", server.api_host())
        .env("__OW_API_KEY", GUEST_KEY)
        .env_remove("__OW_NAMESPACE")
        .env_remove("__OW_APIGW_TOKEN")
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("PROXY")
        .env_remove("proxy")
        .stdin(Stdio::null())
        .spawn()
        .expect("cannot start `node --test`");

    let deadline = Instant::now() + SUITE_TIMEOUT;
    let status = loop {
        if let Some(status) = node.try_wait().expect("waiting for node") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = node.kill();
            let _ = node.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(200));
    };

    let passed = status.is_some_and(|s| s.success());
    if !passed {
        eprintln!(
            "----- whisk serve log ({}) -----\n{}\n----- end of whisk serve log -----",
            server.stderr_log.display(),
            server.log()
        );
    }
    match status {
        None => panic!("the e2e suite did not finish within {SUITE_TIMEOUT:?}"),
        Some(status) => assert!(status.success(), "the e2e suite failed: node {status}"),
    }
    server
}
