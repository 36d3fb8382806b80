//! Builds the crates of `host/tests/fixtures/` against copies of whisk-spi, once per test
//! binary, and says where the files are.
//!
//! For each *variant* of whisk-spi (the one in `spi-abi/`, a next minor version with a new
//! extension, a next major version, and one with another layout under the same version),
//! the harness writes a small Cargo workspace under `<target>/fixtures/workspaces/<variant>/`:
//!
//! - `whisk-spi-<variant>/`: a copy of `spi-abi/` whose manifest is made standalone (workspace
//!   inheritance inlined, as `cargo package` does for a published crate) with the variant's version,
//!   and whose sources get the variant's patches;
//! - one folder per fixture crate holding only a manifest, derived from the crate's own in
//!   `host/tests/fixtures/`: renamed for the variant (`lb` → `lb-spi-2-0-0`), depending on
//!   the copy, the variant's features on by default, its targets pointing at the committed
//!   sources (only whisk-spi is copied);
//! - `Cargo.lock`, seeded from the main workspace's, so abi_stable and the rest resolve to
//!   the versions the host is built with (and no registry is asked for anything new).
//!
//! and runs `cargo build --workspace --target-dir <target>/fixtures`. The variants share
//! that target dir, so abi_stable and the other dependencies compile once; a file is only
//! written when its content changes, so a second run is a no-op build. Nothing is written
//! outside `<target>/fixtures/`.

use super::paths::{cdylib_file_name, target_dir, workspace_root};
use std::{
    env::consts::EXE_SUFFIX,
    fs,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::Instant,
};
use toml::{Table, Value};

/// Set (by [`super::isolate`]) in child processes of a test whose parent already built the
/// fixtures: they only look the files up.
pub const SKIP_BUILD_ENV: &str = "WHISK_FIXTURES_BUILT";

/// A file the harness built.
#[derive(Debug, Clone)]
pub struct Built {
    /// Its package name, which is also the plugin's name in its metadata.
    pub package: String,
    /// The whisk-spi version it was built against.
    pub spi_version: String,
    pub file: PathBuf,
}

/// Everything the harness builds. See `host/tests/fixtures/README.md` for what each proves.
#[derive(Debug)]
pub struct Fixtures {
    /// The version of whisk-spi in `spi-abi/`, which the host implements.
    pub spi_version: String,
    /// `lb` against whisk-spi as it is.
    pub lb: Built,
    /// `lb` against the next minor version, which adds the extension `LoadBalancerStats`;
    /// it provides that extension.
    pub lb_next_minor: Built,
    /// `lb` against the next major version.
    pub lb_next_major: Built,
    /// `lb` against a copy of the same version whose `InvokerState.free_slots` is a u64.
    pub lb_bad_layout: Built,
    pub panicking_constructor: Built,
    pub failing_constructor: Built,
    pub not_a_plugin: Built,
    pub foreign_abi_header: Built,
    /// The probe host built against the next minor version.
    pub probe_host_next_minor: Built,
    /// Where tests may write input files of their own.
    pub scratch_dir: PathBuf,
}

/// The fixtures, built on first use in this process. Panics with the reason when they
/// cannot be built.
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Result<Fixtures, String>> = OnceLock::new();
    match FIXTURES.get_or_init(build_all) {
        Ok(fixtures) => fixtures,
        Err(message) => panic!("the test fixtures could not be built: {message}"),
    }
}

/// The folder of the fixture crates.
pub fn fixtures_source_dir() -> PathBuf {
    workspace_root().join("host/tests/fixtures")
}

/// The extension the next-minor copy adds (appended to its `src/extension.rs`): an allowed
/// change within 1.x, a new type looked up by name (DESIGN.md, decision 6).
const STATS_EXTENSION: &str = r#"

// ---- Added by the test harness (host/tests/support/fixtures.rs) for a next-minor copy.

/// Counters of a load-balancer plugin, for the host's metrics (an extension new in 1.1).
#[repr(C)]
#[derive(StableAbi)]
pub struct LoadBalancerStats {
    /// Activations placed by every balancer the plugin built.
    pub placements: extern "C" fn() -> u64,
}

// SAFETY: the name belongs to this type alone; plugins hand out `static` values.
unsafe impl Extension for LoadBalancerStats {
    const NAME: &'static str = "whisk.load-balancer-stats.v1";
}
"#;

