//! `init` after a crash: proxies recorded in the state directory whose host is gone are
//! killed; those of a live host are not; a reused pid is not killed. Real processes.
//! Needs `cargo build -p action-proxy` first.

mod support;

use std::{
    os::unix::process::{CommandExt, ExitStatusExt},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use support::*;
use whisk_spi::{ContainerFactory, ContainerStatus};

/// A child process killed when the test is over, whatever happened.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Guard {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Waits up to `limit` for it to exit; its status if it did.
    fn exited_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// An action-proxy started the way the factory starts one (its own process group), as a
/// crashed host would have left it.
fn orphan_proxy() -> Guard {
    Guard(
        Command::new(action_proxy())
            .env("__OW_PROXY_HOST", "127.0.0.1")
            .env("__OW_PROXY_PORT", "0")
            .env("__OW_KIND", "nodejs:20")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap(),
    )
}

fn sleeper() -> Guard {
    Guard(Command::new("sleep").arg("60").spawn().unwrap())
}

/// The pid of a process that has exited (and been reaped): a host that is gone.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// A pid file as the factory writes it (format documented in the README).
fn write_pid_file(dir: &Path, name: &str, pid: u32, owner: u32) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.pid"));
    std::fs::write(&path, format!("pid={pid}\nowner={owner}\ninstance=1\n")).unwrap();
    path
}

#[tokio::test]
async fn init_kills_a_proxy_whose_host_is_gone() {
    let state = TempDir::new("crashed");
    let mut orphan = orphan_proxy();
    let file = write_pid_file(state.path(), "1-1", orphan.pid(), dead_pid());

    factory(state.path()).init().await.unwrap();

    let status = orphan
        .exited_within(Duration::from_secs(5))
        .expect("init did not kill the leftover proxy");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(
        !file.exists(),
        "the pid file of the leftover is still there"
    );
}

#[tokio::test]
async fn init_leaves_alone_the_proxies_of_a_live_host_and_processes_that_are_not_proxies() {
    let state = TempDir::new("shared");
    let live_host = sleeper();
    let mut owned = orphan_proxy();
    let owned_file = write_pid_file(state.path(), "1-2", owned.pid(), live_host.pid());
    // A pid reused by something else after the crash: not a proxy, not killed.
    let mut not_a_proxy = sleeper();
    let reused_file = write_pid_file(state.path(), "1-3", not_a_proxy.pid(), dead_pid());
    let garbage = state.path().join("garbage.pid");
    std::fs::write(&garbage, "not a pid file").unwrap();

    factory(state.path()).init().await.unwrap();

    assert!(owned.exited_within(Duration::from_millis(300)).is_none());
    assert!(owned_file.exists());
    assert!(not_a_proxy
        .exited_within(Duration::from_millis(300))
        .is_none());
    assert!(!reused_file.exists() && !garbage.exists());
}

#[tokio::test]
async fn a_second_factory_in_the_same_host_does_not_take_the_firsts_containers() {
    let state = TempDir::new("two-factories");
    let first = factory(state.path());
    let container = first
        .create(spec("wsk0_1_shared", "nodejs:20", 0))
        .await
        .unwrap();

    factory(state.path()).init().await.unwrap();

    let state_now = first.inspect(container.clone()).await.unwrap();
    assert_eq!(state_now.status, ContainerStatus::RUNNING, "{state_now:?}");
    assert_eq!(state.pid_files().len(), 1);
    first.cleanup().await.unwrap();
}
