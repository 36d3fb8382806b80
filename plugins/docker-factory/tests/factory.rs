//! docker-factory against a real engine (podman's Docker API service or Docker) and the
//! runtime images of scripts/build-runtime-images.sh. See tests/support for the rules on
//! `DOCKER_HOST` and skipping.

mod support;

use serde_json::json;
use std::time::{Duration, Instant};
use whisk_spi::{ContainerFactory, ContainerStatus, ErrorKind, LogsRequest};

const NODE_ACTION: &str = r#"
function main(params) {
  for (let i = 0; i < (params.lines || 1); i++) {
    console.log(`stdout ${params.n} ${i} ` + "x".repeat(params.width || 0));
  }
  console.error(`stderr ${params.n}`);
  return { n: params.n, env: process.env.TEST_ENV, kind: process.env.__OW_KIND };
}
"#;

fn wait_logs(since: u64, limit_bytes: u64) -> LogsRequest {
    LogsRequest {
        since,
        limit_bytes,
        wait_for_sentinel: true,
        timeout_ms: 5_000,
    }
}

fn messages(logs: &whisk_spi::ContainerLogs) -> Vec<String> {
    logs.lines
        .iter()
        .map(|l| format!("{}: {}", l.stream, l.message))
        .collect()
}

#[tokio::test]
async fn a_nodejs_container_runs_an_action_and_its_logs_end_at_the_sentinel() {
    let socket = require_engine!();
    let host_id = support::unique_host_id("node");
    let factory = support::factory(&host_id, "");

    let started = Instant::now();
    let handle = factory
        .create(support::spec("guest_hello", "nodejs:20", 256))
        .await
        .expect("create a nodejs container");
    eprintln!(
        "create + start + ready: {} ms",
        started.elapsed().as_millis()
    );
    assert_eq!(handle.name.as_str(), format!("{host_id}-0_guest_hello"));
    assert!(
        handle.address.starts_with("127.0.0.1:"),
        "{}",
        handle.address
    );

    // What the engine was asked for.
    let (status, info) = support::inspect_json(&socket, &handle.id);
    assert_eq!(status, 200);
    let hc = &info["HostConfig"];
    assert_eq!(hc["NetworkMode"], "host");
    assert_eq!(hc["Memory"], 256 * 1024 * 1024);
    assert_eq!(hc["MemorySwap"], 256 * 1024 * 1024);
    assert_eq!(hc["CpuShares"], 256);
    assert_eq!(hc["PidsLimit"], 1024);
    assert_eq!(info["Config"]["Labels"]["whisk.host"], host_id.as_str());
    let env: Vec<String> = serde_json::from_value(info["Config"]["Env"].clone()).unwrap();
    let port = handle.address.rsplit(':').next().unwrap();
    for expected in [
        "TEST_ENV=from-spec".to_string(),
        "__OW_KIND=nodejs:20".to_string(),
        format!("__OW_PROXY_PORT={port}"),
        "__OW_PROXY_HOST=127.0.0.1".to_string(),
    ] {
        assert!(env.contains(&expected), "{expected} not in {env:?}");
    }

    support::init_action(&handle.address, NODE_ACTION).await;
    let (status, result) = support::run_action(&handle.address, json!({"n": 1})).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        result,
        json!({"n": 1, "env": "from-spec", "kind": "nodejs:20"})
    );

    let first = factory.logs(handle.clone(), wait_logs(0, 0)).await.unwrap();
    assert!(first.complete && !first.truncated);
    assert_eq!(
        messages(&first),
        ["stdout: stdout 1 0 ", "stderr: stderr 1"]
    );
    for line in first.lines.iter() {
        assert!(
            line.time.len() >= 20 && line.time.ends_with('Z') && line.time.contains('.'),
            "RFC 3339 UTC time: {}",
            line.time
        );
    }

    let (status, _) = support::run_action(&handle.address, json!({"n": 2, "lines": 2})).await;
    assert_eq!(status, 200);
    let second = factory
        .logs(handle.clone(), wait_logs(first.cursor, 0))
        .await
        .unwrap();
    assert!(second.complete);
    assert_eq!(
        messages(&second),
        [
            "stdout: stdout 2 0 ",
            "stdout: stdout 2 1 ",
            "stderr: stderr 2"
        ]
    );

    // Past the limit: cut short and marked, but the next activation starts clean.
    let (status, _) =
        support::run_action(&handle.address, json!({"n": 3, "lines": 10, "width": 100})).await;
    assert_eq!(status, 200);
    let third = factory
        .logs(handle.clone(), wait_logs(second.cursor, 250))
        .await
        .unwrap();
    assert!(third.complete && third.truncated);
    assert_eq!(third.lines.len(), 2, "{:?}", messages(&third));
    support::run_action(&handle.address, json!({"n": 4})).await;
    let fourth = factory
        .logs(handle.clone(), wait_logs(third.cursor, 250))
        .await
        .unwrap();
    assert_eq!(
        messages(&fourth),
        ["stdout: stdout 4 0 ", "stderr: stderr 4"]
    );

    // Nothing more yet: waiting ends at the timeout, incomplete, cursor unchanged.
    let waited = Instant::now();
    let none = factory
        .logs(
            handle.clone(),
            LogsRequest {
                timeout_ms: 300,
                ..wait_logs(fourth.cursor, 0)
            },
        )
        .await
        .unwrap();
    assert!(!none.complete && none.lines.is_empty());
    assert_eq!(none.cursor, fourth.cursor);
    assert!(waited.elapsed() < Duration::from_secs(3));

    let state = factory.inspect(handle.clone()).await.unwrap();
    assert_eq!(state.status, ContainerStatus::RUNNING);
    factory.destroy(handle).await.unwrap();
}

