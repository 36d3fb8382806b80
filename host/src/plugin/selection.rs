//! From the config's `[spi]` selection to loaded plugin objects.

use super::{
    load, Authenticator, ContainerFactory, LoadBalancer, LoadError, LoadedPlugin, LogStore,
};
use crate::config::Config;
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// The file name of plugin `name` on this platform: `roundrobin-lb` → `libroundrobin_lb.so`.
pub fn plugin_file_name(name: &str) -> String {
    let ext = if cfg!(target_os = "macos") {
        "dylib"
    } else {
        "so"
    };
    format!("lib{}.{ext}", name.replace('-', "_"))
}

/// Directories searched for plugin files: the configured ones, or by default the
/// directory of the `whisk` binary, then `/opt/whisk/plugins`.
pub fn search_dirs(config: &Config) -> Vec<PathBuf> {
    if !config.loader.dirs.is_empty() {
        return config.loader.dirs.clone();
    }
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    dirs.push(PathBuf::from("/opt/whisk/plugins"));
    dirs
}

/// The file for plugin `name`: its explicit `[loader] paths` entry, else the first
/// search directory holding its file, else (for the error) the first candidate.
pub fn resolve(config: &Config, name: &str) -> PathBuf {
    if let Some(path) = config.loader.paths.get(name) {
        return path.clone();
    }
    let file = plugin_file_name(name);
    let dirs = search_dirs(config);
    dirs.iter()
        .map(|d| d.join(&file))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            dirs.first()
                .map_or_else(|| PathBuf::from(&file), |d| d.join(&file))
        })
}

/// One line of the startup table: which plugin serves which SPI.
#[derive(Debug, Clone)]
pub struct SpiRow {
    pub spi: String,
    pub plugin: String,
    pub version: String,
    pub file: PathBuf,
}

/// Every plugin object the config selects, built and ready.
pub struct SelectedPlugins {
    pub load_balancer: LoadBalancer,
    pub container_factory: ContainerFactory,
    pub log_store: LogStore,
    /// In the configured order.
    pub authenticators: Vec<Authenticator>,
    pub loaded: Vec<LoadedPlugin>,
    /// Loading all files, checks included (constructors not counted).
    pub load_time: Duration,
}

impl SelectedPlugins {
    /// Loads each selected plugin file once (one plugin may serve several SPIs) and
    /// builds the selected objects with each plugin's config table.
    pub fn load(config: &Config) -> Result<Self, LoadError> {
        let started = Instant::now();
        let mut loaded: Vec<LoadedPlugin> = Vec::new();
        for name in config.selected_plugins() {
            let path = resolve(config, name);
            let plugin = load(&path).map_err(|mut e| {
                if e.check == super::Check::File && !config.loader.paths.contains_key(name) {
                    let dirs: Vec<String> = search_dirs(config)
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect();
                    e.hint = format!(
                        "looked for {} in: {}; build the plugins with `cargo build --workspace`, \
                         or set [loader] dirs or [loader.paths] {name} = \"/path/to/file\"",
                        plugin_file_name(name),
                        dirs.join(", ")
                    );
                }
                e
            })?;
            if plugin.metadata.name != name {
                return Err(LoadError::new(
                    super::Check::RootModule,
                    &path,
                    format!(
                        "the file was selected as `{name}` but says it is `{}`",
                        plugin.metadata.name
                    ),
                )
                .plugin(plugin.metadata.name.clone())
                .expected_found(
                    format!("plugin `{name}`"),
                    format!("plugin `{}`", plugin.metadata.name),
                )
                .hint("check [loader.paths] in the config"));
            }
            loaded.push(plugin);
        }
        let load_time = started.elapsed();
        let get = |name: &str| {
            loaded
                .iter()
                .find(|p| p.metadata.name == name)
                .expect("loaded above")
        };
        let spi = &config.spi;
        let load_balancer =
            get(&spi.load_balancer).load_balancer(&config.plugin_table(&spi.load_balancer))?;
        let container_factory = get(&spi.container_factory)
            .container_factory(&config.plugin_table(&spi.container_factory))?;
        let log_store = get(&spi.log_store).log_store(&config.plugin_table(&spi.log_store))?;
        let authenticators = spi
            .authentication
            .iter()
            .map(|name| get(name).authenticator(&config.plugin_table(name)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            load_balancer,
            container_factory,
            log_store,
            authenticators,
            loaded,
            load_time,
        })
    }

    /// SPI → plugin, version, file: what `whisk serve` prints at startup.
    pub fn table(&self, config: &Config) -> Vec<SpiRow> {
        let row = |spi: String, name: &str| {
            let plugin = self
                .loaded
                .iter()
                .find(|p| p.metadata.name == name)
                .expect("loaded");
            SpiRow {
                spi,
                plugin: name.to_string(),
                version: plugin.metadata.version.clone(),
                file: plugin.path.clone(),
            }
        };
        let spi = &config.spi;
        let mut rows = vec![
            row("load balancer".into(), &spi.load_balancer),
            row("container factory".into(), &spi.container_factory),
            row("log store".into(), &spi.log_store),
        ];
        for (i, name) in spi.authentication.iter().enumerate() {
            rows.push(row(format!("authentication #{}", i + 1), name));
        }
        rows
    }
}
