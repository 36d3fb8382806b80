//! A container's state for `inspect`, with out-of-memory kills found even where the
//! engine does not report them.
//!
//! Docker sets `State.OOMKilled`. podman 4.3 relies on conmon for it, and with conmon
//! 2.1.6 it never gets it (verified on these machines: a container whose process the
//! kernel killed in its memory cgroup inspects `OOMKilled: false`; conmon leaves its `oom`
//! marker in its working directory instead of where podman looks). The
//! kernel's own counter is reliable: `oom_kill` in the container's `memory.oom_control`
//! (cgroup v1) or `memory.events` (cgroup v2). While the container exists we read it from
//! its main process's cgroup, which works when the daemon runs on this machine (a unix
//! socket). In an action container the proxy is the main process and the action's
//! interpreter is the largest one, so the kernel kills the interpreter and the container
//! keeps running: exactly the case this covers. A container whose main process was killed
//! has exited and lost its cgroup: then only the engine's flag can tell, and without it
//! the state is `EXITED` with code 137 (SIGKILL).

use bollard::secret::{ContainerInspectResponse, ContainerStateStatusEnum};
use std::path::{Path, PathBuf};
use whisk_spi::{std_types::ROption, ContainerState, ContainerStatus};

/// The SPI state of an inspected container.
pub fn from_inspect(info: &ContainerInspectResponse) -> ContainerState {
    let state = info.state.clone().unwrap_or_default();
    let exit_code = state.exit_code;
    let pid = state.pid.filter(|p| *p > 0);
    let memory_mb = info
        .host_config
        .as_ref()
        .and_then(|h| h.memory)
        .filter(|m| *m > 0)
        .map(|m| m / (1024 * 1024));
    let limit = memory_mb
        .map(|mb| format!(" (memory limit {mb} MB)"))
        .unwrap_or_default();

    if state.oom_killed == Some(true) {
        return ContainerState {
            status: ContainerStatus::OOM_KILLED,
            exit_code: exit_code.into(),
            message: format!("the container engine reports an out-of-memory kill{limit}").into(),
        };
    }
    let status = state.status.unwrap_or(ContainerStateStatusEnum::EMPTY);
    let alive = matches!(
        status,
        ContainerStateStatusEnum::RUNNING
            | ContainerStateStatusEnum::PAUSED
            | ContainerStateStatusEnum::RESTARTING
    );
    if alive {
        if let Some(kills) = pid.and_then(|p| oom_kills_of_process(p as u32)) {
            if kills > 0 {
                return ContainerState {
                    status: ContainerStatus::OOM_KILLED,
                    exit_code: ROption::RNone,
                    message: format!(
                        "the kernel killed {kills} process(es) of the container for exceeding its \
                         memory{limit}"
                    )
                    .into(),
                };
            }
        }
    }
    let (status, message) = match status {
        ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::RESTARTING => {
            (ContainerStatus::RUNNING, "running".to_string())
        }
        ContainerStateStatusEnum::PAUSED => (ContainerStatus::PAUSED, "paused".to_string()),
        ContainerStateStatusEnum::REMOVING => (ContainerStatus::GONE, "being removed".to_string()),
        ContainerStateStatusEnum::CREATED => (
            ContainerStatus::EXITED,
            "created but not started".to_string(),
        ),
        ContainerStateStatusEnum::EXITED
        | ContainerStateStatusEnum::DEAD
        | ContainerStateStatusEnum::EMPTY => {
            let mut message = match exit_code {
                Some(137) => "exited with code 137 (killed by SIGKILL; the engine reports \
                              no out-of-memory kill)"
                    .to_string(),
                Some(code) => format!("exited with code {code}"),
                None => "exited".to_string(),
            };
            if let Some(error) = state.error.filter(|e| !e.is_empty()) {
                message.push_str(&format!(": {error}"));
            }
            (ContainerStatus::EXITED, message)
        }
    };
    ContainerState {
        status,
        exit_code: match status {
            ContainerStatus::EXITED => exit_code.into(),
            _ => ROption::RNone,
        },
        message: message.into(),
    }
}

/// How many times the kernel's OOM killer acted in the memory cgroup of process `pid`, or
/// `None` when that cannot be read (another machine's daemon, a pid namespace, no cgroup fs).
pub fn oom_kills_of_process(pid: u32) -> Option<u64> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    oom_kills(Path::new("/sys/fs/cgroup"), &cgroups)
}

/// `oom_kill` of the memory cgroup named in `cgroups` (the text of `/proc/<pid>/cgroup`),
/// under the cgroup file system mounted at `root`.
fn oom_kills(root: &Path, cgroups: &str) -> Option<u64> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "memory") {
            // cgroup v1: the memory hierarchy.
            candidates.push(root.join("memory").join(path).join("memory.oom_control"));
        } else if controllers.is_empty() {
            // cgroup v2 (unified), mounted at the root or, in a hybrid layout, at unified/.
            candidates.push(root.join(path).join("memory.events"));
            candidates.push(root.join("unified").join(path).join("memory.events"));
        }
    }
    candidates.iter().find_map(|file| {
        let text = std::fs::read_to_string(file).ok()?;
        text.lines().find_map(|l| {
            l.strip_prefix("oom_kill ")
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v1_and_v2_counters() {
        let root = std::env::temp_dir().join(format!("docker-factory-cg-{}", std::process::id()));
        let v1 = root.join("memory/libpod_parent/libpod-abc");
        std::fs::create_dir_all(&v1).unwrap();
        std::fs::write(
            v1.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        )
        .unwrap();
        let hybrid = "4:memory:/libpod_parent/libpod-abc\n0::/libpod_parent/libpod-abc\n";
        assert_eq!(oom_kills(&root, hybrid), Some(2));

        let v2 = root.join("system.slice/docker-x.scope");
        std::fs::create_dir_all(&v2).unwrap();
        std::fs::write(
            v2.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        assert_eq!(
            oom_kills(&root, "0::/system.slice/docker-x.scope\n"),
            Some(1)
        );
        assert_eq!(oom_kills(&root, "0::/nowhere\n"), None);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
