//! Runs each case of a table test in a child process: this test binary again, filtered to
//! the one test, with the case named in an environment variable.
//!
//! Loading a damaged file can kill the process that loads it (a truncated shared object
//! whose segments reach past the end of the file: SIGBUS). The host must not let that
//! happen; if it does, the case that did it fails alone, by name, with the signal, instead
//! of taking down every other test of the binary with an anonymous crash.

use super::fixtures::SKIP_BUILD_ENV;
use std::{
    io::Read,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

const CASE_ENV: &str = "WHISK_TEST_CASE";
/// Printed by a child after its case passed, so that a child that ran no test at all (a
/// wrong filter) is not taken for a pass.
const PASSED_MARKER: &str = "isolated case passed: ";
const TIMEOUT: Duration = Duration::from_secs(120);

/// In a child: the case to run. `None` in the parent.
pub fn child_case() -> Option<String> {
    std::env::var(CASE_ENV).ok()
}

/// In a child, after the case's assertions held.
pub fn report_passed(case: &str) {
    // On a line of its own: libtest's `test … ` prefix is on the current line.
    println!("\n{PASSED_MARKER}{case}");
}

/// In the parent: runs test `test_name` (its full name, as `cargo test -- --exact` takes
/// it) once per case in a child process, then panics listing every case that failed,
/// crashed or hung, with its output.
pub fn run_each_in_child(test_name: &str, cases: &[&str]) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut failures = Vec::new();
    for case in cases {
        let mut child = Command::new(&exe)
            .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
            .env(CASE_ENV, case)
            .env(SKIP_BUILD_ENV, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("could not run {}: {e}", exe.display()));
        let stdout = drain(child.stdout.take().expect("piped"));
        let stderr = drain(child.stderr.take().expect("piped"));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the child") {
                break Some(status);
            }
            if started.elapsed() > TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(20));
        };
        let stdout = stdout.join().expect("stdout reader");
        let stderr = stderr.join().expect("stderr reader");
        let passed_line = format!("{PASSED_MARKER}{case}");
        let verdict = match status {
            None => Some(format!("hung (killed after {} s)", TIMEOUT.as_secs())),
            Some(s) if s.code().is_none() => Some(format!("CRASHED the process ({s})")),
            Some(s) if !s.success() => Some(format!("failed ({s})")),
            Some(_) if !stdout.contains(&passed_line) => Some(format!(
                "did not run: no test named `{test_name}` ran in the child"
            )),
            Some(_) => None,
        };
        match verdict {
            None => eprintln!("case {case}: ok"),
            Some(verdict) => {
                eprintln!("case {case}: {verdict}");
                failures.push(format!(
                    "case `{case}` {verdict}\n--- its stdout:\n{}\n--- its stderr:\n{}",
                    stdout.trim_end(),
                    stderr.trim_end()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

fn drain(mut from: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
