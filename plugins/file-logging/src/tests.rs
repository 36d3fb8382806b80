//! The store against real files in a fresh directory under the system's temp dir.

use super::*;
use std::{
    fs,
    path::Path,
    sync::atomic::{AtomicU32, Ordering},
};
use whisk_spi::{ContainerHandle, ErrorKind, LogLine};

/// A directory of its own per test, removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "whisk-file-logging-{}-{}-{test}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn store(dir: &Path, max_file_bytes: u64, max_files: u32) -> FileLogStore {
    FileLogStore::new(Config {
        directory: dir.to_path_buf(),
        max_file_bytes,
        max_files,
    })
    .unwrap()
}

fn context(namespace: &str, activation_id: &str, limit_bytes: u64) -> LogContext {
    LogContext {
        activation_id: activation_id.into(),
        namespace: namespace.into(),
        action: format!("{namespace}/hello").into(),
        limit_bytes,
        container: ContainerHandle {
            id: "c1".into(),
            name: "wsk0_1".into(),
            address: "127.0.0.1:8080".into(),
        },
    }
}

fn line(n: u32, stream: &str, message: &str) -> LogLine {
    LogLine {
        time: format!("2026-11-25T18:00:00.{n:09}Z").into(),
        stream: stream.into(),
        message: message.into(),
    }
}

fn logs(lines: Vec<LogLine>) -> ContainerLogs {
    ContainerLogs {
        lines: lines.into(),
        complete: true,
        ..Default::default()
    }
}