/// A change to one file of the whisk-spi copy.
enum Patch {
    /// Replace `find`, which must occur exactly once, with `with`.
    Replace {
        file: &'static str,
        find: &'static str,
        with: &'static str,
    },
    Append {
        file: &'static str,
        text: &'static str,
    },
}

impl Patch {
    fn file(&self) -> &'static str {
        match self {
            Patch::Replace { file, .. } | Patch::Append { file, .. } => file,
        }
    }

    fn apply(&self, text: &str) -> Result<String, String> {
        match self {
            Patch::Append { text: more, .. } => Ok(format!("{text}{more}")),
            Patch::Replace { file, find, with } => match text.matches(find).count() {
                1 => Ok(text.replacen(find, with, 1)),
                n => Err(format!(
                    "the patch for spi-abi/{file} no longer applies: `{find}` occurs {n} \
                     times, expected once; update the variants in {}",
                    file!()
                )),
            },
        }
    }
}

/// A fixture crate as built in one variant.
struct Member {
    /// Its folder in `host/tests/fixtures/`.
    dir: &'static str,
    /// Its package name in this variant.
    package: String,
    features: &'static [&'static str],
}

struct Variant {
    /// Its folder under `<target>/fixtures/workspaces/`.
    name: String,
    spi_version: String,
    patches: Vec<Patch>,
    members: Vec<Member>,
}

fn member(dir: &'static str, package: impl Into<String>) -> Member {
    Member {
        dir,
        package: package.into(),
        features: &[],
    }
}

/// The whisk-spi versions of the variants: as is, next minor, next major.
struct Versions {
    current: String,
    next_minor: String,
    next_major: String,
}

fn versions() -> Result<Versions, String> {
    let manifest = read_toml(&workspace_root().join("spi-abi/Cargo.toml"))?;
    let current = manifest
        .get("package")
        .and_then(|p| p.get("version"))
        .and_then(Value::as_str)
        .ok_or("spi-abi/Cargo.toml has no package.version")?
        .to_string();
    let numbers: Vec<u64> = current
        .split('.')
        .map(|n| n.parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("whisk-spi's version `{current}` is not MAJOR.MINOR.PATCH"))?;
    let [major, minor, _patch] = numbers[..] else {
        return Err(format!(
            "whisk-spi's version `{current}` is not MAJOR.MINOR.PATCH"
        ));
    };
    Ok(Versions {
        next_minor: format!("{major}.{}.0", minor + 1),
        next_major: format!("{}.0.0", major + 1),
        current,
    })
}

/// `lb-spi-1-1-0` for `lb` against 1.1.0.
fn versioned(base: &str, version: &str) -> String {
    format!("{base}-spi-{}", version.replace('.', "-"))
}

fn variants(v: &Versions) -> Vec<Variant> {
    vec![
        Variant {
            name: format!("spi-{}", v.current),
            spi_version: v.current.clone(),
            patches: vec![],
            members: vec![
                member("lb", versioned("lb", &v.current)),
                member("panicking-constructor", "panicking-constructor"),
                member("failing-constructor", "failing-constructor"),
                member("not-a-plugin", "not-a-plugin"),
                member("foreign-abi-header", "foreign-abi-header"),
            ],
        },
        Variant {
            name: format!("spi-{}", v.next_minor),
            spi_version: v.next_minor.clone(),
            patches: vec![Patch::Append {
                file: "src/extension.rs",
                text: STATS_EXTENSION,
            }],
            members: vec![
                Member {
                    features: &["stats-extension"],
                    ..member("lb", versioned("lb", &v.next_minor))
                },
                Member {
                    features: &["stats-extension"],
                    ..member("probe-host", versioned("probe-host", &v.next_minor))
                },
            ],
        },
        Variant {
            name: format!("spi-{}", v.next_major),
            spi_version: v.next_major.clone(),
            patches: vec![],
            members: vec![member("lb", versioned("lb", &v.next_major))],
        },
        Variant {
            name: format!("spi-{}-bad-layout", v.current),
            spi_version: v.current.clone(),
            patches: vec![Patch::Replace {
                file: "src/types.rs",
                find: "pub free_slots: u32,",
                with: "pub free_slots: u64,",
            }],
            members: vec![member("lb", "lb-bad-layout")],
        },
    ]
}

