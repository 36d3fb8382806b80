//! Every known way a plugin file can be unusable, and the check that must catch it.
//!
//! One table, [`CASES`]: the input, how the host uses it, the check that must fail and
//! what the message must say. Each case runs in a child process (`support::isolate`), so a
//! file that crashes the host fails its own case by name instead of the whole binary.
//! The same files then go through `whisk plugin check`, whose exit status and JSON report
//! must agree, and the workspace's own plugins must pass it.

mod support;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};
use support::{
    fixtures::{fixtures, write_if_changed, Fixtures},
    isolate,
    paths::{reference_plugin, reference_plugins, whisk_bin},
    sample,
};
use whisk_host::plugin::{load, Check, LoadError};

/// What the host does with the file after `load`.
#[derive(Clone, Copy, PartialEq)]
enum Use {
    /// Nothing: `load` itself must fail.
    Load,
    /// `load` must pass, then `load_balancer("")` must fail.
    AsLoadBalancer,
    /// `load` must pass, then `authenticator("")` must fail.
    AsAuthenticator,
}

struct Case {
    name: &'static str,
    /// Makes (or finds) the file.
    input: fn(&Fixtures) -> PathBuf,
    used: Use,
    check: Check,
    /// Texts the message must contain (compared in lower case).
    says: &'static [&'static str],
    /// The plugin the error must name.
    plugin: Option<&'static str>,
    /// Further assertions.
    then: fn(&Fixtures, &Path, &LoadError),
}

const CASES: &[Case] = &[
    Case {
        name: "missing-file",
        input: |f| {
            let path = f.scratch_dir.join("libno_such_plugin.so");
            let _ = fs::remove_file(&path);
            path
        },
        used: Use::Load,
        check: Check::File,
        says: &[],
        plugin: None,
        then: nothing_more,
    },
    Case {
        name: "text-file",
        input: |f| {
            scratch_file(
                f,
                "plugin-notes.txt",
                b"roundrobin-lb: use it for the default pool\n",
            )
        },
        used: Use::Load,
        check: Check::SharedObject,
        says: &[],
        plugin: None,
        then: nothing_more,
    },
    Case {
        name: "random-bytes",
        input: |f| scratch_file(f, "librandom_bytes.so", &random_bytes(64 * 1024)),
        used: Use::Load,
        check: Check::SharedObject,
        says: &[],
        plugin: None,
        then: nothing_more,
    },
    Case {
        name: "truncated-plugin",
        input: |f| {
            let whole = fs::read(&f.lb.file).expect("the fixture plugin is readable");
            scratch_file(f, "libtruncated.so", &whole[..whole.len() / 2])
        },
        used: Use::Load,
        check: Check::SharedObject,
        says: &[],
        plugin: None,
        then: nothing_more,
    },
    Case {
        name: "not-a-plugin",
        input: |f| f.not_a_plugin.file.clone(),
        used: Use::Load,
        check: Check::RootModule,
        says: &["root module"],
        plugin: None,
        then: nothing_more,
    },
    Case {
        name: "foreign-abi-header",
        input: |f| f.foreign_abi_header.file.clone(),
        used: Use::Load,
        check: Check::AbiHeader,
        says: &[],
        plugin: None,
        then: nothing_more,
    },
    Case {
        name: "next-major-spi",
        input: |f| f.lb_next_major.file.clone(),
        used: Use::Load,
        check: Check::SpiVersion,
        says: &[],
        plugin: None,
        then: |f, _, err| {
            let message = &err.message;
            assert!(message.contains(&f.lb_next_major.spi_version), "{err}");
            assert!(message.contains(whisk_spi::SPI_VERSION), "{err}");
            assert!(
                err.found
                    .as_deref()
                    .is_some_and(|found| found.contains(&f.lb_next_major.spi_version)),
                "`found` should be the plugin's version: {err:?}"
            );
            assert!(err.expected.is_some(), "{err:?}");
        },
    },
    Case {
        name: "incompatible-layout",
        input: |f| f.lb_bad_layout.file.clone(),
        used: Use::Load,
        check: Check::Layout,
        says: &["InvokerState", "free_slots", "u32", "u64"],
        plugin: None,
        then: |_, _, err| {
            // One short paragraph; abi_stable's dump only in `detail`.
            assert!(
                err.message.len() < 1000,
                "{} chars: {}",
                err.message.len(),
                err.message
            );
            let shown = err.to_string();
            assert!(shown.len() < 1000, "{} chars: {shown}", shown.len());
            let detail = err.detail.as_deref().expect("the full report in `detail`");
            assert!(detail.len() > err.message.len(), "{detail}");
        },
    },
    Case {
        name: "panicking-constructor",
        input: |f| f.panicking_constructor.file.clone(),
        used: Use::AsLoadBalancer,
        check: Check::Constructor,
        says: &["panicked", "fixture constructor panics on purpose"],
        plugin: Some("panicking-constructor"),
        then: |f, _, _| {
            // The host is still here, and can load and use another plugin.
            let other = load(&f.lb.file).unwrap_or_else(|e| panic!("{e}"));
            let balancer = other.load_balancer("").unwrap_or_else(|e| panic!("{e}"));
            let chosen = balancer
                .choose_invoker(&sample::request(), &sample::invokers())
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(chosen, sample::MOST_FREE_SLOTS);
        },
    },
    Case {
        name: "failing-constructor",
        input: |f| f.failing_constructor.file.clone(),
        used: Use::AsLoadBalancer,
        check: Check::Constructor,
        says: &["`pool_size` must be positive"],
        plugin: Some("failing-constructor"),
        then: nothing_more,
    },
    Case {
        name: "wrong-kind",
        input: |_| reference_plugin("roundrobin-lb"),
        used: Use::AsAuthenticator,
        check: Check::Kind,
        says: &["authenticator"],
        plugin: Some("roundrobin-lb"),
        then: nothing_more,
    },
];

