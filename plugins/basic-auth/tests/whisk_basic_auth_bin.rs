//! The `whisk-basic-auth` binary, run for real: what it writes, the plugin accepts.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use basic_auth::{key_hash::KeyHash, BasicAuthenticator, Config};
use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};
use whisk_spi::{AuthRequest, AuthVerdict, Authenticator};

const BIN: &str = env!("CARGO_BIN_EXE_whisk-basic-auth");

/// A directory of its own under the system's temp dir, removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "whisk-basic-auth-bin-{}-{test}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "whisk-basic-auth failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

async fn authenticate(file: &Path, user_pass: &str) -> whisk_spi::AuthOutcome {
    let auth = BasicAuthenticator::new(Config {
        credentials_file: file.to_path_buf(),
        realm: "whisk".into(),
    })
    .unwrap();
    auth.authenticate(AuthRequest {
        scheme: "Basic".into(),
        credentials: STANDARD.encode(user_pass).into(),
        method: "GET".into(),
        path: "/api/v1/namespaces".into(),
        client_addr: "127.0.0.1:1".into(),
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn add_writes_an_entry_that_then_authenticates() {
    let dir = TempDir::new("add");
    let file = dir.0.join("creds.toml");
    let file_arg = file.to_str().unwrap();

    let first = stdout(&run(&[
        "add",
        "--file",
        file_arg,
        "--namespace",
        "alice",
        "--subject",
        "al",
    ]));
    let first = first.trim_end();
    let (uuid, key) = first.split_once(':').expect("uuid:key");
    assert_eq!(uuid.len(), 36, "{first}");
    assert_eq!(key.len(), 64, "{first}");
    assert!(key.chars().all(|c| c.is_ascii_alphanumeric()), "{first}");
    let text = fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains(key),
        "the key itself must not be stored:\n{text}"
    );

    // A second entry goes after the first; both work.
    let second = stdout(&run(&["add", "--file", file_arg, "--namespace", "bob"]));
    let second = second.trim_end();
    assert_ne!(first, second);

    let outcome = authenticate(&file, first).await;
    assert_eq!(outcome.verdict, AuthVerdict::AUTHENTICATED, "{outcome:?}");
    let identity = outcome.identity.unwrap();
    assert_eq!(identity.namespace.as_str(), "alice");
    assert_eq!(identity.subject.as_str(), "al");
    assert_eq!(identity.namespace_uuid.as_str(), uuid);

    let outcome = authenticate(&file, second).await;
    assert_eq!(outcome.identity.unwrap().subject.as_str(), "bob");

    let outcome = authenticate(&file, &format!("{uuid}:{}", &key[1..])).await;
    assert_eq!(outcome.verdict, AuthVerdict::REJECTED);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "created readable by others: {mode:o}");
    }
}

#[test]
fn add_refuses_to_extend_a_broken_file() {
    let dir = TempDir::new("broken");
    let file = dir.0.join("creds.toml");
    let broken = "[[credential]]\nnamespace = \"x\"\nuuid = 3\n";
    fs::write(&file, broken).unwrap();
    let output = run(&["add", "--file", file.to_str().unwrap(), "--namespace", "y"]);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "printed a key it did not store");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("creds.toml:3:8: "), "{stderr}");
    assert!(stderr.contains("`uuid`"), "{stderr}");
    assert_eq!(fs::read_to_string(&file).unwrap(), broken);
}

#[test]
fn hash_prints_a_key_hash_for_the_key() {
    let printed = stdout(&run(&["hash", "my-own-key"]));
    let hash = KeyHash::parse(printed.trim_end()).unwrap();
    assert!(hash.matches(b"my-own-key"));
    assert!(!hash.matches(b"my-own-kez"));

    // From standard input, so the key stays out of the shell's history.
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("hash")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from-stdin\n")
        .unwrap();
    let printed = stdout(&child.wait_with_output().unwrap());
    assert!(KeyHash::parse(printed.trim_end())
        .unwrap()
        .matches(b"from-stdin"));
}