fn build_all() -> Result<Fixtures, String> {
    let started = Instant::now();
    let versions = versions()?;
    let variants = variants(&versions);
    let root = target_dir().join("fixtures");
    let skip_build = std::env::var_os(SKIP_BUILD_ENV).is_some();
    if !skip_build {
        eprintln!(
            "fixtures: building {} variants of whisk-spi into {}",
            variants.len(),
            root.display()
        );
        for variant in &variants {
            let variant_started = Instant::now();
            build_variant(variant, &root)?;
            eprintln!(
                "fixtures: {} built in {:.1} s",
                variant.name,
                variant_started.elapsed().as_secs_f64()
            );
        }
        eprintln!(
            "fixtures: all built in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    let by_package = |package: &str| -> Result<Built, String> {
        variants
            .iter()
            .flat_map(|v| v.members.iter().map(move |m| (v, m)))
            .find(|(_, m)| m.package == package)
            .ok_or_else(|| format!("no fixture package {package}"))
            .and_then(|(v, m)| built(&root, v, m))
    };
    let scratch_dir = root.join("scratch");
    fs::create_dir_all(&scratch_dir).map_err(|e| format!("{}: {e}", scratch_dir.display()))?;
    Ok(Fixtures {
        lb: by_package(&versioned("lb", &versions.current))?,
        lb_next_minor: by_package(&versioned("lb", &versions.next_minor))?,
        lb_next_major: by_package(&versioned("lb", &versions.next_major))?,
        lb_bad_layout: by_package("lb-bad-layout")?,
        panicking_constructor: by_package("panicking-constructor")?,
        failing_constructor: by_package("failing-constructor")?,
        not_a_plugin: by_package("not-a-plugin")?,
        foreign_abi_header: by_package("foreign-abi-header")?,
        probe_host_next_minor: by_package(&versioned("probe-host", &versions.next_minor))?,
        spi_version: versions.current,
        scratch_dir,
    })
}

/// Where the build of `member` is, checked to exist.
fn built(root: &Path, variant: &Variant, member: &Member) -> Result<Built, String> {
    let out = root.join("debug");
    let is_bin = fixtures_source_dir()
        .join(member.dir)
        .join("src/main.rs")
        .is_file();
    let file = if is_bin {
        out.join(format!("{}{EXE_SUFFIX}", member.package))
    } else {
        out.join(cdylib_file_name(&member.package))
    };
    if !file.is_file() {
        return Err(format!(
            "{} is missing after the build of fixture workspace {}",
            file.display(),
            variant.name
        ));
    }
    Ok(Built {
        package: member.package.clone(),
        spi_version: variant.spi_version.clone(),
        file,
    })
}

fn build_variant(variant: &Variant, root: &Path) -> Result<(), String> {
    let dir = root.join("workspaces").join(&variant.name);
    // Named after the variant: cargo tells path packages of the same name and version
    // apart by their path relative to the workspace root, and the copies share the target
    // dir. Under the same relative path, the bad-layout copy would silently reuse the
    // compiled good copy.
    let spi_folder = format!("whisk-spi-{}", variant.name);
    let spi_dir = dir.join(&spi_folder);
    copy_spi(variant, &spi_dir)?;

    let mut members = vec![Value::from(spi_folder)];
    for member in &variant.members {
        let manifest = member_manifest(member, &spi_dir)?;
        write_if_changed(&dir.join(&member.package).join("Cargo.toml"), &manifest)?;
        members.push(Value::from(member.package.as_str()));
    }

    // The workspace: its members and the fixture workspace's profiles.
    let fixture_workspace = read_toml(&fixtures_source_dir().join("Cargo.toml"))?;
    let mut workspace = Table::new();
    workspace.insert("resolver".into(), "2".into());
    workspace.insert("members".into(), Value::Array(members));
    let mut manifest = Table::new();
    manifest.insert("workspace".into(), Value::Table(workspace));
    if let Some(profile) = fixture_workspace.get("profile") {
        manifest.insert("profile".into(), profile.clone());
    }
    write_if_changed(&dir.join("Cargo.toml"), &generated_toml(&manifest)?)?;

    // Resolve as the main workspace did: same versions, nothing new to fetch.
    let lock = dir.join("Cargo.lock");
    let main_lock = workspace_root().join("Cargo.lock");
    if !lock.exists() && main_lock.is_file() {
        fs::copy(&main_lock, &lock).map_err(|e| format!("{}: {e}", lock.display()))?;
    }

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .arg("build")
        .arg("--workspace")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(root)
        // The outer build's target settings are not the fixtures'.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .status()
        .map_err(|e| format!("could not run {}: {e}", Path::new(&cargo).display()))?;
    if !status.success() {
        return Err(format!(
            "`cargo build` of fixture workspace {} failed ({status}); its output is above",
            dir.display()
        ));
    }
    Ok(())
}

/// Copies `spi-abi/` to `to`, with a standalone manifest at the variant's version and the
/// variant's patches applied.
fn copy_spi(variant: &Variant, to: &Path) -> Result<(), String> {
    let from = workspace_root().join("spi-abi");
    let mut files = Vec::new();
    list_files(&from, &from, &mut files)?;
    for relative in &files {
        if relative == Path::new("Cargo.toml") {
            continue;
        }
        let source = from.join(relative);
        let mut bytes = fs::read(&source).map_err(|e| format!("{}: {e}", source.display()))?;
        let patches = variant
            .patches
            .iter()
            .filter(|p| Path::new(p.file()) == relative);
        for patch in patches {
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("{} is not UTF-8", source.display()))?;
            bytes = patch.apply(&text)?.into_bytes();
        }
        write_if_changed(&to.join(relative), &bytes)?;
    }
    for patch in &variant.patches {
        if !files.iter().any(|f| f == Path::new(patch.file())) {
            return Err(format!(
                "the patch for spi-abi/{} no longer applies: the file is gone; update the \
                 variants in {}",
                patch.file(),
                file!()
            ));
        }
    }

    let mut manifest = read_toml(&from.join("Cargo.toml"))?;
    inline_workspace(&mut manifest, &workspace_root().join("Cargo.toml"), &from)?;
    let package = manifest
        .get_mut("package")
        .and_then(Value::as_table_mut)
        .ok_or("spi-abi/Cargo.toml has no [package]")?;
    package.insert("version".into(), variant.spi_version.as_str().into());
    // Metadata that names files the copy need not have.
    package.remove("readme");
    write_if_changed(&to.join("Cargo.toml"), &generated_toml(&manifest)?)
}