fn nothing_more(_: &Fixtures, _: &Path, _: &LoadError) {}

#[test]
fn each_bad_input_fails_at_its_check() {
    match isolate::child_case() {
        Some(name) => {
            let case = CASES
                .iter()
                .find(|c| c.name == name)
                .unwrap_or_else(|| panic!("no case {name}"));
            run_case(case);
            isolate::report_passed(case.name);
        }
        None => {
            fixtures(); // built once here, not in every child
            let names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
            isolate::run_each_in_child("each_bad_input_fails_at_its_check", &names);
        }
    }
}

fn run_case(case: &Case) {
    let fixtures = fixtures();
    let path = (case.input)(fixtures);
    let err = match (case.used, load(&path)) {
        (Use::Load, Ok(loaded)) => panic!(
            "{} loaded, but should fail the {} check: {:?}",
            path.display(),
            case.check,
            loaded.metadata
        ),
        (Use::Load, Err(err)) => err,
        (_, Err(err)) => panic!("{} should load, but: {err}", path.display()),
        (Use::AsLoadBalancer, Ok(loaded)) => match loaded.load_balancer("") {
            Ok(_) => panic!("{}: the load balancer was built", path.display()),
            Err(err) => err,
        },
        (Use::AsAuthenticator, Ok(loaded)) => match loaded.authenticator("") {
            Ok(_) => panic!("{}: the authenticator was built", path.display()),
            Err(err) => err,
        },
    };
    eprintln!("{}: {err}", case.name);

    assert_eq!(err.check, case.check, "wrong check failed: {err}");
    assert_eq!(err.file, path, "{err}");
    let file_name = path.file_name().unwrap().to_string_lossy();
    assert!(
        err.to_string().contains(&*file_name),
        "names no file: {err}"
    );
    assert!(!err.hint.is_empty(), "no hint: {err}");
    let message = err.message.to_lowercase();
    for text in case.says {
        assert!(
            message.contains(&text.to_lowercase()),
            "the message should say `{text}`: {err}"
        );
    }
    if let Some(plugin) = case.plugin {
        assert_eq!(err.plugin.as_deref(), Some(plugin), "{err}");
    }
    (case.then)(fixtures, &path, &err);
}

// ---------------------------------------------------------------- the CLI

#[test]
fn plugin_check_refuses_a_file_that_is_not_a_plugin() {
    let file = &fixtures().not_a_plugin.file;
    let output = whisk(&["plugin", "check"], &[file]);
    let code = exit_code(&output);
    assert_ne!(code, 0, "{}", describe(&output));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains(&*file.to_string_lossy()),
        "names no file: {}",
        describe(&output)
    );
}

