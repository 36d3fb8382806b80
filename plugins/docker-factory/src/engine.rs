//! The daemon connection and how its failures become `PluginError`s.
//!
//! One rule matters to the host: a daemon that cannot be reached is `UNAVAILABLE` (the host
//! answers a whisk internal error and marks the invoker unhealthy), never an error that
//! blames the action. The client opens a new connection for every request, so when the
//! daemon comes back the next call simply works: there is no state to repair.

use bollard::{errors::Error as DockerError, Docker, API_DEFAULT_VERSION};
use std::{
    future::Future,
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    time::Duration,
};
use whisk_spi::PluginError;

/// The daemon at one unix socket.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    socket: PathBuf,
    api_timeout: Duration,
}

impl Engine {
    /// Checks that the daemon answers `GET /_ping` (synchronously, so it works in a
    /// constructor whatever runtime the caller is on) and builds the client.
    pub fn connect(socket: &Path, api_timeout: Duration) -> Result<Engine, PluginError> {
        ping_blocking(socket, Duration::from_secs(5))?;
        let text = socket.to_string_lossy();
        // bollard's own timeout bounds every request, long log reads included: ours are
        // bounded separately (`api_timeout`, pull and log timeouts), so it is only a backstop.
        let docker = Docker::connect_with_unix(&text, 3600, API_DEFAULT_VERSION)
            .map_err(|e| unreachable(socket, &e.to_string()))?;
        Ok(Engine {
            docker,
            socket: socket.to_path_buf(),
            api_timeout,
        })
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Runs one ordinary API call within `api_timeout`; a time-out is `UNAVAILABLE`.
    pub async fn call<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, DockerError>>,
    ) -> Result<T, ApiError> {
        match tokio::time::timeout(self.api_timeout, call).await {
            Ok(result) => result.map_err(|e| self.classify(what, e)),
            Err(_) => Err(ApiError::Unavailable(unreachable(
                &self.socket,
                &format!(
                    "{what}: no answer within {} ms",
                    self.api_timeout.as_millis()
                ),
            ))),
        }
    }

    /// Sorts a bollard error: unreachable daemon, "no such thing" (404), or anything else.
    pub fn classify(&self, what: &str, error: DockerError) -> ApiError {
        match error {
            DockerError::DockerResponseServerError {
                status_code: 404,
                message,
            } => ApiError::NotFound(message),
            DockerError::DockerResponseServerError {
                status_code,
                message,
            } => ApiError::Failed(PluginError::internal(format!(
                "{what}: the container engine answered {status_code}: {}",
                message.trim()
            ))),
            e if is_connection_error(&e) => {
                ApiError::Unavailable(unreachable(&self.socket, &format!("{what}: {e}")))
            }
            e => ApiError::Failed(PluginError::internal(format!("{what}: {e}"))),
        }
    }
}

/// A failed API call, sorted for the caller.
#[derive(Debug)]
pub enum ApiError {
    /// The daemon could not be reached (or did not answer in time).
    Unavailable(PluginError),
    /// The daemon answered 404; its message.
    NotFound(String),
    /// Anything else, already a `PluginError`.
    Failed(PluginError),
}

impl ApiError {
    /// As a `PluginError`, with `NOT_FOUND` for a 404.
    pub fn into_plugin_error(self, what: &str) -> PluginError {
        match self {
            ApiError::Unavailable(e) | ApiError::Failed(e) => e,
            ApiError::NotFound(message) => {
                PluginError::not_found(format!("{what}: {}", message.trim()))
            }
        }
    }
}

fn is_connection_error(error: &DockerError) -> bool {
    matches!(
        error,
        DockerError::SocketNotFoundError(_)
            | DockerError::IOError { .. }
            | DockerError::HyperResponseError { .. }
            | DockerError::HyperLegacyError { .. }
            | DockerError::RequestTimeoutError
    )
}

/// The `UNAVAILABLE` error for the daemon at `socket`.
pub fn unreachable(socket: &Path, detail: &str) -> PluginError {
    PluginError::unavailable(format!(
        "the container engine at unix://{} is unreachable ({detail}); is it running? \
         (for podman: scripts/engine.sh start)",
        socket.display()
    ))
}

/// `GET /_ping` over a plain unix stream, with a deadline.
pub fn ping_blocking(socket: &Path, timeout: Duration) -> Result<(), PluginError> {
    let fail = |detail: String| unreachable(socket, &detail);
    let mut stream =
        UnixStream::connect(socket).map_err(|e| fail(format!("cannot connect: {e}")))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|_| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| fail(e.to_string()))?;
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .map_err(|e| fail(format!("cannot send a ping: {e}")))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| fail(format!("no answer to a ping: {e}")))?;
    let answer = String::from_utf8_lossy(&answer);
    let status_ok = answer
        .lines()
        .next()
        .is_some_and(|status| status.split_whitespace().nth(1) == Some("200"));
    if status_ok && answer.trim_end().ends_with("OK") {
        Ok(())
    } else {
        let first = answer
            .lines()
            .next()
            .unwrap_or("an empty answer")
            .to_string();
        Err(fail(format!(
            "GET /_ping answered {first:?}, not a Docker Engine API"
        )))
    }
}
