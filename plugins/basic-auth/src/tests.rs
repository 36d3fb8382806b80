//! The authenticator against the shipped `config/guest-auth.toml` and files of its own.

use super::*;
use std::{
    fs,
    path::Path,
    sync::atomic::{AtomicU32, Ordering},
};
use whisk_spi::{AuthVerdict, ErrorKind};

const GUEST_UUID: &str = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502";
const GUEST_KEY: &str = "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";

fn guest_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/guest-auth.toml")
}

fn guest() -> BasicAuthenticator {
    BasicAuthenticator::new(Config {
        credentials_file: guest_file(),
        realm: default_realm(),
    })
    .unwrap()
}

fn request(scheme: &str, credentials: &str) -> AuthRequest {
    AuthRequest {
        scheme: scheme.into(),
        credentials: credentials.into(),
        method: "GET".into(),
        path: "/api/v1/namespaces/guest/actions".into(),
        client_addr: "127.0.0.1:50000".into(),
    }
}

fn basic(user_pass: &str) -> AuthRequest {
    request("Basic", &BASE64.encode(user_pass))
}

async fn outcome(auth: &BasicAuthenticator, request: AuthRequest) -> AuthOutcome {
    auth.authenticate(request).await.unwrap()
}

/// A file of its own under the system's temp dir, removed when the test ends.
struct TempFile(PathBuf);