#[test]
fn plugin_check_json_names_the_check_each_file_failed() {
    let fixtures = fixtures();
    // One run per file, so that one file that crashes `whisk` does not hide the others.
    let mut failures = Vec::new();
    for case in CASES.iter().filter(|c| c.used == Use::Load) {
        let path = (case.input)(fixtures);
        let outcome = std::panic::catch_unwind(|| {
            let report = check_json(&[&path], false);
            let entry = &report["plugins"][0];
            assert_eq!(entry["file"], *path.to_string_lossy(), "{entry:#}");
            assert_eq!(entry["usable"], false, "{entry:#}");
            assert_eq!(entry["error"]["check"], case.check.as_str(), "{entry:#}");
            let message = entry["error"]["message"].as_str();
            assert!(message.is_some_and(|m| !m.is_empty()), "{entry:#}");
            assert!(entry["error"]["hint"].is_string(), "{entry:#}");
            assert!(entry["metadata"].is_null(), "{entry:#}");
        });
        if let Err(panic) = outcome {
            failures.push(format!("case `{}`: {}", case.name, panic_text(&*panic)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn plugin_check_json_reports_each_file_of_a_mixed_list() {
    let good = reference_plugin("roundrobin-lb");
    let bad = fixtures().not_a_plugin.file.clone();
    let report = check_json(&[&good, &bad], false);
    let entries = report["plugins"].as_array().expect("`plugins` is an array");
    assert_eq!(entries.len(), 2, "{report:#}");
    assert_eq!(entries[0]["file"], *good.to_string_lossy(), "{report:#}");
    assert_eq!(entries[0]["usable"], true, "{report:#}");
    assert_eq!(
        entries[0]["metadata"]["name"], "roundrobin-lb",
        "{report:#}"
    );
    assert_eq!(entries[1]["file"], *bad.to_string_lossy(), "{report:#}");
    assert_eq!(entries[1]["usable"], false, "{report:#}");
    assert_eq!(entries[1]["error"]["check"], "root-module", "{report:#}");
}

#[test]
fn plugin_check_accepts_the_workspace_plugins() {
    let plugins = reference_plugins();
    let files: Vec<&Path> = plugins.iter().map(|p| p.file.as_path()).collect();

    let output = whisk(&["plugin", "check"], &files);
    assert_eq!(exit_code(&output), 0, "{}", describe(&output));

    let report = check_json(&files, true);
    let entries = report["plugins"].as_array().expect("`plugins` is an array");
    assert_eq!(entries.len(), plugins.len(), "{report:#}");
    for (plugin, entry) in plugins.iter().zip(entries) {
        assert_eq!(entry["usable"], true, "{entry:#}");
        assert!(entry["error"].is_null(), "{entry:#}");
        assert_eq!(entry["metadata"]["name"], plugin.name.as_str(), "{entry:#}");
        assert_eq!(
            entry["metadata"]["spi_version"],
            whisk_spi::SPI_VERSION,
            "{entry:#}"
        );
        let kinds = entry["metadata"]["kinds"].as_array();
        assert!(kinds.is_some_and(|k| !k.is_empty()), "{entry:#}");
        assert!(entry["load_ms"].as_f64().is_some(), "{entry:#}");
    }
}

/// `whisk plugin check --json FILES`, checked for what holds of every report: it parses,
/// names the host's spi version, says `usable` as the exit status does, one entry a file.
fn check_json(files: &[&Path], usable: bool) -> serde_json::Value {
    let output = whisk(&["plugin", "check", "--json"], files);
    let code = exit_code(&output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(&output)));
    assert_eq!(code == 0, usable, "exit status: {}", describe(&output));
    assert_eq!(report["usable"], usable, "{report:#}");
    assert_eq!(
        report["host_spi_version"],
        whisk_spi::SPI_VERSION,
        "{report:#}"
    );
    let entries = report["plugins"].as_array().expect("`plugins` is an array");
    assert_eq!(entries.len(), files.len(), "{report:#}");
    report
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}

fn whisk(args: &[&str], files: &[&Path]) -> Output {
    Command::new(whisk_bin())
        .args(args)
        .args(files)
        .output()
        .expect("run whisk")
}

/// The exit code, failing the test if a signal ended the process (a crash, not a verdict).
fn exit_code(output: &Output) -> i32 {
    output
        .status
        .code()
        .unwrap_or_else(|| panic!("whisk was killed: {}", describe(output)))
}

fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout:\n{}\n--- stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

// ---------------------------------------------------------------- inputs

/// Writes an input file; tests running at the same time may be loading the same one.
fn scratch_file(fixtures: &Fixtures, name: &str, contents: &[u8]) -> PathBuf {
    let path = fixtures.scratch_dir.join(name);
    write_if_changed(&path, contents).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// Deterministic noise (xorshift), which never starts like an ELF or Mach-O file.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    bytes[0] = 0x42;
    bytes
}
