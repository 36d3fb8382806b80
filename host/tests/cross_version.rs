//! Real loads across whisk-spi versions, both directions (DESIGN.md, decision 6).
//!
//! - A plugin built against the next minor version (which adds an extension) loads in this
//!   host and works: the newer plugin in the older host.
//! - A probe host built against that next minor version loads this workspace's plugin,
//!   built against the current version: it works, and the new extension falls back to "not
//!   provided": the older plugin in the newer host, the case abi_stable refuses whenever
//!   a released type grew.
//! - That probe host gets the extension from the newer plugin, and can call it.
//! - A plugin built against the next major version is refused at the spi-version check.
//!
//! The fixtures are built by the harness (`support/fixtures.rs`); the workspace's
//! plugins by `cargo build --workspace`.

mod support;

use std::{collections::BTreeMap, path::Path, process::Command};
use support::{fixtures::fixtures, paths::reference_plugin, sample};
use whisk_host::plugin::{load, Check};

#[test]
fn a_plugin_of_the_next_minor_spi_works_in_this_host() {
    let plugin = &fixtures().lb_next_minor;
    let loaded = load(&plugin.file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.metadata.name, plugin.package);
    assert_eq!(loaded.metadata.spi_version, plugin.spi_version);
    assert_ne!(
        loaded.metadata.spi_version,
        whisk_spi::SPI_VERSION,
        "the fixture should be of another spi version than the host"
    );

    let balancer = loaded.load_balancer("").unwrap_or_else(|e| panic!("{e}"));
    let chosen = balancer
        .choose_invoker(&sample::request(), &sample::invokers())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(chosen, sample::MOST_FREE_SLOTS);
}

#[test]
fn a_host_of_the_next_minor_spi_runs_this_workspace_plugin_without_the_extension() {
    let plugin = reference_plugin("roundrobin-lb");
    let probe = probe(&fixtures().probe_host_next_minor.file, &plugin);
    probe.assert_succeeded();
    assert_eq!(
        probe.line("host spi"),
        fixtures().probe_host_next_minor.spi_version
    );
    assert!(
        probe.line("plugin").starts_with("roundrobin-lb "),
        "{probe}"
    );
    assert_eq!(probe.line("plugin spi"), whisk_spi::SPI_VERSION, "{probe}");
    // Round robin starts with the first usable invoker.
    let first = sample::invokers()[0].id;
    assert_eq!(probe.line("choose_invoker"), first.to_string(), "{probe}");
    assert_eq!(probe.line("extension"), "not provided", "{probe}");
}

#[test]
fn a_host_of_the_next_minor_spi_gets_the_extension_of_a_plugin_of_that_spi() {
    let fixtures = fixtures();
    let probe = probe(
        &fixtures.probe_host_next_minor.file,
        &fixtures.lb_next_minor.file,
    );
    probe.assert_succeeded();
    assert_eq!(
        probe.line("plugin spi"),
        fixtures.lb_next_minor.spi_version,
        "{probe}"
    );
    assert_eq!(
        probe.line("choose_invoker"),
        sample::MOST_FREE_SLOTS.to_string(),
        "{probe}"
    );
    // The probe placed one activation, and reads that count through the extension.
    assert_eq!(
        probe.line("extension"),
        "provided (placements: 1)",
        "{probe}"
    );
}

#[test]
fn a_plugin_of_the_next_major_spi_is_refused_at_the_spi_version_check() {
    let plugin = &fixtures().lb_next_major;
    let err = load(&plugin.file).expect_err("a plugin of another major spi version loaded");
    assert_eq!(err.check, Check::SpiVersion, "{err}");
    let text = err.to_string();
    assert!(text.contains(&plugin.spi_version), "{text}");
    assert!(text.contains(whisk_spi::SPI_VERSION), "{text}");
    let name = plugin.file.file_name().unwrap().to_string_lossy();
    assert!(text.contains(&*name), "{text}");
}

/// What the probe host printed: one `key: value` line per step.
struct Probe {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
    lines: BTreeMap<String, String>,
}

fn probe(probe_host: &Path, plugin: &Path) -> Probe {
    let output = Command::new(probe_host)
        .arg(plugin)
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", probe_host.display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let lines = stdout
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    Probe {
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        stdout,
        lines,
    }
}

impl Probe {
    fn assert_succeeded(&self) {
        assert!(self.status.success(), "the probe host failed: {self}");
    }

    fn line(&self, key: &str) -> &str {
        self.lines
            .get(key)
            .unwrap_or_else(|| panic!("the probe host printed no `{key}:` line: {self}"))
    }
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- stdout:\n{}--- stderr:\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}