#[tokio::test]
async fn a_python_container_runs_an_action() {
    let _socket = require_engine!();
    let host_id = support::unique_host_id("python");
    let factory = support::factory(&host_id, "");
    let handle = factory
        .create(support::spec("guest_py", "python:3", 256))
        .await
        .expect("create a python container");
    support::init_action(
        &handle.address,
        "import sys, json, ssl, sqlite3\ndef main(args):\n    print('hi', args['n'])\n    \
         return {'n': args['n'], 'py': sys.version_info[0]}\n",
    )
    .await;
    let (status, result) = support::run_action(&handle.address, json!({"n": 7})).await;
    assert_eq!((status, result), (200, json!({"n": 7, "py": 3})));
    let logs = factory.logs(handle.clone(), wait_logs(0, 0)).await.unwrap();
    assert_eq!(messages(&logs), ["stdout: hi 7"]);
    factory.cleanup().await.unwrap();
}

#[tokio::test]
async fn init_removes_the_leftovers_of_this_host_only() {
    let socket = require_engine!();
    let host_id = support::unique_host_id("leftover");
    let other_id = support::unique_host_id("other");
    // An earlier run of this host, and another host on the same engine.
    let earlier = support::factory(&host_id, "");
    let other = support::factory(&other_id, "");
    earlier
        .create(support::spec("left_1", "native", 64))
        .await
        .unwrap();
    let mut stopped = support::spec("left_2", "native", 64);
    stopped.invoker = 1;
    let stopped = earlier.create(stopped).await.unwrap();
    support::engine_request(&socket, "POST", &format!("/containers/{}/kill", stopped.id));
    let foreign = other
        .create(support::spec("keep", "native", 64))
        .await
        .unwrap();
    assert_eq!(support::containers_of(&socket, &host_id).len(), 2);

    let restarted = support::factory(&host_id, "");
    restarted.init().await.expect("init");
    assert!(
        support::containers_of(&socket, &host_id).is_empty(),
        "leftovers remain: {:?}",
        support::containers_of(&socket, &host_id)
    );
    assert_eq!(
        support::containers_of(&socket, &other_id),
        vec![foreign.name.to_string()],
        "another host's container must stay"
    );
    other.cleanup().await.unwrap();
}

