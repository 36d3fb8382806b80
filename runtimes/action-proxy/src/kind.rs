//! Which runtime an action needs, and its code as bytes.

use base64::Engine;

use crate::protocol::{InitValue, ProxyError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `nodejs:*`: a long-lived `node` running `launchers/launcher.js`.
    Node,
    /// `python:*`: a long-lived `python3` running `launchers/launcher.py`.
    Python,
    /// `native`, `blackbox`: an executable run once per activation.
    Native,
}

impl Kind {
    /// The kind the host declared (`__OW_KIND`), else what the code looks like: a script
    /// starting with `#!` or an ELF executable is native. Anything else needs a declared kind.
    pub fn select(declared: Option<&str>, code: &[u8]) -> Result<Kind, ProxyError> {
        match declared.map(str::trim).filter(|k| !k.is_empty()) {
            Some(kind) => {
                let family = kind.split(':').next().unwrap_or(kind);
                match family {
                    "nodejs" | "node" => Ok(Kind::Node),
                    "python" | "python3" => Ok(Kind::Python),
                    "native" | "blackbox" => Ok(Kind::Native),
                    _ => Err(ProxyError::InitFailed(format!(
                        "Unsupported action kind '{kind}': this runtime runs nodejs:*, python:*, \
                         native and blackbox actions."
                    ))),
                }
            }
            None if is_executable(code) => Ok(Kind::Native),
            None => Err(ProxyError::InitFailed(
                "Cannot tell the action's kind: set __OW_KIND (nodejs:20, python:3, native) or \
                 send an executable or a script starting with #!."
                    .to_string(),
            )),
        }
    }
}

/// Whether `code` can be exec'd as it is: a script with an interpreter line, or ELF.
pub fn is_executable(code: &[u8]) -> bool {
    code.starts_with(b"#!") || code.starts_with(b"\x7fELF")
}

/// The action's code: base64-decoded when `binary` is set. Zip archives are refused with a
/// clear message (not supported yet).
pub fn action_code(value: &InitValue) -> Result<Vec<u8>, ProxyError> {
    let code = value.code.as_deref().unwrap_or("");
    if code.is_empty() {
        return Err(ProxyError::InitFailed(
            "The action has no code.".to_string(),
        ));
    }
    if !value.binary {
        return Ok(code.as_bytes().to_vec());
    }
    let compact: String = code.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| {
            ProxyError::InitFailed(format!("The binary action code is not base64: {e}"))
        })?;
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(ProxyError::InitFailed(
            "Zip archives are not supported by this runtime yet: send a single script or \
             executable."
                .to_string(),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn declared_kind_wins_and_versions_are_ignored() {
        assert_eq!(
            Kind::select(Some("nodejs:20"), b"#!/bin/sh").unwrap(),
            Kind::Node
        );
        assert_eq!(
            Kind::select(Some("nodejs:default"), b"").unwrap(),
            Kind::Node
        );
        assert_eq!(Kind::select(Some("python:3"), b"").unwrap(), Kind::Python);
        assert_eq!(Kind::select(Some("blackbox"), b"x").unwrap(), Kind::Native);
        assert!(Kind::select(Some("java:8"), b"").is_err());
    }

    #[test]
    fn undeclared_kind_is_native_only_for_executables() {
        assert_eq!(Kind::select(None, b"#!/bin/sh\n").unwrap(), Kind::Native);
        assert_eq!(
            Kind::select(Some(""), b"\x7fELF\x02").unwrap(),
            Kind::Native
        );
        assert!(Kind::select(None, b"function main() {}").is_err());
    }

    #[test]
    fn binary_code_is_base64_and_zip_is_refused() {
        let value: InitValue =
            serde_json::from_value(json!({"code": "IyEvYmluL3No\nCg==", "binary": true})).unwrap();
        assert_eq!(action_code(&value).unwrap(), b"#!/bin/sh\n");
        let value: InitValue =
            serde_json::from_value(json!({"code": "UEsDBAo=", "binary": true})).unwrap();
        assert!(action_code(&value).unwrap_err().to_string().contains("Zip"));
        let value: InitValue =
            serde_json::from_value(json!({"code": "%%", "binary": true})).unwrap();
        assert!(action_code(&value).is_err());
    }
}
