//! The `whisk` command: serve, check plugins, check configs.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use std::{path::PathBuf, process::ExitCode};
use whisk_host::{
    config::{Config, Source},
    plugin::{self, LoadError, SelectedPlugins},
};

#[derive(Parser)]
#[command(
    name = "whisk",
    version,
    about = "An OpenWhisk-compatible serverless host whose extension points are plugins"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct ConfigArg {
    /// The config file; without it, the embedded default (config/whisk.toml).
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Load the configured plugins and serve the REST API.
    Serve(ConfigArg),
    /// Inspect plugin files.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Validate a config: parse it and load and construct every plugin it selects.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Load each file through every check and report its metadata and compatibility with
    /// this host; exits 0 only when all are usable.
    Check {
        /// Print JSON (for CI).
        #[arg(long)]
        json: bool,
        /// Also print the checker's full report for a layout mismatch.
        #[arg(long)]
        verbose: bool,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// List the plugins a config selects and the plugin files in its search directories.
    List(ConfigArg),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Parse the config, load and construct every selected plugin.
    Check(ConfigArg),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    whisk_host::logging::init();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Plugin {
            command:
                PluginCommand::Check {
                    json,
                    verbose,
                    files,
                },
        } => Ok(plugin_check(&files, json, verbose)),
        Command::Plugin {
            command: PluginCommand::List(args),
        } => plugin_list(args),
        Command::Config {
            command: ConfigCommand::Check(args),
        } => config_check(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(args: &ConfigArg) -> Result<Config> {
    let source = Source::from_option(args.config.as_deref())?;
    Ok(Config::load(&source)?)
}

fn serve(args: ConfigArg) -> Result<ExitCode> {
    let config = load_config(&args)?;
    for unused in config.unused_plugin_tables() {
        tracing::warn!("[plugins.{unused}] is configured but no SPI selects `{unused}`");
    }
    let plugins = SelectedPlugins::load(&config)?;
    print_table(&config, &plugins);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(whisk_host::server::run(config, plugins))?;
    Ok(ExitCode::SUCCESS)
}

fn print_table(config: &Config, plugins: &SelectedPlugins) {
    let rows = plugins.table(config);
    let w_spi = rows.iter().map(|r| r.spi.len()).max().unwrap_or(3).max(3);
    let w_plugin = rows
        .iter()
        .map(|r| r.plugin.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let w_version = rows
        .iter()
        .map(|r| r.version.len())
        .max()
        .unwrap_or(7)
        .max(7);
    println!(
        "{:w_spi$}  {:w_plugin$}  {:w_version$}  FILE",
        "SPI", "PLUGIN", "VERSION"
    );
    for r in &rows {
        println!(
            "{:w_spi$}  {:w_plugin$}  {:w_version$}  {}",
            r.spi,
            r.plugin,
            r.version,
            r.file.display()
        );
    }
    let each: Vec<String> = plugins
        .loaded
        .iter()
        .map(|p| {
            format!(
                "{} {:.2} ms",
                p.metadata.name,
                p.load_time.as_secs_f64() * 1e3
            )
        })
        .collect();
    println!(
        "loaded {} plugins in {:.2} ms ({})",
        plugins.loaded.len(),
        plugins.load_time.as_secs_f64() * 1e3,
        each.join(", ")
    );
}

fn error_json(e: &LoadError) -> serde_json::Value {
    serde_json::json!({
        "check": e.check.as_str(),
        "message": e.message,
        "expected": e.expected,
        "found": e.found,
        "hint": e.hint,
    })
}

fn plugin_check(files: &[PathBuf], json: bool, verbose: bool) -> ExitCode {
    let results: Vec<(PathBuf, Result<plugin::LoadedPlugin, LoadError>)> =
        files.iter().map(|f| (f.clone(), plugin::load(f))).collect();
    let usable = results.iter().all(|(_, r)| r.is_ok());
    if json {
        let plugins: Vec<serde_json::Value> = results
            .iter()
            .map(|(file, r)| match r {
                Ok(p) => serde_json::json!({
                    "file": file, "usable": true, "metadata": p.metadata,
                    "load_ms": p.load_time.as_secs_f64() * 1e3, "error": null,
                }),
                Err(e) => serde_json::json!({
                    "file": file, "usable": false, "metadata": null, "load_ms": null,
                    "error": error_json(e),
                }),
            })
            .collect();
        let doc = serde_json::json!({
            "host_spi_version": whisk_spi::SPI_VERSION,
            "usable": usable,
            "plugins": plugins,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("JSON of plain values")
        );
    } else {
        for (file, r) in &results {
            match r {
                Ok(p) => {
                    let m = &p.metadata;
                    let kinds: Vec<String> = m.kinds.iter().map(|k| k.to_string()).collect();
                    println!("{}: ok", file.display());
                    println!("  plugin    {} {}  {}", m.name, m.version, m.description);
                    println!("  provides  {}", kinds.join(", "));
                    println!(
                        "  built     against whisk-spi {} with {}; this host implements whisk-spi {}",
                        m.spi_version,
                        m.rustc_version,
                        whisk_spi::SPI_VERSION
                    );
                    println!("  loaded in {:.2} ms", p.load_time.as_secs_f64() * 1e3);
                }
                Err(e) => {
                    println!("{}: FAILED", file.display());
                    println!("  {e}");
                    if verbose {
                        if let Some(detail) = &e.detail {
                            println!("  full report:\n{detail}");
                        }
                    }
                }
            }
        }
    }
    if usable {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn plugin_list(args: ConfigArg) -> Result<ExitCode> {
    let config = load_config(&args)?;
    let spi = &config.spi;
    let mut serves: Vec<(String, String)> = vec![
        (spi.load_balancer.clone(), "load balancer".into()),
        (spi.container_factory.clone(), "container factory".into()),
        (spi.log_store.clone(), "log store".into()),
    ];
    for (i, a) in spi.authentication.iter().enumerate() {
        serves.push((a.clone(), format!("authentication #{}", i + 1)));
    }
    let mut ok = true;
    println!("selected:");
    for name in config.selected_plugins() {
        let roles: Vec<&str> = serves
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, r)| r.as_str())
            .collect();
        let path = plugin::resolve(&config, name);
        match plugin::load(&path) {
            Ok(p) => println!(
                "  {name} {}  serves: {}  file: {}",
                p.metadata.version,
                roles.join(", "),
                path.display()
            ),
            Err(e) => {
                ok = false;
                println!("  {name}  serves: {}  UNUSABLE: {e}", roles.join(", "));
            }
        }
    }
    println!("plugin files in the search directories:");
    for dir in plugin::search_dirs(&config) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with("lib") && (n.ends_with(".so") || n.ends_with(".dylib"))
                })
            })
            .collect();
        files.sort();
        for file in files {
            match plugin::load(&file) {
                Ok(p) => {
                    let kinds: Vec<String> =
                        p.metadata.kinds.iter().map(|k| k.to_string()).collect();
                    println!(
                        "  {}  {} {}  provides: {}",
                        file.display(),
                        p.metadata.name,
                        p.metadata.version,
                        kinds.join(", ")
                    );
                }
                Err(e) => println!(
                    "  {}  not usable: {} check: {}",
                    file.display(),
                    e.check,
                    e.message
                ),
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn config_check(args: ConfigArg) -> Result<ExitCode> {
    let config = load_config(&args)?;
    for unused in config.unused_plugin_tables() {
        println!("warning: [plugins.{unused}] is configured but no SPI selects `{unused}`");
    }
    let plugins = SelectedPlugins::load(&config)?;
    print_table(&config, &plugins);
    println!("config ok");
    Ok(ExitCode::SUCCESS)
}
