//! The end-to-end suite: the official OpenWhisk JS client (npm `openwhisk`) against a real
//! `whisk serve` with the process factory, round-robin load balancer, file logging and basic
//! auth plugins.
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

use server::{WhiskServer, GUEST_KEY};
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

    let server = WhiskServer::start();
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
}