/// Every file under `dir`, relative to `base`, skipping build output.
fn list_files(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        let name = path.file_name().unwrap_or_default();
        if name == "target" || name == "Cargo.lock" {
            continue;
        }
        if path.is_dir() {
            list_files(base, &path, out)?;
        } else {
            out.push(path.strip_prefix(base).expect("under base").to_path_buf());
        }
    }
    Ok(())
}

/// The manifest of `member` in a variant: the committed one, renamed, standalone, on the
/// whisk-spi copy at `spi_dir`, with its targets at the committed sources.
fn member_manifest(member: &Member, spi_dir: &Path) -> Result<String, String> {
    let source = fixtures_source_dir().join(member.dir);
    let mut manifest = read_toml(&source.join("Cargo.toml"))?;
    inline_workspace(
        &mut manifest,
        &fixtures_source_dir().join("Cargo.toml"),
        &source,
    )?;
    manifest
        .get_mut("package")
        .and_then(Value::as_table_mut)
        .ok_or_else(|| format!("{}: no [package]", source.display()))?
        .insert("name".into(), member.package.as_str().into());

    if let Some(spi) = manifest
        .get_mut("dependencies")
        .and_then(Value::as_table_mut)
        .and_then(|deps| deps.get_mut("whisk-spi"))
    {
        let mut dependency = Table::new();
        dependency.insert("path".into(), path_value(spi_dir));
        *spi = Value::Table(dependency);
    }

    if !member.features.is_empty() {
        let features = manifest
            .entry("features")
            .or_insert_with(|| Value::Table(Table::new()))
            .as_table_mut()
            .ok_or("[features] is not a table")?;
        let default = member.features.iter().map(|f| Value::from(*f)).collect();
        features.insert("default".into(), Value::Array(default));
    }

    let lib = source.join("src/lib.rs");
    let main = source.join("src/main.rs");
    if lib.is_file() {
        let table = manifest
            .entry("lib")
            .or_insert_with(|| Value::Table(Table::new()))
            .as_table_mut()
            .ok_or("[lib] is not a table")?;
        table.insert("path".into(), path_value(&lib));
    } else if main.is_file() {
        let mut bin = Table::new();
        bin.insert("name".into(), member.package.as_str().into());
        bin.insert("path".into(), path_value(&main));
        manifest.insert("bin".into(), Value::Array(vec![Value::Table(bin)]));
    } else {
        return Err(format!(
            "{}: neither src/lib.rs nor src/main.rs",
            source.display()
        ));
    }
    generated_toml(&manifest)
}

