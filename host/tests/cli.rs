//! The operator's commands besides `serve`: `whisk config check` and `whisk plugin list`.
//!
//! Needs `cargo build --workspace` first (the plugins' .so files).

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

fn whisk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_whisk"))
        .args(args)
        .env("WHISK_LOG", "warn")
        .output()
        .expect("whisk runs")
}

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_whisk"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("whisk-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn config(extra: &str) -> String {
    let dir = std::env::temp_dir().join(format!("whisk-cli-{}", std::process::id()));
    format!(
        r#"[server]
data_dir = "{dir}/data"
[spi]
load_balancer = "roundrobin-lb"
container_factory = "process-factory"
log_store = "file-logging"
authentication = ["basic-auth"]
[loader]
dirs = ["{bin}"]
[plugins.process-factory]
state_dir = "{dir}/factory"
[plugins.file-logging]
directory = "{dir}/logs"
[plugins.basic-auth]
credentials_file = "{ws}/config/guest-auth.toml"
{extra}"#,
        dir = dir.display(),
        bin = bin_dir().display(),
        ws = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .display(),
    )
}

#[test]
fn config_check_accepts_a_good_config() {
    let path = temp_file("good.toml", &config(""));
    let out = whisk(&["config", "check", "--config", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("config ok"), "{stdout}");
    assert!(stdout.contains("authentication #1  basic-auth"), "{stdout}");
}

#[test]
fn config_check_names_file_line_col_of_an_unknown_key() {
    let text = config("").replace("[loader]\n", "[loader]\nplugin_dirs = []\n");
    let path = temp_file("unknown-key.toml", &text);
    let out = whisk(&["config", "check", "--config", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let place = format!("{}:9:1", path.display());
    assert!(stderr.contains(&place), "expected `{place}` in: {stderr}");
    assert!(stderr.contains("unknown field `plugin_dirs`"), "{stderr}");
}

#[test]
fn config_check_reports_a_plugin_that_refuses_its_table() {
    let text = config("").replace(
        "[plugins.file-logging]\n",
        "[plugins.file-logging]\nrotate = true\n",
    );
    let path = temp_file("bad-table.toml", &text);
    let out = whisk(&["config", "check", "--config", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("[constructor check]"), "{stderr}");
    assert!(stderr.contains("rotate"), "{stderr}");
    assert!(
        stderr.contains("fix the table [plugins.file-logging]"),
        "{stderr}"
    );
}

#[test]
fn config_check_reports_a_missing_plugin_with_where_it_looked() {
    let text = config("").replace("\"roundrobin-lb\"", "\"no-such-lb\"");
    let path = temp_file("missing.toml", &text);
    let out = whisk(&["config", "check", "--config", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("libno_such_lb.so"), "{stderr}");
    assert!(stderr.contains("[file check]"), "{stderr}");
    assert!(
        stderr.contains(&bin_dir().display().to_string()),
        "{stderr}"
    );
}

#[test]
fn plugin_list_shows_what_each_selected_plugin_serves() {
    let path = temp_file("list.toml", &config(""));
    let out = whisk(&["plugin", "list", "--config", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("roundrobin-lb 1.0.0  serves: load balancer"),
        "{stdout}"
    );
    assert!(
        stdout.contains("basic-auth 1.0.0  serves: authentication #1"),
        "{stdout}"
    );
    // Every plugin file of the directory, selected or not.
    assert!(
        stdout.contains("libdocker_factory.so  docker-factory"),
        "{stdout}"
    );
}
