//! Process plumbing shared by every kind of action: the result pipe that becomes a launcher's
//! fd 3, and the guarantee that an action's process does not outlive the proxy.
//!
//! This is the only module with `unsafe` code.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use tokio::process::Command;

/// The descriptor on which an ActionLoop launcher writes one JSON line per activation.
pub const RESULT_FD: RawFd = 3;

/// A pipe whose both ends are close-on-exec, as `(read, write)`, so that no child inherits
/// an end by accident; [`prepare`] hands the write end to the one child that should get it.
pub fn result_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [libc::c_int; 2] = [-1; 2];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: `fds` is a writable array of two c_ints, which is what pipe2 writes to.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // SAFETY: `fds` is a writable array of two c_ints, which is what pipe writes to.
        // Without pipe2 there is a window before FD_CLOEXEC is set; the proxy forks only from
        // its single runtime thread, which is here, so no fork can happen inside it.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } == -1 {
            return Err(io::Error::last_os_error());
        }
        for fd in fds {
            // SAFETY: `fd` was just returned by pipe and is open.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } == -1 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    // SAFETY: pipe2/pipe succeeded, so both are freshly opened descriptors that nothing else
    // owns; each OwnedFd becomes their only owner.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sets up `cmd` so that, in the child, `result_fd` (if any) is open as [`RESULT_FD`], and
/// (on Linux) the child is killed when the proxy dies, even by SIGKILL.
///
/// The parent-death signal fires when the *thread* that forked exits; the proxy runs on a
/// current-thread runtime, so that thread is the main thread and lives as long as the proxy.
pub fn prepare(cmd: &mut Command, result_fd: Option<RawFd>) {
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // functions may be called. It calls only fcntl, dup2 and prctl (all async-signal-safe),
    // allocates nothing, takes no lock, and reads errno through last_os_error (no allocation
    // for an OS error). `result_fd` is a plain integer copied into the closure and is open in
    // the child because the parent keeps its OwnedFd alive until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fd) = result_fd {
                if fd == RESULT_FD {
                    // dup2 onto itself would keep close-on-exec set: clear it instead.
                    if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                        return Err(io::Error::last_os_error());
                    }
                } else if libc::dup2(fd, RESULT_FD) == -1 {
                    // dup2's new descriptor does not have close-on-exec, so it survives exec.
                    return Err(io::Error::last_os_error());
                }
            }
            #[cfg(any(target_os = "linux", target_os = "android"))]
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
