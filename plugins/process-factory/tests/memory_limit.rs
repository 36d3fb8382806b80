//! The memory limit (`RLIMIT_DATA` = the spec's `memory_mb`) with real node and python
//! actions: one allocating well past its limit fails, a normal one works, and the same
//! allocation without a limit works (so the limit is what stopped it).
//! Needs `cargo build -p action-proxy` first.

mod support;

use serde_json::{json, Value};
use support::*;
use whisk_spi::ContainerFactory;

const NODE_ALLOCATE: &str = r#"
function main(params) {
    const keep = [];
    for (let i = 0; i < params.mb; i++) keep.push(Buffer.alloc(1024 * 1024, 1));
    return { allocated_mb: keep.length };
}
"#;

const PYTHON_ALLOCATE: &str = "\
def main(args):
    keep = [bytearray(b'x' * (1024 * 1024)) for _ in range(args['mb'])]
    return {'allocated_mb': len(keep)}
";

/// Runs `code` allocating `mb` MB in a fresh container limited to `memory_mb` (0 = none).
async fn allocate(kind: &str, code: &str, memory_mb: u32, mb: u32) -> (u16, Value) {
    let dir = TempDir::new("memory");
    let factory = factory(dir.path());
    let container = factory
        .create(spec("wsk0_mem", kind, memory_mb))
        .await
        .unwrap();
    let (status, body) = init(&container, code).await;
    assert_eq!(status, 200, "{kind} init under {memory_mb} MB: {body}");
    let outcome = run(&container, json!({ "mb": mb })).await;
    eprintln!("DEBUG {kind} {memory_mb} {mb}: {outcome:?}");
    let l = factory.logs(container.clone(), next_logs(0)).await.unwrap();
    eprintln!(
        "DEBUG logs {:?}",
        l.lines
            .iter()
            .map(|l| l.message.as_str())
            .collect::<Vec<_>>()
    );
    factory.destroy(container).await.unwrap();
    outcome
}

#[tokio::test]
async fn a_node_action_allocating_past_its_limit_fails_and_a_normal_one_works() {
    let (status, body) = allocate("nodejs:20", NODE_ALLOCATE, 128, 16).await;
    assert_eq!((status, &body), (200, &json!({"allocated_mb": 16})));

    let (status, body) = allocate("nodejs:20", NODE_ALLOCATE, 128, 512).await;
    assert_ne!(status, 200, "512 MB under a 128 MB limit succeeded: {body}");
    assert!(body.get("error").is_some(), "{body}");
    assert!(body.get("allocated_mb").is_none(), "{body}");

    let (status, body) = allocate("nodejs:20", NODE_ALLOCATE, 0, 512).await;
    assert_eq!(
        (status, &body),
        (200, &json!({"allocated_mb": 512})),
        "without a limit the same allocation works"
    );
}

#[tokio::test]
async fn a_python_action_allocating_past_its_limit_fails_and_a_normal_one_works() {
    let (status, body) = allocate("python:3", PYTHON_ALLOCATE, 128, 16).await;
    assert_eq!((status, &body), (200, &json!({"allocated_mb": 16})));

    // Python raises MemoryError, which the launcher turns into the action's error result
    // (status 200, as for any exception the action does not catch).
    let (status, body) = allocate("python:3", PYTHON_ALLOCATE, 128, 512).await;
    assert!(
        body.get("error").is_some() && body.get("allocated_mb").is_none(),
        "512 MB under a 128 MB limit succeeded: {status} {body}"
    );

    let (status, body) = allocate("python:3", PYTHON_ALLOCATE, 0, 512).await;
    assert_eq!((status, &body), (200, &json!({"allocated_mb": 512})));
}
