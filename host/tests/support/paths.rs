//! Where things are: the workspace, the target dir of this build, the reference plugins.

use std::{
    env::consts::{DLL_PREFIX, DLL_SUFFIX},
    path::{Path, PathBuf},
};

/// The root of the main workspace (the parent of `host/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// The `whisk` binary cargo built for these tests.
pub fn whisk_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_whisk"))
}

/// Where this build put the workspace's binaries and cdylibs (`target/debug`).
pub fn profile_dir() -> PathBuf {
    whisk_bin()
        .parent()
        .expect("the whisk binary is in a directory")
        .to_path_buf()
}

/// The target dir of the build that made these tests: the nearest ancestor of the profile
/// dir holding cargo's `CACHEDIR.TAG` (this also finds a `CARGO_TARGET_DIR` elsewhere, or
/// `target/<triple>/debug` under `--target`).
pub fn target_dir() -> PathBuf {
    profile_dir()
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The file name of the cdylib of package `package` (`roundrobin-lb` →
/// `libroundrobin_lb.so` on Linux).
pub fn cdylib_file_name(package: &str) -> String {
    format!("{DLL_PREFIX}{}{DLL_SUFFIX}", package.replace('-', "_"))
}

/// A plugin of the workspace (`plugins/<name>`) and where `cargo build --workspace` put it.
#[derive(Debug, Clone)]
pub struct ReferencePlugin {
    pub name: String,
    pub file: PathBuf,
}

/// Every plugin of the workspace (each folder of `plugins/` is one, named after its
/// package). Panics with what to do when one has not been built: a cdylib is built by
/// `cargo build`, not by `cargo test`.
pub fn reference_plugins() -> Vec<ReferencePlugin> {
    let mut plugins = Vec::new();
    let dir = workspace_root().join("plugins");
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let manifest = entry
            .expect("readable plugins/ entry")
            .path()
            .join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let manifest: toml::Table =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
        let name = manifest["package"]["name"]
            .as_str()
            .expect("package.name is a string")
            .to_string();
        plugins.push(ReferencePlugin {
            file: built_plugin(&name),
            name,
        });
    }
    plugins.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!plugins.is_empty(), "no plugins in {}", dir.display());
    plugins
}

/// The built file of workspace plugin `name`; panics with what to do when it is missing.
pub fn reference_plugin(name: &str) -> PathBuf {
    built_plugin(name)
}

fn built_plugin(name: &str) -> PathBuf {
    let file = profile_dir().join(cdylib_file_name(name));
    assert!(
        file.is_file(),
        "{} is missing: the tests load the workspace's plugins as built, and `cargo test` \
         does not build a cdylib. Run `cargo build --workspace` first.",
        file.display()
    );
    file
}