#[tokio::test]
async fn an_action_past_its_memory_limit_is_reported_oom_killed() {
    let _socket = require_engine!();
    let host_id = support::unique_host_id("oom");
    let factory = support::factory(&host_id, "");
    let handle = factory
        .create(support::spec("guest_hog", "nodejs:20", 128))
        .await
        .unwrap();
    support::init_action(
        &handle.address,
        "function main() { const keep = []; \
         for (let i = 0; i < 1024; i++) keep.push(Buffer.alloc(1 << 20, 1)); \
         return { allocated: keep.length }; }",
    )
    .await;
    let (status, result) = support::run_action(&handle.address, json!({})).await;
    // The kernel kills node (the largest process); the proxy reports the dead action.
    assert_eq!(status, 502, "{result}");
    let state = factory.inspect(handle.clone()).await.unwrap();
    eprintln!("after the OOM kill: {state:?}");
    assert_eq!(
        state.status,
        ContainerStatus::OOM_KILLED,
        "inspect: {:?}",
        state
    );
    assert!(state.message.contains("128 MB"), "{}", state.message);
    factory.destroy(handle).await.unwrap();
}

#[tokio::test]
async fn a_spec_network_overrides_the_configured_one() {
    let socket = require_engine!();
    let host_id = support::unique_host_id("none");
    let factory = support::factory(&host_id, "");
    let mut spec = support::spec("isolated", "native", 64);
    spec.network = "none".into();
    let handle = factory.create(spec).await.unwrap();
    // Nothing can reach a proxy without a network: no address, no readiness wait.
    assert_eq!(handle.address.as_str(), "");
    let (_, info) = support::inspect_json(&socket, &handle.id);
    assert_eq!(info["HostConfig"]["NetworkMode"], "none");
    let env: Vec<String> = serde_json::from_value(info["Config"]["Env"].clone()).unwrap();
    assert!(env.contains(&"__OW_PROXY_PORT=8080".to_string()), "{env:?}");
    assert_eq!(
        factory.inspect(handle.clone()).await.unwrap().status,
        ContainerStatus::RUNNING
    );
    factory.cleanup().await.unwrap();
}

#[tokio::test]
async fn destroy_removes_the_container() {
    let socket = require_engine!();
    let host_id = support::unique_host_id("destroy");
    let factory = support::factory(&host_id, "");
    let handle = factory
        .create(support::spec("guest_gone", "native", 64))
        .await
        .unwrap();
    assert_eq!(support::inspect_json(&socket, &handle.id).0, 200);
    factory.destroy(handle.clone()).await.unwrap();
    assert_eq!(support::inspect_json(&socket, &handle.id).0, 404);
    let state = factory.inspect(handle.clone()).await.unwrap();
    assert_eq!(state.status, ContainerStatus::GONE);
    // Destroying what is already gone is not an error.
    factory.destroy(handle).await.unwrap();
}

#[tokio::test]
async fn a_failing_blackbox_pull_is_the_developers_error_in_bounded_time() {
    let socket = require_engine!();
    let host_id = support::unique_host_id("pull");
    let factory = support::factory(&host_id, "pull_timeout_ms = 5000");
    // No registry is reachable from these machines: a registry name that cannot resolve,
    // and a short name the engine would look up on Docker Hub.
    for image in [
        "registry.invalid/whisk/nope:latest",
        "whisk-no-such-image-x7",
    ] {
        let mut spec = support::spec("guest_bb", "blackbox", 64);
        spec.blackbox = true;
        spec.image = image.into();
        let started = Instant::now();
        let error = factory.create(spec).await.expect_err("no image to pull");
        let took = started.elapsed();
        eprintln!("pull of {image} failed in {} ms: {error}", took.as_millis());
        assert_eq!(error.kind, ErrorKind::ACTION_DEVELOPER, "{error}");
        assert!(
            error
                .message
                .contains(&format!("Failed to pull container image '{image}'")),
            "{error}"
        );
        assert!(took < Duration::from_secs(8), "took {took:?}");
    }

    // A registry that accepts connections and never answers: the pull is given up at
    // pull_timeout_ms. (A listener of this test on 127.0.0.1; nothing leaves the machine.)
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let registry = silent.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            held.push(connection);
        }
    });
    let factory = support::factory(&host_id, "pull_timeout_ms = 1500");
    let image = format!("{registry}/whisk/silent:latest");
    let mut spec = support::spec("guest_bb", "blackbox", 64);
    spec.blackbox = true;
    spec.image = image.as_str().into();
    let started = Instant::now();
    let error = factory
        .create(spec)
        .await
        .expect_err("the registry never answers");
    let took = started.elapsed();
    eprintln!("pull of {image} failed in {} ms: {error}", took.as_millis());
    assert_eq!(error.kind, ErrorKind::ACTION_DEVELOPER, "{error}");
    assert!(error.message.contains("within 1500 ms"), "{error}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    holder.abort();

    assert!(support::containers_of(&socket, &host_id).is_empty());
}

