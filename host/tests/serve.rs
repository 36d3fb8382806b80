//! `whisk serve` as an operator starts it: the SPI table on stdout, load time, plugins'
//! own log events in the host's log under the plugin's name, a clean stop.
//!
//! Needs `cargo build --workspace` first (the plugins' .so files and action-proxy).

#[path = "support/server.rs"]
mod server;

use server::{ServerOptions, WhiskServer};

#[test]
fn serve_prints_the_spi_table_and_forwards_plugin_logs() {
    let options = ServerOptions {
        env: vec![("WHISK_LOG".into(), "debug".into())],
        ..ServerOptions::default()
    };
    if let Err(e) = server::check_prerequisites(&options.bin_dir, "cargo build --workspace") {
        panic!("{e}");
    }
    let mut whisk = WhiskServer::start_with(options).unwrap_or_else(|e| panic!("{e}"));
    let stdout = std::fs::read_to_string(&whisk.stdout_log).unwrap();
    for row in [
        "load balancer      roundrobin-lb",
        "container factory  process-factory",
        "log store          file-logging",
        "authentication #1  basic-auth",
    ] {
        assert!(
            stdout.contains(row),
            "no `{row}` in the SPI table:\n{stdout}"
        );
    }
    assert!(stdout.contains("loaded 4 plugins in "), "{stdout}");
    let log = whisk.log();
    // basic-auth logs through `tracing` inside its own library; the event must reach the
    // host's log, attributed to the plugin.
    let forwarded = log
        .lines()
        .find(|l| l.contains("loaded Basic credentials"))
        .unwrap_or_else(|| panic!("basic-auth's event did not reach the host's log:\n{log}"));
    assert!(forwarded.contains("whisk::plugin"), "{forwarded}");
    assert!(forwarded.contains("plugin=\"basic-auth\""), "{forwarded}");
    assert!(forwarded.contains("INFO"), "{forwarded}");
    whisk.stop();
    let log = whisk.log();
    assert!(
        log.contains("shutting down"),
        "no clean shutdown in the log:\n{log}"
    );
}