impl TempFile {
    fn with(test: &str, text: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "whisk-basic-auth-{}-{}-{test}.toml",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn load_error(text: &str) -> PluginError {
    let file = TempFile::with("bad", text);
    match BasicAuthenticator::new(Config {
        credentials_file: file.0.clone(),
        realm: "whisk".into(),
    }) {
        Err(e) => e,
        Ok(_) => panic!("a bad credentials file was accepted:\n{text}"),
    }
}

#[tokio::test]
async fn the_guest_key_authenticates_to_namespace_guest() {
    let outcome = outcome(&guest(), basic(&format!("{GUEST_UUID}:{GUEST_KEY}"))).await;
    assert_eq!(outcome.verdict, AuthVerdict::AUTHENTICATED, "{outcome:?}");
    let identity = outcome.identity.unwrap();
    assert_eq!(identity.namespace.as_str(), "guest");
    assert_eq!(identity.subject.as_str(), "guest");
    assert_eq!(identity.namespace_uuid.as_str(), GUEST_UUID);
    assert_eq!(
        identity
            .rights
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>(),
        ["READ", "PUT", "DELETE", "ACTIVATE"]
    );
    assert_eq!(identity.limits, IdentityLimits::default());
    assert_eq!(
        identity.api_key.into_option().unwrap().as_str(),
        format!("{GUEST_UUID}:{GUEST_KEY}")
    );
}

#[tokio::test]
async fn the_scheme_is_case_insensitive_and_padding_optional() {
    let encoded = BASE64.encode(format!("{GUEST_UUID}:{GUEST_KEY}"));
    let unpadded = encoded.trim_end_matches('=');
    let outcome = outcome(&guest(), request("basic", unpadded)).await;
    assert_eq!(outcome.verdict, AuthVerdict::AUTHENTICATED, "{outcome:?}");
}

#[tokio::test]
async fn a_wrong_key_is_rejected() {
    let mut wrong = GUEST_KEY.to_string();
    wrong.replace_range(63.., "Q");
    for key in [wrong.as_str(), "", &GUEST_KEY[..63]] {
        let outcome = outcome(&guest(), basic(&format!("{GUEST_UUID}:{key}"))).await;
        assert_eq!(outcome.verdict, AuthVerdict::REJECTED, "key {key:?}");
        assert!(outcome.identity.is_none());
    }
}

#[tokio::test]
async fn an_unknown_uuid_is_left_to_other_authenticators() {
    let outcome = outcome(
        &guest(),
        basic(&format!("00000000-0000-4000-8000-000000000000:{GUEST_KEY}")),
    )
    .await;
    assert_eq!(outcome.verdict, AuthVerdict::NOT_MINE);
}

#[tokio::test]
async fn another_scheme_is_not_mine() {
    let outcome = outcome(&guest(), request("Bearer", "eyJhbGciOiJIUzI1NiJ9.e30.x")).await;
    assert_eq!(outcome.verdict, AuthVerdict::NOT_MINE);
}

#[tokio::test]
async fn malformed_credentials_are_rejected() {
    let auth = guest();
    for credentials in [
        "not base64!".to_string(),
        BASE64.encode(format!("{GUEST_UUID}{GUEST_KEY}")), // no colon
        BASE64.encode([0xff, 0xfe, b':', b'k']),           // not UTF-8
    ] {
        let outcome = outcome(&auth, request("Basic", &credentials)).await;
        assert_eq!(outcome.verdict, AuthVerdict::REJECTED, "{credentials}");
        assert_eq!(outcome.reason.as_str(), "malformed Basic credentials");
    }
}

#[test]
fn the_mechanism_is_basic_with_the_configured_realm() {
    let file = TempFile::with("realm", "");
    let auth = BasicAuthenticator::new(Config {
        credentials_file: file.0.clone(),
        realm: "my \"cloud\"".into(),
    })
    .unwrap();
    assert_eq!(
        auth.mechanism().unwrap().challenge(),
        r#"Basic realm="my \"cloud\"""#
    );
    assert_eq!(
        guest().mechanism().unwrap().challenge(),
        r#"Basic realm="whisk""#
    );
}

#[test]
fn a_bad_credentials_file_names_file_line_column_and_key() {
    let text = format!(
        "# comment\n[[credential]]\nnamespace = \"guest\"\nuuid = \"{GUEST_UUID}\"\nkey_hash = 7\n"
    );
    let err = load_error(&text);
    assert_eq!(err.kind, ErrorKind::INVALID_CONFIG);
    let message = err.message.as_str();
    assert!(message.contains("whisk-basic-auth-"), "{message}");
    assert!(message.contains(".toml:5:12: "), "{message}");
    assert!(message.contains("`key_hash`"), "{message}");
}

#[test]
fn a_duplicate_uuid_is_refused() {
    let entry = fs::read_to_string(guest_file()).unwrap();
    let err = load_error(&format!("{entry}\n{entry}"));
    assert_eq!(err.kind, ErrorKind::INVALID_CONFIG);
    assert!(
        err.message
            .contains(&format!("duplicate uuid `{GUEST_UUID}`")),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let err = match BasicAuthenticator::new(Config {
        credentials_file: "no/such/credentials.toml".into(),
        realm: "whisk".into(),
    }) {
        Err(e) => e,
        Ok(_) => panic!("a missing file was accepted"),
    };
    assert!(err.message.contains("no/such/credentials.toml"), "{err}");
}

#[test]
fn the_plugin_refuses_unknown_config_keys_and_needs_a_file() {
    let table = format!(
        "credentials_file = {:?}\nrelm = \"x\"",
        guest_file().display().to_string()
    );
    let err = match BasicAuthPlugin::authenticator(PluginConfig::new(table)) {
        Err(e) => e,
        Ok(_) => panic!("an unknown key was accepted"),
    };
    assert_eq!(err.kind, ErrorKind::INVALID_CONFIG);
    assert!(err.message.contains("relm"), "{err}");
    let err = match BasicAuthPlugin::authenticator(PluginConfig::new("realm = \"x\"")) {
        Err(e) => e,
        Ok(_) => panic!("a config without credentials_file was accepted"),
    };
    assert!(err.message.contains("credentials_file"), "{err}");
}

#[tokio::test]
async fn works_through_the_plugin_boundary() {
    let table = format!(
        "credentials_file = {:?}",
        guest_file().display().to_string()
    );
    let boxed = match BasicAuthPlugin::authenticator(PluginConfig::new(table)) {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    };
    let outcome = boxed
        .authenticate(basic(&format!("{GUEST_UUID}:{GUEST_KEY}")))
        .await
        .unwrap();
    assert_eq!(outcome.verdict, AuthVerdict::AUTHENTICATED);
    assert_eq!(
        boxed.mechanism().unwrap().challenge(),
        r#"Basic realm="whisk""#
    );
}