#[tokio::test]
async fn a_local_blackbox_image_with_a_fixed_tag_runs_without_a_pull() {
    let _socket = require_engine!();
    let host_id = support::unique_host_id("bblocal");
    let factory = support::factory(&host_id, "pull_timeout_ms = 5000");
    let mut spec = support::spec("guest_bb", "blackbox", 64);
    spec.blackbox = true;
    spec.image = support::NATIVE_IMAGE.into();
    let handle = factory
        .create(spec)
        .await
        .expect("a local image needs no pull");
    support::init_action(&handle.address, "#!/bin/sh\necho '{\"native\": true}'\n").await;
    let (status, result) = support::run_action(&handle.address, json!({})).await;
    assert_eq!((status, result), (200, json!({"native": true})));
    factory.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_line_longer_than_the_engines_buffer_arrives_whole() {
    let _socket = require_engine!();
    let host_id = support::unique_host_id("longline");
    let factory = support::factory(&host_id, "");
    let handle = factory
        .create(support::spec("guest_long", "native", 64))
        .await
        .unwrap();
    // conmon stores a line of more than 8 KiB in pieces; the logs API sends each piece as a
    // frame of its own, without a newline but the last.
    support::init_action(
        &handle.address,
        "#!/bin/sh\nhead -c 20000 /dev/zero | tr '\\0' a; echo; echo >&2 short\necho '{}'\n",
    )
    .await;
    let (status, _) = support::run_action(&handle.address, json!({})).await;
    assert_eq!(status, 200);
    let logs = factory.logs(handle.clone(), wait_logs(0, 0)).await.unwrap();
    assert!(logs.complete);
    assert_eq!(
        logs.lines.len(),
        2,
        "{:?}",
        messages(&logs).iter().map(|m| m.len()).collect::<Vec<_>>()
    );
    // Across streams the order is the proxy's; within one, it is the action's.
    let line_of = |stream: &str| {
        logs.lines
            .iter()
            .find(|l| l.stream.as_str() == stream)
            .map(|l| l.message.to_string())
            .unwrap_or_default()
    };
    let long = line_of("stdout");
    assert_eq!(long.len(), 20_000);
    assert!(long.bytes().all(|b| b == b'a'));
    assert_eq!(line_of("stderr"), "short");
    factory.cleanup().await.unwrap();
}

#[tokio::test]
async fn concurrent_creates_get_ports_of_their_own() {
    let socket = require_engine!();
    let host_id = support::unique_host_id("concurrent");
    let factory = support::factory(&host_id, "");
    let started = Instant::now();
    let creates = (0..6).map(|i| {
        let factory = factory.clone();
        async move {
            factory
                .create(support::spec(&format!("c{i}"), "native", 64))
                .await
        }
    });
    let handles: Vec<_> = futures_join_all(creates).await;
    eprintln!("6 concurrent creates: {} ms", started.elapsed().as_millis());
    let mut addresses: Vec<String> = handles
        .iter()
        .map(|h| h.as_ref().expect("create").address.to_string())
        .collect();
    for address in &addresses {
        support::init_action(address, "#!/bin/sh\necho '{\"up\": true}'\n").await;
    }
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 6);
    let started = Instant::now();
    factory.cleanup().await.unwrap();
    eprintln!("cleanup of 6: {} ms", started.elapsed().as_millis());
    assert!(support::containers_of(&socket, &host_id).is_empty());
}

