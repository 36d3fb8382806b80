//! The credentials file: a TOML array of `[[credential]]` tables, read with positions so
//! that every error names the file, the line and column, and the key at fault.

use crate::key_hash::KeyHash;
use serde::{Deserialize, Serialize};
use std::{
    collections::HashMap,
    fmt,
    path::{Path, PathBuf},
};
use toml::Spanned;

/// The rights OpenWhisk knows (`Privilege`).
pub const RIGHTS: [&str; 5] = ["READ", "PUT", "DELETE", "ACTIVATE", "REJECT"];
/// The rights of an entry that lists none: everything but `REJECT`, as a new OpenWhisk
/// subject gets.
pub const DEFAULT_RIGHTS: [&str; 4] = ["READ", "PUT", "DELETE", "ACTIVATE"];

/// One `uuid:key` pair and whom it identifies.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub namespace: String,
    pub subject: String,
    pub uuid: String,
    pub key_hash: KeyHash,
    pub rights: Vec<String>,
}

/// A credentials file that cannot be used, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsError {
    pub file: PathBuf,
    /// 1-based line and column, when the problem has a place in the file.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => {
                write!(f, "{}:{line}:{col}: {}", self.file.display(), self.message)
            }
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for CredentialsError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    credential: Vec<RawCredential>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredential {
    namespace: Spanned<String>,
    subject: Option<Spanned<String>>,
    uuid: Spanned<String>,
    key_hash: Spanned<String>,
    rights: Option<Vec<Spanned<String>>>,
}

/// Reads and checks the file at `path`.
pub fn load(path: &Path) -> Result<Vec<Credential>, CredentialsError> {
    let text = std::fs::read_to_string(path).map_err(|e| CredentialsError {
        file: path.to_path_buf(),
        position: None,
        message: format!("cannot read the credentials file: {e}"),
    })?;
    parse(&text, path)
}

/// Checks `text`, the contents of `file`: the TOML, every value, and that no uuid appears
/// twice (a uuid picks the one credential a request is checked against).
pub fn parse(text: &str, file: &Path) -> Result<Vec<Credential>, CredentialsError> {
    let error_at = |offset: usize, message: String| CredentialsError {
        file: file.to_path_buf(),
        position: Some(line_col(text, offset)),
        message,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let mut message = e.message().trim_end().to_string();
        if let Some(key) = key_on_line(text, offset) {
            if !message.contains(&format!("`{key}`")) {
                message = format!("`{key}`: {message}");
            }
        }
        error_at(offset, message)
    })?;

    let mut credentials = Vec::with_capacity(raw.credential.len());
    let mut first_line_of_uuid: HashMap<String, usize> = HashMap::new();
    for (index, entry) in raw.credential.into_iter().enumerate() {
        let number = index + 1;
        let bad = |key: &str, value_offset: usize, problem: &str| {
            error_at(
                value_offset,
                format!("`{key}` of credential #{number}: {problem}"),
            )
        };
        let non_empty = |key: &str, value: &Spanned<String>| {
            if value.get_ref().trim().is_empty() {
                Err(bad(key, value.span().start, "must not be empty"))
            } else {
                Ok(value.get_ref().clone())
            }
        };

        let namespace = non_empty("namespace", &entry.namespace)?;
        if namespace.contains('/') {
            return Err(bad(
                "namespace",
                entry.namespace.span().start,
                "a namespace name cannot contain `/`",
            ));
        }
        let subject = match &entry.subject {
            Some(subject) => non_empty("subject", subject)?,
            None => namespace.clone(),
        };
        let uuid = non_empty("uuid", &entry.uuid)?;
        if uuid.contains(':') || uuid.chars().any(char::is_whitespace) {
            return Err(bad(
                "uuid",
                entry.uuid.span().start,
                "cannot contain `:` or white space (clients send `uuid:key`)",
            ));
        }
        let key_hash = KeyHash::parse(entry.key_hash.get_ref())
            .map_err(|problem| bad("key_hash", entry.key_hash.span().start, &problem))?;
        let rights = match entry.rights {
            None => DEFAULT_RIGHTS.iter().map(|r| r.to_string()).collect(),
            Some(rights) => {
                let mut checked = Vec::with_capacity(rights.len());
                for right in rights {
                    if !RIGHTS.contains(&right.get_ref().as_str()) {
                        return Err(bad(
                            "rights",
                            right.span().start,
                            &format!(
                                "unknown right `{}`, expected one of {}",
                                right.get_ref(),
                                RIGHTS.join(", ")
                            ),
                        ));
                    }
                    checked.push(right.into_inner());
                }
                checked
            }
        };

        let uuid_offset = entry.uuid.span().start;
        if let Some(first) = first_line_of_uuid.get(&uuid) {
            return Err(bad(
                "uuid",
                uuid_offset,
                &format!("duplicate uuid `{uuid}`, already used at line {first}"),
            ));
        }
        first_line_of_uuid.insert(uuid.clone(), line_col(text, uuid_offset).0);

        credentials.push(Credential {
            namespace,
            subject,
            uuid,
            key_hash,
            rights,
        });
    }
    Ok(credentials)
}

#[derive(Serialize)]
struct NewFile<'a> {
    credential: [NewCredential<'a>; 1],
}

