//! `whisk-basic-auth`: manages the credentials file of the basic-auth plugin.
//!
//! - `whisk-basic-auth add --file F --namespace NS [--subject S]` makes a new random
//!   `uuid:key`, appends its hashed entry to `F` (created if missing) and prints `uuid:key`
//!   once: only the hash is kept, so it cannot be shown again.
//! - `whisk-basic-auth hash [KEY]` prints the `key_hash` value of a key you chose (read from
//!   standard input when not given, so it stays out of the shell's history).

use basic_auth::{credentials, key_hash::KeyHash, secret};
use clap::{Parser, Subcommand};
use std::{
    fs::{self, OpenOptions},
    io::{self, BufRead, Write},
    path::{Path, PathBuf},
    process::ExitCode,
};

#[derive(Parser)]
#[command(
    name = "whisk-basic-auth",
    version,
    about = "Adds OpenWhisk uuid:key credentials to a whisk basic-auth credentials file"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a new uuid:key for a namespace, append its hashed entry to the file and print
    /// uuid:key (shown this once only).
    Add {
        /// The credentials file (created if missing).
        #[arg(long)]
        file: PathBuf,
        /// The namespace the key gives access to.
        #[arg(long)]
        namespace: String,
        /// The subject (user) it identifies; defaults to the namespace.
        #[arg(long)]
        subject: Option<String>,
    },
    /// Print the `key_hash` value for a key (read from standard input when not given).
    Hash {
        /// The key, the part after the colon of uuid:key.
        key: Option<String>,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Add {
            file,
            namespace,
            subject,
        } => add(&file, &namespace, subject.as_deref()),
        Command::Hash { key } => hash(key),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("whisk-basic-auth: {message}");
            ExitCode::FAILURE
        }
    }
}

fn add(file: &Path, namespace: &str, subject: Option<&str>) -> Result<(), String> {
    let existing = match fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    // Appending to a file the plugin would refuse would only hide the first problem.
    let known = credentials::parse(&existing, file).map_err(|e| e.to_string())?;

    let uuid = loop {
        let uuid = secret::new_uuid().map_err(|e| e.to_string())?;
        if !known.iter().any(|c| c.uuid == uuid) {
            break uuid;
        }
    };
    let key = secret::new_key().map_err(|e| e.to_string())?;
    let key_hash = KeyHash::new(&key).map_err(|e| e.to_string())?;
    let entry = credentials::entry_text(namespace, subject, &uuid, &key_hash);
    // The same checks the plugin makes, before the file is touched.
    credentials::parse(&entry, Path::new("the new entry"))
        .map_err(|e| format!("cannot add this entry: {}", e.message))?;

    let mut addition = String::new();
    if !existing.is_empty() {
        if !existing.ends_with('\n') {
            addition.push('\n');
        }
        addition.push('\n');
    }
    addition.push_str(&entry);
    append(file, &addition).map_err(|e| format!("{}: {e}", file.display()))?;

    println!("{uuid}:{key}");
    eprintln!(
        "added a key for namespace `{namespace}` to {}; restart whisk to use it. \
         The key is not stored: keep the line above.",
        file.display()
    );
    Ok(())
}

fn append(file: &Path, text: &str) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        // Only hashes are stored, but nobody else needs to read them.
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options.open(file)?;
    out.write_all(text.as_bytes())?;
    out.sync_all()
}

fn hash(key: Option<String>) -> Result<(), String> {
    let key = match key {
        Some(key) => key,
        None => {
            let mut line = String::new();
            io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| format!("standard input: {e}"))?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    let key_hash = KeyHash::new(&key).map_err(|e| e.to_string())?;
    println!("{key_hash}");
    Ok(())
}