/// Polls every future to completion concurrently (tokio has no join_all of its own).
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn cleanup_removes_every_container_of_the_host() {
    let socket = require_engine!();
    let host_id = support::unique_host_id("cleanup");
    let factory = support::factory(&host_id, "");
    for i in 0..3 {
        factory
            .create(support::spec(&format!("c{i}"), "native", 64))
            .await
            .unwrap();
    }
    assert_eq!(support::containers_of(&socket, &host_id).len(), 3);
    factory.cleanup().await.unwrap();
    assert!(support::containers_of(&socket, &host_id).is_empty());
}

#[tokio::test]
async fn suspend_and_resume_pause_only_when_configured() {
    let _socket = require_engine!();
    let host_id = support::unique_host_id("pause");
    let plain = support::factory(&host_id, "");
    let handle = plain
        .create(support::spec("guest_p", "native", 64))
        .await
        .unwrap();
    let e = plain.suspend(handle.clone()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::UNSUPPORTED);
    assert_eq!(
        plain.resume(handle.clone()).await.unwrap_err().kind,
        ErrorKind::UNSUPPORTED
    );

    let pausing = support::factory(&host_id, "pause_idle = true");
    pausing.suspend(handle.clone()).await.expect("pause");
    assert_eq!(
        pausing.inspect(handle.clone()).await.unwrap().status,
        ContainerStatus::PAUSED
    );
    pausing.resume(handle.clone()).await.expect("unpause");
    assert_eq!(
        pausing.inspect(handle.clone()).await.unwrap().status,
        ContainerStatus::RUNNING
    );
    support::init_action(&handle.address, "#!/bin/sh\necho '{\"awake\": true}'\n").await;
    let (status, _) = support::run_action(&handle.address, json!({})).await;
    assert_eq!(status, 200);
    pausing.cleanup().await.unwrap();
}

#[tokio::test]
async fn requests_it_cannot_serve_fail_clearly() {
    let _socket = require_engine!();
    let host_id = support::unique_host_id("refuse");
    let factory = support::factory(&host_id, "");
    let e = factory
        .create(support::spec("x", "java:8", 64))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::INVALID_REQUEST);
    assert!(
        e.message.contains("java:8") && e.message.contains("nodejs:20"),
        "{e}"
    );

    let mut spec = support::spec("x", "native", 64);
    spec.parameters = vec![whisk_spi::KeyValue::new("privileged", "true")].into();
    let e = factory.create(spec).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::INVALID_REQUEST);

    // A runtime image that is not there names the script that builds it.
    let text = format!(
        "host_id = \"{host_id}\"\n[runtimes]\n\"nodejs:20\" = \"whisk/action-nodejs:does-not-exist\"\n"
    );
    let config = whisk_spi::PluginConfig::new(text).parse().unwrap();
    let factory = docker_factory::DockerFactory::new(config).unwrap();
    let e = factory
        .create(support::spec("x", "nodejs:20", 64))
        .await
        .unwrap_err();
    assert!(e.message.contains("build-runtime-images.sh"), "{e}");
}

#[test]
fn an_unreachable_socket_is_named_in_the_error() {
    let config = whisk_spi::PluginConfig::new("socket = \"unix:///nonexistent/docker.sock\"")
        .parse()
        .unwrap();
    let error = match docker_factory::DockerFactory::new(config) {
        Ok(_) => panic!("no engine there"),
        Err(e) => e,
    };
    assert_eq!(error.kind, ErrorKind::UNAVAILABLE);
    assert!(
        error.message.contains("unix:///nonexistent/docker.sock"),
        "{error}"
    );
}

