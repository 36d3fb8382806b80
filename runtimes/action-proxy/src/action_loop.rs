//! ActionLoop: one long-lived launcher process per action (Node.js, Python).
//!
//! The launcher is started at `/init` with the code file and the entry point name as
//! arguments, stdin/stdout/stderr piped and the write end of a pipe as fd 3. Protocol:
//! - once loaded, it writes `{"ok":true}` on fd 3, or `{"error":"..."}` and exits;
//! - per activation, the proxy writes one JSON line on its stdin (the `/run` body); the
//!   launcher sets `__OW_<KEY>` for every key but `value`, calls the function with `value`,
//!   writes the sentinel on its stdout and stderr after everything the action printed, then
//!   one JSON line (the result) on fd 3.
//!
//! If the launcher dies, the action is broken for good: this run and every later one fail.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, Mutex};

use crate::child;
use crate::logs::{self, LogStream};
use crate::protocol::{JsonObject, ProxyError};

/// How long to wait for a dead launcher's last output once it has stopped answering.
const DRAIN_AFTER_DEATH: Duration = Duration::from_secs(2);

/// What to start: `program launcher code_file main`.
pub struct Launch {
    pub program: String,
    pub launcher: PathBuf,
    pub code_file: PathBuf,
    pub main: String,
    pub workdir: PathBuf,
    pub env: Vec<(String, String)>,
}

/// A running launcher. Activations must be serialized by the caller (see `server.rs`); the
/// mutex only gives `run` mutable access.
pub struct LoopChild {
    io: Mutex<LoopIo>,
}

struct LoopIo {
    child: Child,
    stdin: ChildStdin,
    results: BufReader<pipe::Receiver>,
    stdout_marks: mpsc::UnboundedReceiver<()>,
    stderr_marks: mpsc::UnboundedReceiver<()>,
    /// Set once the launcher has died or stopped answering: why, for every later run.
    broken: Option<String>,
}

impl LoopChild {
    /// Starts the launcher and waits until it has loaded the action.
    pub async fn start(launch: Launch) -> Result<LoopChild, ProxyError> {
        let program = launch.program.clone();
        let failed = ProxyError::InitFailed;
        let (read, write) = child::result_pipe()
            .map_err(|e| failed(format!("Cannot create the result pipe: {e}")))?;
        let mut cmd = Command::new(&launch.program);
        cmd.arg(&launch.launcher)
            .arg(&launch.code_file)
            .arg(&launch.main)
            .current_dir(&launch.workdir)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        {
            use std::os::fd::AsRawFd;
            child::prepare(&mut cmd, Some(write.as_raw_fd()));
        }
        let mut proc = cmd
            .spawn()
            .map_err(|e| failed(format!("Cannot start the {program} runtime: {e}")))?;
        // Only the child may hold the write end: then end of file on `read` means it is gone.
        drop(write);

        let stdin = proc.stdin.take().expect("stdin is piped");
        let stdout = proc.stdout.take().expect("stdout is piped");
        let stderr = proc.stderr.take().expect("stderr is piped");
        let results = pipe::Receiver::from_owned_fd(read)
            .map_err(|e| failed(format!("Cannot read the result pipe: {e}")))?;
        let mut io = LoopIo {
            child: proc,
            stdin,
            results: BufReader::new(results),
            stdout_marks: logs::forward(stdout, LogStream::Stdout),
            stderr_marks: logs::forward(stderr, LogStream::Stderr),
            broken: None,
        };

        match io.read_result().await {
            Ok(line) => match serde_json::from_str::<Value>(&line) {
                Ok(ack) if ack.get("ok") == Some(&Value::Bool(true)) => {
                    Ok(LoopChild { io: Mutex::new(io) })
                }
                Ok(ack) => {
                    io.drain_output().await;
                    Err(failed(match ack.get("error") {
                        Some(Value::String(message)) => message.clone(),
                        _ => format!("The {program} runtime answered {line} instead of ok."),
                    }))
                }
                Err(_) => Err(failed(format!(
                    "The {program} runtime answered {line} instead of ok."
                ))),
            },
            Err(exit) => {
                io.drain_output().await;
                Err(failed(format!(
                    "The {program} runtime exited while loading the action ({exit})."
                )))
            }
        }
    }

    /// Runs one activation: `message` is the `/run` body as one JSON line.
    pub async fn run(&self, message: &str) -> Result<JsonObject, ProxyError> {
        let mut guard = self.io.lock().await;
        let io = &mut *guard;
        if let Some(why) = &io.broken {
            return Err(ProxyError::ActionFailed(why.clone()));
        }
        let answer = match io.send(message).await {
            Ok(()) => io.read_result().await,
            Err(exit) => Err(exit),
        };
        match answer {
            Ok(line) => {
                // The launcher wrote its sentinels before the result: wait until the
                // forwarders have passed everything before them on.
                let (_, _) = tokio::join!(io.stdout_marks.recv(), io.stderr_marks.recv());
                JsonObject::parse(line.as_bytes()).ok_or(ProxyError::NotADictionary)
            }
            Err(exit) => {
                let why = format!("The action's process exited ({exit}).");
                io.broken = Some(why.clone());
                io.drain_output().await;
                Err(ProxyError::ActionFailed(why))
            }
        }
    }
}

impl LoopIo {
    async fn send(&mut self, message: &str) -> Result<(), String> {
        let mut line = String::with_capacity(message.len() + 1);
        line.push_str(message);
        line.push('\n');
        let written = async {
            self.stdin.write_all(line.as_bytes()).await?;
            self.stdin.flush().await
        }
        .await;
        match written {
            Ok(()) => Ok(()),
            Err(_) => Err(self.exit_status().await),
        }
    }

    /// One line from fd 3, or, if the launcher closed it (died), how it exited.
    async fn read_result(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.results.read_line(&mut line).await {
            Ok(n) if n > 0 && line.ends_with('\n') => {
                line.pop();
                Ok(line)
            }
            _ => Err(self.exit_status().await),
        }
    }

    async fn exit_status(&mut self) -> String {
        match tokio::time::timeout(DRAIN_AFTER_DEATH, self.child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            Ok(Err(e)) => format!("cannot tell how: {e}"),
            Err(_) => {
                let _ = self.child.start_kill();
                "it closed its result pipe and was killed".to_string()
            }
        }
    }

    /// After the launcher died: forward what it wrote last (until end of file, bounded).
    async fn drain_output(&mut self) {
        let drain = async {
            while self.stdout_marks.recv().await.is_some() {}
            while self.stderr_marks.recv().await.is_some() {}
        };
        let _ = tokio::time::timeout(DRAIN_AFTER_DEATH, drain).await;
    }
}
