//! The operating-system side of a "container" that is a process group: how a proxy is
//! started (its own group, a memory rlimit, killed with its parent) and how a group is
//! signalled or recognised later.
//!
//! This is the only module with `unsafe` code; each block says why it is sound.

use std::{io, path::Path};
use tokio::process::Command;

/// A signal this factory sends to a proxy's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Kill,
    Stop,
    Continue,
}

impl Signal {
    fn number(self) -> libc::c_int {
        match self {
            Signal::Kill => libc::SIGKILL,
            Signal::Stop => libc::SIGSTOP,
            Signal::Continue => libc::SIGCONT,
        }
    }
}

/// Sets `cmd` up so that the child
/// - leads a process group of its own (its pid is the group id), so that the proxy and the
///   interpreter it starts are stopped, resumed and killed together, and a Ctrl-C meant for
///   the host is not delivered to them;
/// - cannot have more than `memory_limit_bytes` of data memory (`RLIMIT_DATA`, soft and hard:
///   the action cannot raise it), which every process it starts inherits;
/// - on Linux, is killed if the thread that started it goes away (the plugin's runtime
///   thread, which lives as long as the host), so a host that crashes or is killed does not
///   leave proxies running; the pid files catch the rest.
///
/// Why `RLIMIT_DATA` and not `RLIMIT_AS`: V8 reserves far more address space than it uses
/// (node 20 maps about 700 MB of address space to print "ok"; it aborts under a 256 MB
/// `RLIMIT_AS` and hangs under 128 MB). `RLIMIT_DATA` (Linux ≥ 4.7) counts only private
/// writable mappings, i.e. memory the process can actually fill: node starts in about 48 MB
/// of it, and both node (fatal "out of memory" abort) and python (`MemoryError`) fail an
/// allocation past it. See the README for the measurements.
pub fn prepare(cmd: &mut Command, memory_limit_bytes: Option<u64>) {
    cmd.process_group(0);
    let parent = std::process::id() as libc::pid_t;
    let limit = memory_limit_bytes.map(|bytes| libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: bytes as libc::rlim_t,
    });
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // functions may be called. It calls only setrlimit, prctl and getppid (plain system
    // calls, async-signal-safe), allocates nothing, takes no lock, and builds an io::Error
    // from errno only (no allocation). `limit` and `parent` are plain values copied into the
    // closure; `&limit` points into the closure's own state, alive for the call.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(limit) = &limit {
                if libc::setrlimit(libc::RLIMIT_DATA, limit) == -1 {
                    return Err(io::Error::last_os_error());
                }
            }
            #[cfg(any(target_os = "linux", target_os = "android"))]
            {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) == -1 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl: then no signal will come.
                if libc::getppid() != parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
            }
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            let _ = parent;
            Ok(())
        });
    }
}

/// Sends `signal` to every process of the group `group` (a proxy's pid).
///
/// Refuses group ids below 2: `kill(0, …)` would signal the host's own group and
/// `kill(-1, …)` every process the host may signal.
pub fn signal_group(group: u32, signal: Signal) -> io::Result<()> {
    let group = checked_pid(group)?;
    // SAFETY: kill has no memory-safety preconditions. `-group` names exactly the process
    // group `group` (checked above to be at least 2, so never "our group" or "everyone").
    if unsafe { libc::kill(-group, signal.number()) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `signal` to the process `pid` only.
pub fn signal_process(pid: u32, signal: Signal) -> io::Result<()> {
    let pid = checked_pid(pid)?;
    // SAFETY: kill has no memory-safety preconditions; `pid` is at least 2, so it names one
    // process.
    if unsafe { libc::kill(pid, signal.number()) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether a process `pid` exists (a zombie counts). `EPERM` means it exists but is not
/// ours to signal.
pub fn exists(pid: u32) -> bool {
    let Ok(pid) = checked_pid(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks whether the process exists and may be signalled; kill
    // has no memory-safety preconditions.
    let found = unsafe { libc::kill(pid, 0) } == 0;
    found || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The process group of `pid`, if it exists.
pub fn group_of(pid: u32) -> Option<u32> {
    let pid = checked_pid(pid).ok()?;
    // SAFETY: getpgid only reads the process table; no memory-safety preconditions.
    let group = unsafe { libc::getpgid(pid) };
    u32::try_from(group).ok()
}

/// The file name of the program `pid` runs (its `argv[0]`, from `/proc`), if it can be read.
/// `None` on systems without `/proc`, for a zombie, or for a process that is gone.
pub fn program_name(pid: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv0 = cmdline
        .split(|&b| b == 0)
        .next()
        .filter(|a| !a.is_empty())?;
    let argv0 = String::from_utf8_lossy(argv0);
    Path::new(argv0.as_ref())
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
}

/// The id of the process the plugin runs in (the host).
pub fn own_pid() -> u32 {
    std::process::id()
}

fn checked_pid(pid: u32) -> io::Result<libc::pid_t> {
    match libc::pid_t::try_from(pid) {
        Ok(pid) if pid >= 2 => Ok(pid),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to signal pid {pid}"),
        )),
    }
}

/// A signal's conventional name, for messages.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => "a signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_signals_our_group_or_everyone() {
        assert!(signal_group(0, Signal::Kill).is_err());
        assert!(signal_group(1, Signal::Kill).is_err());
        assert!(signal_process(0, Signal::Kill).is_err());
        assert!(signal_group(u32::MAX, Signal::Kill).is_err());
        assert!(!exists(0));
    }

    #[test]
    fn sees_its_own_process() {
        assert!(exists(own_pid()));
        assert!(group_of(own_pid()).is_some());
        #[cfg(target_os = "linux")]
        assert!(program_name(own_pid()).is_some());
    }
}
