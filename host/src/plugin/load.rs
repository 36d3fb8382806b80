//! Loading one plugin file: every check in order, each with its own error.
//!
//! Several plugins load side by side: each file is opened with its own `RawLibrary` and
//! its own `LibHeader` (never `RootModule::load_from_*`, which caches one library per
//! root-module type, DESIGN.md decision 1). Libraries are never unloaded: trait objects and
//! `'static` data handed out by a plugin point into it for the rest of the process.

use super::{error::Check, LoadError, LoadedPlugin, Metadata};
use abi_stable::{
    abi_stability::abi_checking::check_layout_compatibility,
    library::{abi_header_from_raw_library, LibraryError, RawLibrary, RootModule},
    sabi_types::VersionNumber,
    StableAbi,
};
use std::{fs::File, io::Read, path::Path, time::Instant};
use whisk_spi::abi::PluginModRef;

const REBUILD: &str = "rebuild the plugin against whisk-spi 1.x with `cargo build --release`";

/// The plugin name a file name suggests (`libfoo_bar.so` → `foo-bar`), for messages
/// before the plugin's own metadata can be read.
fn name_from_file(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    let stem = file.strip_prefix("lib")?;
    let stem = stem
        .strip_suffix(".so")
        .or_else(|| stem.strip_suffix(".dylib"))?;
    Some(stem.replace('_', "-"))
}

/// Runs every check on `path` and, when all pass, hands back the plugin.
pub fn load(path: &Path) -> Result<LoadedPlugin, LoadError> {
    let started = Instant::now();
    let guessed = name_from_file(path);
    let err = |check: Check, message: String| {
        let e = LoadError::new(check, path, message);
        match &guessed {
            Some(name) => e.plugin(name.clone()),
            None => e,
        }
    };

    // 1. The file exists and is readable.
    let mut magic = [0u8; 4];
    let read = File::open(path).and_then(|mut f| {
        let meta = f.metadata()?;
        if !meta.is_file() {
            return Err(std::io::Error::other("it is not a regular file"));
        }
        f.read(&mut magic)
    });
    let n = read.map_err(|e| {
        err(Check::File, e.to_string()).hint(
            "check the path, or the plugin's entry in [loader] paths/dirs; \
             plugins are built with `cargo build`",
        )
    })?;

    // 2. A shared object the dynamic linker accepts.
    let expected_magic = if cfg!(target_os = "macos") {
        "Mach-O magic (cf fa ed fe)"
    } else {
        "ELF magic (7f 45 4c 46)"
    };
    let is_object = n == 4 && (magic == *b"\x7fELF" || magic == [0xcf, 0xfa, 0xed, 0xfe]);
    if !is_object {
        return Err(err(
            Check::SharedObject,
            "the file does not start like a shared object".into(),
        )
        .expected_found(
            expected_magic,
            format!(
                "the bytes {}",
                magic[..n]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        )
        .hint(
            "point the config at the plugin's .so file built by cargo, not a source or text file",
        ));
    }
    if magic == *b"\x7fELF" {
        super::elf::check(path).map_err(|(problem, expected, found)| {
            let e = err(Check::SharedObject, problem);
            let e = if expected.is_empty() {
                e
            } else {
                e.expected_found(expected, found)
            };
            e.hint("rebuild the plugin for this machine, or copy the whole file again")
        })?;
    }
    let raw =
        RawLibrary::load_at(path).map_err(|e| {
            let message = match e {
                LibraryError::OpenError { err, .. } => err.to_string(),
                other => other.to_string(),
            };
            err(Check::SharedObject, format!("the dynamic linker refused it: {message}")).hint(
            "the file may be truncated or built for another platform; rebuild it for this machine",
        )
        })?;

    // 3. It exports the whisk root module.
    // SAFETY: the header is read from the library, which is never unloaded (`forget` below,
    // on every path from here), so the `'static` references it holds stay valid.
    let abi_header = unsafe { abi_header_from_raw_library(&raw) };
    std::mem::forget(raw);
    let abi_header = abi_header.map_err(|_| {
        err(
            Check::RootModule,
            format!(
                "it has no whisk root module (symbol `{}`)",
                whisk_spi::abi::ROOT_MODULE_SYMBOL
            ),
        )
        .hint(
            "a whisk plugin exports its root module with `whisk_spi::export_plugin!(YourPlugin);`",
        )
    })?;

    // 4. Built with a compatible abi_stable.
    let header = abi_header.upgrade().map_err(|e| {
        err(Check::AbiHeader, e.to_string()).hint(format!(
            "rebuild the plugin with abi_stable {} (the version whisk-spi {} uses)",
            "0.11",
            whisk_spi::SPI_VERSION
        ))
    })?;

    // 5. A compatible whisk-spi version.
    let host_version = VersionNumber::new(PluginModRef::VERSION_STRINGS)
        .expect("the host's own version string parses");
    let strings = header.version_strings();
    let plugin_version = VersionNumber::new(strings).map_err(|e| {
        err(
            Check::SpiVersion,
            format!("its whisk-spi version does not parse: {e}"),
        )
        .hint(REBUILD)
    })?;
    let compatible = plugin_version.major == host_version.major
        && (host_version.major != 0 || plugin_version.minor == host_version.minor);
    if !compatible {
        return Err(err(
            Check::SpiVersion,
            format!(
                "it was built against whisk-spi {plugin_version}; this host implements whisk-spi \
                 {host_version} and loads plugins built against {}.x",
                host_version.major
            ),
        )
        .expected_found(
            format!("whisk-spi {}.x", host_version.major),
            format!("whisk-spi {plugin_version}"),
        )
        .hint(format!(
            "rebuild the plugin against whisk-spi {}.x, or run a host that implements {}.x",
            host_version.major, plugin_version.major
        )));
    }

    // 6. Layout of everything the host and the plugin share.
    let found_layout = header.layout().ok_or_else(|| {
        err(
            Check::Layout,
            "it does not record its interface layout".into(),
        )
        .hint("export it with `whisk_spi::export_plugin!`, which records the layout")
    })?;
    if let Err(errors) =
        check_layout_compatibility(<PluginModRef as StableAbi>::LAYOUT, found_layout)
    {
        return Err(err(Check::Layout, whisk_spi::layout::summarize(&errors))
            .expected_found(
                format!("the layout of whisk-spi {host_version}"),
                format!("a different layout under whisk-spi {plugin_version}"),
            )
            .hint(format!(
                "the plugin was built against a modified or mismatched copy of whisk-spi; {REBUILD} \
                 (run with --verbose for the full layout report)"
            ))
            .detail(errors.to_string()));
    }
    // SAFETY: the layout was checked just above with abi_stable's own checker (the same
    // global checker `init_root_module` would use), so skipping its second check is sound.
    let module = unsafe { header.init_root_module_with_unchecked_layout::<PluginModRef>() }
        .map_err(|e| {
            err(
                Check::RootModule,
                format!("its root module could not be built: {e}"),
            )
            .hint("the plugin's root module constructor failed; report it to its authors")
        })?;

    let m = (module.metadata())();
    let metadata = Metadata {
        name: m.name.into(),
        version: m.version.into(),
        description: m.description.into(),
        kinds: m.kinds.into_iter().collect(),
        spi_version: m.spi_version.into(),
        rustc_version: m.rustc_version.into(),
    };
    super::log_sink::attach(module, &metadata.name);
    Ok(LoadedPlugin {
        path: path.to_path_buf(),
        metadata,
        load_time: started.elapsed(),
        module,
    })
}