fn file_text(path: PathBuf) -> String {
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn collect_then_fetch_returns_the_same_lines_in_order() {
    let dir = TempDir::new("roundtrip");
    let store = store(&dir.0, 1 << 20, 5);
    let collected = store
        .collect(
            context("guest", "a1", 1 << 20),
            logs(vec![
                line(1, "stdout", "hello\n"),
                line(2, "stderr", "oops"),
                line(3, "stdout", "world"),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(
        collected,
        [
            "2026-11-25T18:00:00.000000001Z stdout: hello",
            "2026-11-25T18:00:00.000000002Z stderr: oops",
            "2026-11-25T18:00:00.000000003Z stdout: world",
        ]
    );
    // Another activation in between must not leak into a1's logs.
    store
        .collect(
            context("guest", "a2", 1 << 20),
            logs(vec![line(4, "stdout", "other")]),
        )
        .await
        .unwrap();
    let fetched = store.fetch("guest".into(), "a1".into()).await.unwrap();
    assert_eq!(fetched, collected);
    assert_eq!(
        store.fetch("guest".into(), "a2".into()).await.unwrap(),
        ["2026-11-25T18:00:00.000000004Z stdout: other"]
    );
    assert!(store
        .fetch("guest".into(), "never-ran".into())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn lines_are_json_with_the_documented_fields_and_flushed_on_return() {
    let dir = TempDir::new("format");
    let store = store(&dir.0, 1 << 20, 5);
    store
        .collect(
            context("guest", "a1", 1 << 20),
            logs(vec![line(1, "stdout", "say \"hi\"")]),
        )
        .await
        .unwrap();
    // Read while the store is alive: collect must have flushed.
    let text = file_text(dir.0.join("activations.log"));
    assert_eq!(
        text,
        "{\"activationId\":\"a1\",\"namespace\":\"guest\",\"action\":\"guest/hello\",\
         \"stream\":\"stdout\",\"time\":\"2026-11-25T18:00:00.000000001Z\",\
         \"message\":\"say \\\"hi\\\"\"}\n"
    );
}

#[tokio::test]
async fn the_sentinel_is_dropped() {
    let dir = TempDir::new("sentinel");
    let store = store(&dir.0, 1 << 20, 5);
    let collected = store
        .collect(
            context("guest", "a1", 1 << 20),
            logs(vec![
                line(1, "stdout", "before"),
                line(2, "stdout", SENTINEL),
                line(3, "stderr", &format!("{SENTINEL}\n")),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(collected, ["2026-11-25T18:00:00.000000001Z stdout: before"]);
    assert!(!file_text(dir.0.join("activations.log")).contains(SENTINEL));
}

#[tokio::test]
async fn the_limit_truncates_and_adds_openwhisks_notice() {
    let dir = TempDir::new("limit");
    let store = store(&dir.0, 1 << 20, 5);
    let collected = store
        .collect(
            context("guest", "a1", 8),
            logs(vec![
                line(1, "stdout", "1234"),
                line(2, "stdout", "5678"),
                line(3, "stdout", "9"),
                line(4, "stdout", "never stored"),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(collected.len(), 3, "{collected:?}");
    assert!(collected[1].ends_with("stdout: 5678"));
    assert!(
        collected[2].ends_with(
            " stderr: Logs were truncated because the total bytes size exceeds the limit of 8 bytes."
        ),
        "{}",
        collected[2]
    );
    assert_eq!(
        store.fetch("guest".into(), "a1".into()).await.unwrap(),
        collected
    );
    assert!(!file_text(dir.0.join("activations.log")).contains("never stored"));

    // Logs the factory already cut get the notice too, once.
    let mut cut = logs(vec![line(1, "stdout", "x")]);
    cut.truncated = true;
    let collected = store
        .collect(context("guest", "a2", 100), cut)
        .await
        .unwrap();
    assert_eq!(collected.len(), 2, "{collected:?}");
    assert!(collected[1].ends_with(&truncation_notice(100)));
}

#[tokio::test]
async fn rotates_at_the_size_and_fetch_reads_rotated_files() {
    let dir = TempDir::new("rotation");
    // Each stored line is a little over 150 bytes: two fit in 400 bytes, three do not.
    let store = store(&dir.0, 400, 2);
    let message = "m".repeat(40);
    for id in ["r1", "r2", "r3"] {
        store
            .collect(
                context("guest", id, 1 << 20),
                logs(vec![
                    line(1, "stdout", &message),
                    line(2, "stdout", &message),
                ]),
            )
            .await
            .unwrap();
    }
    let sizes: Vec<u64> = ["activations.log.2", "activations.log.1", "activations.log"]
        .iter()
        .map(|f| fs::metadata(dir.0.join(f)).unwrap().len())
        .collect();
    assert!(sizes.iter().all(|&s| s <= 400 && s > 200), "{sizes:?}");
    assert!(file_text(dir.0.join("activations.log.2")).contains("\"r1\""));
    assert!(file_text(dir.0.join("activations.log")).contains("\"r3\""));
    for id in ["r1", "r2", "r3"] {
        let fetched = store.fetch("guest".into(), id.into()).await.unwrap();
        assert_eq!(fetched.len(), 2, "{id}: {fetched:?}");
    }

    // One more rotation drops the oldest file (max_files = 2): r1 is gone.
    store
        .collect(
            context("guest", "r4", 1 << 20),
            logs(vec![line(1, "stdout", &message)]),
        )
        .await
        .unwrap();
    assert!(!dir.0.join("activations.log.3").exists());
    assert!(store
        .fetch("guest".into(), "r1".into())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .fetch("guest".into(), "r2".into())
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn an_activation_split_by_rotation_is_fetched_whole_and_in_order() {
    let dir = TempDir::new("split");
    let store = store(&dir.0, 300, 5);
    let lines: Vec<LogLine> = (1..=6)
        .map(|n| line(n, "stdout", &format!("line {n}")))
        .collect();
    let collected = store
        .collect(context("guest", "big", 1 << 20), logs(lines))
        .await
        .unwrap();
    assert!(dir.0.join("activations.log.1").exists());
    assert_eq!(
        store.fetch("guest".into(), "big".into()).await.unwrap(),
        collected
    );
}

#[tokio::test]
async fn fetch_is_isolated_by_namespace() {
    let dir = TempDir::new("namespaces");
    let store = store(&dir.0, 1 << 20, 5);
    store
        .collect(
            context("alice", "shared-id", 1 << 20),
            logs(vec![line(1, "stdout", "alice's secret")]),
        )
        .await
        .unwrap();
    assert!(store
        .fetch("bob".into(), "shared-id".into())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .fetch("alice".into(), "shared-id".into())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn logs_survive_a_restart() {
    let dir = TempDir::new("restart");
    let first = store(&dir.0, 1 << 20, 5);
    let collected = first
        .collect(
            context("guest", "a1", 1 << 20),
            logs(vec![line(1, "stdout", "kept")]),
        )
        .await
        .unwrap();
    drop(first);
    let second = store(&dir.0, 1 << 20, 5);
    assert_eq!(
        second.fetch("guest".into(), "a1".into()).await.unwrap(),
        collected
    );
}

#[tokio::test]
async fn a_torn_last_line_is_skipped_and_not_glued_to_the_next() {
    let dir = TempDir::new("torn");
    fs::create_dir_all(&dir.0).unwrap();
    fs::write(
        dir.0.join("activations.log"),
        "{\"activationId\":\"a1\",\"namespa",
    )
    .unwrap();
    let store = store(&dir.0, 1 << 20, 5);
    let collected = store
        .collect(
            context("guest", "a1", 1 << 20),
            logs(vec![line(1, "stdout", "after the crash")]),
        )
        .await
        .unwrap();
    assert_eq!(
        store.fetch("guest".into(), "a1".into()).await.unwrap(),
        collected
    );
}

#[tokio::test]
async fn works_through_the_plugin_boundary() {
    let dir = TempDir::new("boundary");
    let table = format!(
        "directory = {:?}\nmax_file_bytes = 4096",
        dir.0.display().to_string()
    );
    let boxed = match FileLoggingPlugin::log_store(PluginConfig::new(table)) {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    };
    assert!(!boxed.collects_out_of_band().unwrap());
    assert!(boxed.container_parameters().unwrap().is_empty());
    let collected = boxed
        .collect(
            context("guest", "a1", 100),
            logs(vec![line(1, "stdout", "through the ABI")]),
        )
        .await
        .unwrap();
    let fetched = boxed.fetch("guest".into(), "a1".into()).await.unwrap();
    assert_eq!(fetched, collected);
    assert_eq!(fetched.len(), 1);
}

#[test]
fn unknown_config_keys_are_refused() {
    let dir = TempDir::new("config");
    let table = format!(
        "directory = {:?}\nmax_size = 10",
        dir.0.display().to_string()
    );
    let err = match FileLoggingPlugin::log_store(PluginConfig::new(table)) {
        Err(e) => e,
        Ok(_) => panic!("an unknown key was accepted"),
    };
    assert_eq!(err.kind, ErrorKind::INVALID_CONFIG);
    assert!(err.message.contains("max_size"), "{err}");

    let err = match FileLoggingPlugin::log_store(PluginConfig::new("max_files = 2")) {
        Err(e) => e,
        Ok(_) => panic!("a config without `directory` was accepted"),
    };
    assert!(err.message.contains("directory"), "{err}");
}

#[test]
fn defaults_and_relative_directory() {
    let config: Config = PluginConfig::new("directory = \"logs\"").parse().unwrap();
    assert_eq!(config.max_file_bytes, 10 * 1024 * 1024);
    assert_eq!(config.max_files, 5);
    assert_eq!(config.directory, PathBuf::from("logs"));
}

#[test]
fn an_unusable_directory_is_a_config_error_naming_it() {
    let dir = TempDir::new("blocked");
    fs::write(&dir.0, "a file, not a directory").unwrap();
    let err = match FileLogStore::new(Config {
        directory: dir.0.join("logs"),
        max_file_bytes: 100,
        max_files: 1,
    }) {
        Err(e) => e,
        Ok(_) => panic!("a directory under a file was accepted"),
    };
    let _ = fs::remove_file(&dir.0);
    assert_eq!(err.kind, ErrorKind::INVALID_CONFIG);
    assert!(err.message.contains(&*dir.0.to_string_lossy()), "{err}");
}