/// Prints `lines` lines (default 1) on stdout and one on stderr per activation.
const CHATTY_ACTION: &str = "#!/bin/sh\n\
n=$(echo \"$1\" | sed -n 's/.*\"lines\": *\\([0-9]*\\).*/\\1/p')\n\
i=0\nwhile [ \"$i\" -lt \"${n:-1}\" ]; do echo \"out $i\"; i=$((i+1)); done\n\
echo >&2 \"err ${n:-1}\"\necho '{}'\n";

#[tokio::test]
async fn a_long_lived_container_answers_logs_without_replaying_them() {
    let _socket = require_engine!();
    let host_id = support::unique_host_id("warmlogs");
    let factory = support::factory(&host_id, "");
    let handle = factory
        .create(support::spec("guest_chatty", "native", 64))
        .await
        .unwrap();
    support::init_action(&handle.address, CHATTY_ACTION).await;

    // Thousands of lines over earlier activations.
    let mut cursor = 0;
    for _ in 0..3 {
        let (status, _) = support::run_action(&handle.address, json!({"lines": 3000})).await;
        assert_eq!(status, 200);
        let logs = factory
            .logs(handle.clone(), wait_logs(cursor, 0))
            .await
            .unwrap();
        assert!(logs.complete);
        // Across streams the order is the engine's capture order; within one, the action's.
        let stdout: Vec<&str> = logs
            .lines
            .iter()
            .filter(|l| l.stream.as_str() == "stdout")
            .map(|l| l.message.as_str())
            .collect();
        assert_eq!(stdout.len(), 3000);
        assert_eq!((stdout[0], stdout[2999]), ("out 0", "out 2999"));
        assert_eq!(logs.lines.len(), 3001);
        cursor = logs.cursor;
    }
    assert_eq!(
        cursor,
        3 * 3003,
        "cursors count every line, sentinels included"
    );

    // A new activation is read from where the last read stopped: fast, and right.
    let mut slowest = Duration::ZERO;
    for n in 0..20 {
        let (status, _) = support::run_action(&handle.address, json!({"lines": 1})).await;
        assert_eq!(status, 200);
        let started = Instant::now();
        let logs = factory
            .logs(handle.clone(), wait_logs(cursor, 0))
            .await
            .unwrap();
        slowest = slowest.max(started.elapsed());
        assert!(logs.complete && !logs.truncated, "activation {n}");
        assert_eq!(messages(&logs), ["stdout: out 0", "stderr: err 1"]);
        cursor = logs.cursor;
    }
    eprintln!("slowest warm logs read after 9000 lines: {slowest:?}");
    assert!(
        slowest < Duration::from_millis(100),
        "a warm read took {slowest:?}"
    );
    assert_eq!(
        factory.api_log_reads(),
        0,
        "no request to the engine's logs endpoint"
    );
    factory.cleanup().await.unwrap();
}

#[tokio::test]
async fn without_log_files_the_logs_api_gives_the_same_activations() {
    let _socket = require_engine!();
    let host_id = support::unique_host_id("apilogs");
    let factory = support::factory(&host_id, "log_files = false");
    let handle = factory
        .create(support::spec("guest_api", "native", 64))
        .await
        .unwrap();
    support::init_action(&handle.address, CHATTY_ACTION).await;
    let mut cursor = 0;
    for lines in [2, 1] {
        support::run_action(&handle.address, json!({ "lines": lines })).await;
        let logs = factory
            .logs(handle.clone(), wait_logs(cursor, 0))
            .await
            .unwrap();
        assert!(logs.complete);
        let mut expected: Vec<String> = (0..lines).map(|i| format!("stdout: out {i}")).collect();
        expected.push(format!("stderr: err {lines}"));
        assert_eq!(messages(&logs), expected);
        cursor = logs.cursor;
    }
    assert_eq!(cursor, 5 + 4, "lines and sentinels of both activations");
    assert_eq!(factory.api_log_reads(), 2, "one replay per read");
    factory.cleanup().await.unwrap();
}
