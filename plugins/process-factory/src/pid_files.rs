//! One file per running proxy in the state directory, so that a later run can find and kill
//! what a crashed host left behind.
//!
//! `<state_dir>/<container id>.pid` holds three `key=value` lines:
//! ```text
//! pid=12345        the proxy, leader of its own process group
//! owner=678        the host process whose factory started it
//! instance=1       which factory in that process (a host may build more than one)
//! ```
//! A file is a leftover, and its proxy is killed, when its owner process no longer exists, or
//! when it is this process but that factory has gone (dropped without cleanup). Files of a
//! live owner are left alone: two hosts on one machine may share the default state directory.

use crate::process::{self, Signal};
use std::{
    collections::HashSet,
    fs, io,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
};

/// What a pid file records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidRecord {
    pub pid: u32,
    pub owner: u32,
    pub instance: u64,
}

impl PidRecord {
    fn to_text(&self) -> String {
        format!(
            "pid={}\nowner={}\ninstance={}\n",
            self.pid, self.owner, self.instance
        )
    }

    fn parse(text: &str) -> Option<Self> {
        let field = |key: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
                .map(str::trim)
        };
        Some(Self {
            pid: field("pid")?.parse().ok()?,
            owner: field("owner")?.parse().ok()?,
            instance: field("instance")?.parse().ok()?,
        })
    }
}

/// The factories alive in this process, by instance number.
static LIVE_INSTANCES: Mutex<Option<HashSet<u64>>> = Mutex::new(None);
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

fn live_instances() -> std::sync::MutexGuard<'static, Option<HashSet<u64>>> {
    LIVE_INSTANCES.lock().unwrap_or_else(|e| e.into_inner())
}

/// A factory's registration as alive in this process; dropping it unregisters.
#[derive(Debug)]
pub struct Instance(u64);

impl Instance {
    pub fn register() -> Self {
        let id = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
        live_instances().get_or_insert_with(HashSet::new).insert(id);
        Self(id)
    }

    pub fn id(&self) -> u64 {
        self.0
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(live) = live_instances().as_mut() {
            live.remove(&self.0);
        }
    }
}

/// Where the pid file of container `id` goes.
pub fn path_for(state_dir: &Path, id: &str) -> PathBuf {
    state_dir.join(format!("{id}.pid"))
}

/// Records `record` at `path`, written to a temporary name first so that `init` never sees
/// half a file.
pub fn write(path: &Path, record: &PidRecord) -> io::Result<()> {
    let partial = path.with_extension("pid.partial");
    fs::write(&partial, record.to_text())?;
    fs::rename(&partial, path)
}

/// Removes `path`; a file already gone is fine.
pub fn remove(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(file = %path.display(), error = %e, "cannot remove a pid file");
        }
    }
}

/// What happened to one pid file in [`sweep`].
#[derive(Debug, PartialEq, Eq)]
pub enum Swept {
    /// Its proxy was running and has been killed; the file is removed.
    Killed(u32),
    /// Its process was gone, or is not a proxy (the pid was reused); the file is removed.
    Stale,
    /// Its owner is alive: not a leftover, left alone.
    Owned,
    /// Not a pid file this factory wrote; removed.
    Unreadable,
}

/// Kills the proxies recorded in `state_dir` whose owner is gone, and removes their files.
/// A process counts as a proxy if its program's file name is `program` or contains
/// `action-proxy`, and it is killed with its group only if it leads one.
pub fn sweep(state_dir: &Path, program: &str) -> io::Result<Vec<(PathBuf, Swept)>> {
    let entries = match fs::read_dir(state_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let own_pid = process::own_pid();
    let mut outcome = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".pid.partial") {
            // A write interrupted by a crash; the child it was for is covered by its
            // parent-death signal, or has a complete file of its own.
            remove(&path);
            continue;
        }
        if !name.ends_with(".pid") {
            continue;
        }
        let Some(record) = fs::read_to_string(&path)
            .ok()
            .and_then(|t| PidRecord::parse(&t))
        else {
            remove(&path);
            outcome.push((path, Swept::Unreadable));
            continue;
        };
        let owner_alive = if record.owner == own_pid {
            live_instances()
                .as_ref()
                .is_some_and(|live| live.contains(&record.instance))
        } else {
            process::exists(record.owner)
        };
        if owner_alive {
            outcome.push((path, Swept::Owned));
            continue;
        }
        let swept = if is_proxy(record.pid, program) {
            kill_leftover(record.pid);
            Swept::Killed(record.pid)
        } else {
            Swept::Stale
        };
        remove(&path);
        outcome.push((path, swept));
    }
    Ok(outcome)
}

fn is_proxy(pid: u32, program: &str) -> bool {
    process::exists(pid)
        && process::program_name(pid)
            .is_some_and(|name| name == program || name.contains(crate::config::ACTION_PROXY))
}

fn kill_leftover(pid: u32) {
    let result = if process::group_of(pid) == Some(pid) {
        process::signal_group(pid, Signal::Kill)
    } else {
        process::signal_process(pid, Signal::Kill)
    };
    match result {
        Ok(()) => tracing::info!(pid, "killed an action-proxy left behind by an earlier run"),
        Err(e) => tracing::warn!(pid, error = %e, "cannot kill a leftover action-proxy"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_garbage_is_refused() {
        let record = PidRecord {
            pid: 42,
            owner: 7,
            instance: 3,
        };
        assert_eq!(PidRecord::parse(&record.to_text()), Some(record));
        assert_eq!(PidRecord::parse("pid=x\nowner=1\ninstance=1"), None);
        assert_eq!(PidRecord::parse("pid=1\n"), None);
    }

    #[test]
    fn instances_are_live_until_dropped() {
        let a = Instance::register();
        let b = Instance::register();
        assert_ne!(a.id(), b.id());
        let id = a.id();
        drop(a);
        let live = live_instances();
        let live = live.as_ref().unwrap();
        assert!(!live.contains(&id) && live.contains(&b.id()));
    }
}