#[derive(Serialize)]
struct NewCredential<'a> {
    namespace: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    uuid: &'a str,
    key_hash: String,
}

/// One `[[credential]]` table in this file's format, to be appended to a file.
pub fn entry_text(
    namespace: &str,
    subject: Option<&str>,
    uuid: &str,
    key_hash: &KeyHash,
) -> String {
    toml::to_string(&NewFile {
        credential: [NewCredential {
            namespace,
            subject,
            uuid,
            key_hash: key_hash.to_string(),
        }],
    })
    .expect("a table of strings serializes")
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

/// The key of the `key = value` line holding `offset` (or the name of the `[table]` header
/// on it): toml's errors point at a value but do not always say whose.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let end = text
        .get(offset..)?
        .find('\n')
        .map_or(text.len(), |i| offset + i);
    let line = text.get(start..end)?.trim();
    let key = if line.starts_with('[') {
        line.trim_start_matches('[').split(']').next()?
    } else {
        text.get(start..offset)?.split_once('=')?.0
    };
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && !key.starts_with('#')).then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str =
        "sha256:0102:bf0e4665c55d7d245e3678ba4ac7c8692ab26a4e6ccf854425757a4893351544";

    fn parse_str(text: &str) -> Result<Vec<Credential>, CredentialsError> {
        parse(text, Path::new("creds.toml"))
    }

    fn entry(uuid: &str) -> String {
        format!("[[credential]]\nnamespace = \"guest\"\nuuid = \"{uuid}\"\nkey_hash = \"{HASH}\"\n")
    }

    #[test]
    fn defaults_subject_and_rights() {
        let creds = parse_str(&entry("u1")).unwrap();
        assert_eq!(creds.len(), 1);
        assert_eq!(creds[0].subject, "guest");
        assert_eq!(creds[0].rights, DEFAULT_RIGHTS);
        assert!(creds[0].key_hash.matches(b"abc"));
    }

    #[test]
    fn a_syntax_error_names_file_line_and_column() {
        let err = parse_str("[[credential]]\nnamespace = \"guest\nuuid = \"u\"\n").unwrap_err();
        assert_eq!(err.file, Path::new("creds.toml"));
        let (line, _) = err.position.expect("a position");
        assert_eq!(line, 2, "{err}");
        assert!(err.to_string().starts_with("creds.toml:2:"), "{err}");
    }

    #[test]
    fn a_wrong_type_names_the_key() {
        let text = entry("u1").replace("namespace = \"guest\"", "namespace = 42");
        let err = parse_str(&text).unwrap_err();
        assert_eq!(err.position, Some((2, 13)), "{err}");
        assert!(err.message.contains("`namespace`"), "{err}");
    }

    #[test]
    fn unknown_and_missing_keys_are_named() {
        let err = parse_str(&format!("{}colour = \"red\"\n", entry("u1"))).unwrap_err();
        assert!(err.message.contains("colour"), "{err}");
        assert!(err.position.is_some(), "{err}");
        let err = parse_str("[[credential]]\nnamespace = \"guest\"\nuuid = \"u\"\n").unwrap_err();
        assert!(err.message.contains("key_hash"), "{err}");
    }

    #[test]
    fn a_bad_key_hash_names_key_entry_and_position() {
        let text = format!("{}{}", entry("u1"), entry("u2").replace(HASH, "sha256:xyz"));
        let err = parse_str(&text).unwrap_err();
        assert_eq!(err.position, Some((8, 12)), "{err}");
        assert!(err.message.contains("`key_hash` of credential #2"), "{err}");
    }

    #[test]
    fn duplicate_uuids_are_refused() {
        let text = format!("{}\n{}", entry("same"), entry("same"));
        let err = parse_str(&text).unwrap_err();
        assert_eq!(err.position, Some((8, 8)), "{err}");
        assert!(err.message.contains("duplicate uuid `same`"), "{err}");
        assert!(err.message.contains("line 3"), "{err}");
    }

    #[test]
    fn unknown_rights_and_empty_values_are_refused() {
        let text = format!("{}rights = [\"READ\", \"FLY\"]\n", entry("u1"));
        let err = parse_str(&text).unwrap_err();
        assert!(err.message.contains("unknown right `FLY`"), "{err}");
        assert_eq!(err.position, Some((5, 19)), "{err}");
        let err = parse_str(&entry("")).unwrap_err();
        assert!(
            err.message
                .contains("`uuid` of credential #1: must not be empty"),
            "{err}"
        );
        let err = parse_str(&entry("a:b")).unwrap_err();
        assert!(err.message.contains("`:`"), "{err}");
    }

    #[test]
    fn an_empty_file_has_no_credentials() {
        assert!(parse_str("# nothing yet\n").unwrap().is_empty());
    }

    #[test]
    fn entry_text_parses_back() {
        let hash = KeyHash::parse(HASH).unwrap();
        let text = entry_text("alice \"a\"", Some("al"), "u9", &hash);
        assert!(text.starts_with("[[credential]]\n"), "{text}");
        let creds = parse_str(&text).unwrap();
        assert_eq!(creds[0].namespace, "alice \"a\"");
        assert_eq!(creds[0].subject, "al");
        assert_eq!(creds[0].key_hash, hash);
    }
}
