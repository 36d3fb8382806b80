//! Capabilities added after 1.0, looked up by name.
//!
//! The 1.0 root module and SPI traits are frozen, so a minor release adds a capability as a
//! type of its own (an [`Extension`]) that a plugin hands out from
//! [`crate::Plugin::extension`]. The host asks for it by name; a plugin that predates it
//! answers "not provided" and the host falls back. Its layout is checked when the host
//! first asks, with the same checker abi_stable uses for root modules, so a mismatch is an
//! error value, never undefined behaviour. Once released, an extension type is frozen too:
//! a changed capability is a new extension with a new name.

use abi_stable::{
    abi_stability::abi_checking::check_layout_compatibility,
    std_types::{ROption, RStr},
    type_layout::TypeLayout,
    StableAbi,
};
use std::fmt;

/// A capability a plugin may provide beyond the 1.0 SPIs.
///
/// # Safety
/// `NAME` must be unique to this type (conventionally `crate.capability.vN`), and values
/// handed out must live for the rest of the process (`&'static`).
pub unsafe trait Extension: StableAbi + Sync + 'static {
    const NAME: &'static str;
}

/// An extension as it crosses the boundary: its name, its layout and where it lives.
#[repr(C)]
#[derive(StableAbi, Copy, Clone)]
pub struct ExtensionRef {
    pub name: RStr<'static>,
    pub layout: &'static TypeLayout,
    pub value: *const (),
}

// SAFETY: `value` points to a `&'static E` with `E: Sync` (see `ExtensionRef::new`).
unsafe impl Send for ExtensionRef {}
unsafe impl Sync for ExtensionRef {}

impl ExtensionRef {
    /// Plugin side: hand out `value` as extension `E`.
    pub fn new<E: Extension>(value: &'static E) -> Self {
        Self {
            name: RStr::from_str(E::NAME),
            layout: E::LAYOUT,
            value: value as *const E as *const (),
        }
    }
}

/// Why an extension could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionError {
    /// The plugin answered with a value of another name.
    WrongName { expected: String, found: String },
    /// The plugin's type differs from the host's (summary of the layout checker's findings).
    Layout { extension: String, detail: String },
}

impl fmt::Display for ExtensionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongName { expected, found } => {
                write!(
                    f,
                    "asked for extension `{expected}`, the plugin answered `{found}`"
                )
            }
            Self::Layout { extension, detail } => write!(
                f,
                "extension `{extension}` has an incompatible layout: {detail}; rebuild the \
                 plugin against a whisk-spi that has the same version of this extension"
            ),
        }
    }
}

impl std::error::Error for ExtensionError {}

/// Host side: the answer of a plugin's `extension` entry, checked against `E`.
/// `Ok(None)`: not provided.
pub fn resolve<E: Extension>(
    answer: ROption<ExtensionRef>,
) -> Result<Option<&'static E>, ExtensionError> {
    let Some(found) = answer.into_option() else {
        return Ok(None);
    };
    if found.name.as_str() != E::NAME {
        return Err(ExtensionError::WrongName {
            expected: E::NAME.into(),
            found: found.name.to_string(),
        });
    }
    check_layout_compatibility(E::LAYOUT, found.layout).map_err(|errors| {
        ExtensionError::Layout {
            extension: E::NAME.into(),
            detail: crate::layout::summarize(&errors),
        }
    })?;
    // SAFETY: the layout checker just confirmed the plugin's type has E's layout, and
    // `ExtensionRef::new` only stores pointers to `&'static E` values.
    Ok(Some(unsafe { &*(found.value as *const E) }))
}