/// Replaces `x.workspace = true` in `manifest` (of the crate in `crate_dir`) with the value
/// from the workspace at `workspace_manifest`, and makes relative dependency paths absolute.
fn inline_workspace(
    manifest: &mut Table,
    workspace_manifest: &Path,
    crate_dir: &Path,
) -> Result<(), String> {
    let workspace_dir = workspace_manifest
        .parent()
        .expect("a manifest has a folder");
    let root = read_toml(workspace_manifest)?;
    let workspace = root
        .get("workspace")
        .and_then(Value::as_table)
        .ok_or_else(|| format!("{}: no [workspace]", workspace_manifest.display()))?;
    let inherited = |value: &Value| {
        value
            .as_table()
            .and_then(|t| t.get("workspace"))
            .and_then(Value::as_bool)
            == Some(true)
    };

    if let Some(package) = manifest.get_mut("package").and_then(Value::as_table_mut) {
        for (key, value) in package.iter_mut() {
            if inherited(value) {
                *value = workspace
                    .get("package")
                    .and_then(|p| p.get(key))
                    .cloned()
                    .ok_or_else(|| {
                        format!(
                            "package.{key} is inherited, but not in [workspace.package] of {}",
                            workspace_manifest.display()
                        )
                    })?;
            }
        }
    }
    if manifest.get("lints").is_some_and(inherited) {
        match workspace.get("lints") {
            Some(lints) => manifest.insert("lints".into(), lints.clone()),
            None => manifest.remove("lints"),
        };
    }
    if manifest.contains_key("target") {
        return Err(format!(
            "{}: [target.*] sections are not supported by the fixture harness",
            crate_dir.display()
        ));
    }
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        let Some(deps) = manifest.get_mut(section).and_then(Value::as_table_mut) else {
            continue;
        };
        for (name, dep) in deps.iter_mut() {
            let Value::Table(local) = dep else {
                continue; // `name = "1.0"`: nothing to inline
            };
            if !inherited(&Value::Table(local.clone())) {
                absolute_path(local, crate_dir);
                continue;
            }
            let mut merged = match workspace.get("dependencies").and_then(|d| d.get(name)) {
                Some(Value::String(version)) => {
                    let mut t = Table::new();
                    t.insert("version".into(), version.as_str().into());
                    t
                }
                Some(Value::Table(t)) => t.clone(),
                _ => {
                    return Err(format!(
                        "{section}.{name} is inherited, but not in [workspace.dependencies] of {}",
                        workspace_manifest.display()
                    ))
                }
            };
            absolute_path(&mut merged, workspace_dir);
            for (key, value) in local.iter() {
                match key.as_str() {
                    "workspace" => {}
                    "features" => {
                        let all = merged
                            .entry("features")
                            .or_insert_with(|| Value::Array(vec![]));
                        if let (Value::Array(all), Value::Array(more)) = (all, value) {
                            all.extend(more.iter().cloned());
                        }
                    }
                    _ => {
                        merged.insert(key.clone(), value.clone());
                    }
                }
            }
            *dep = Value::Table(merged);
        }
    }
    Ok(())
}

fn absolute_path(dependency: &mut Table, base: &Path) {
    if let Some(Value::String(path)) = dependency.get("path") {
        let absolute = base.join(path);
        dependency.insert("path".into(), path_value(&absolute));
    }
}

fn path_value(path: &Path) -> Value {
    Value::String(path.to_string_lossy().into_owned())
}

fn read_toml(path: &Path) -> Result<Table, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn generated_toml(table: &Table) -> Result<String, String> {
    let body = toml::to_string(table).map_err(|e| e.to_string())?;
    Ok(format!(
        "# Generated by the test harness ({}); edits are overwritten.\n{body}",
        file!()
    ))
}

/// Writes `contents` unless the file already holds exactly that, so cargo sees unchanged
/// files as unchanged. Through a rename, so a concurrent reader never sees half a file
/// (and a library mapped from the old file keeps its pages).
pub fn write_if_changed(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), String> {
    let contents = contents.as_ref();
    if fs::read(path).ok().as_deref() == Some(contents) {
        return Ok(());
    }
    let dir = path.parent().expect("a file has a folder");
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&temporary, contents).map_err(|e| format!("{}: {e}", temporary.display()))?;
    fs::rename(&temporary, path).map_err(|e| format!("{}: {e}", path.display()))
}
