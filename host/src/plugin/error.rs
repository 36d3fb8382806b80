//! What went wrong when a plugin could not be used, in the manner of PostgreSQL's
//! "incompatible library" messages: the file, the plugin, the check that failed, expected
//! versus found, and what to do about it.

use std::{fmt, path::PathBuf};

/// The checks a plugin file goes through, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// The file exists and is readable.
    File,
    /// It is a shared object the dynamic linker can load.
    SharedObject,
    /// It exports the whisk root module.
    RootModule,
    /// It was built with a compatible abi_stable.
    AbiHeader,
    /// Its whisk-spi version is compatible with the host's.
    SpiVersion,
    /// The layout of every type it shares with the host matches.
    Layout,
    /// It provides the SPI kind it was selected for.
    Kind,
    /// Its constructor accepted the config.
    Constructor,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::File => "file",
            Check::SharedObject => "shared-object",
            Check::RootModule => "root-module",
            Check::AbiHeader => "abi-header",
            Check::SpiVersion => "spi-version",
            Check::Layout => "layout",
            Check::Kind => "kind",
            Check::Constructor => "constructor",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Check::File => "cannot read the file",
            Check::SharedObject => "not a loadable shared object",
            Check::RootModule => "not a whisk plugin",
            Check::AbiHeader => "incompatible abi_stable",
            Check::SpiVersion => "incompatible whisk-spi version",
            Check::Layout => "incompatible interface layout",
            Check::Kind => "does not provide the selected SPI",
            Check::Constructor => "rejected its configuration",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plugin file that cannot be used.
#[derive(Debug, Clone)]
pub struct LoadError {
    pub check: Check,
    pub file: PathBuf,
    /// The plugin's name, when known (from its metadata, or its file name).
    pub plugin: Option<String>,
    pub message: String,
    pub expected: Option<String>,
    pub found: Option<String>,
    pub hint: String,
    /// The checker's full report (abi_stable's layout dump), shown only when asked for.
    pub detail: Option<String>,
}

impl LoadError {
    pub(crate) fn new(check: Check, file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            check,
            file: file.into(),
            plugin: None,
            message: message.into(),
            expected: None,
            found: None,
            hint: String::new(),
            detail: None,
        }
    }
    pub(crate) fn plugin(mut self, name: impl Into<String>) -> Self {
        self.plugin = Some(name.into());
        self
    }
    pub(crate) fn expected_found(
        mut self,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        self.expected = Some(expected.into());
        self.found = Some(found.into());
        self
    }
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = hint.into();
        self
    }
    pub(crate) fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plugin file \"{}\"", self.file.display())?;
        if let Some(plugin) = &self.plugin {
            write!(f, " (plugin `{plugin}`)")?;
        }
        write!(
            f,
            ": {} [{} check]: {}",
            self.check.describe(),
            self.check,
            self.message
        )?;
        if let (Some(expected), Some(found)) = (&self.expected, &self.found) {
            write!(f, "; expected {expected}, found {found}")?;
        }
        if !self.hint.is_empty() {
            write!(f, "\n  hint: {}", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}
