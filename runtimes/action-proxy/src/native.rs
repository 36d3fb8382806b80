//! Native actions, the OpenWhisk "dockerskeleton" convention: a fresh process per activation.
//!
//! The executable gets the parameters as one JSON string in argv[1] (left out when longer
//! than Linux's MAX_ARG_STRLEN) and on stdin, plus the `__OW_*` environment. The last line
//! of its stdout is the result; every other line of stdout and all of stderr are logs.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::child;
use crate::kind::is_executable;
use crate::logs::LogStream;
use crate::protocol::{JsonObject, ProxyError, RunRequest};

/// Longest single argument Linux accepts (MAX_ARG_STRLEN - 1, as dockerskeleton uses).
const MAX_ARG_LEN: usize = 131_071;

pub struct NativeAction {
    exec: PathBuf,
    workdir: PathBuf,
    env: Vec<(String, String)>,
}

impl NativeAction {
    /// Writes the executable as `<workdir>/exec`, mode 755.
    pub fn install(
        workdir: &Path,
        code: &[u8],
        env: Vec<(String, String)>,
    ) -> Result<NativeAction, ProxyError> {
        use std::os::unix::fs::PermissionsExt;
        if !is_executable(code) {
            return Err(ProxyError::InitFailed(
                "A native action must be an executable or a script starting with #!.".to_string(),
            ));
        }
        let exec = workdir.join("exec");
        let written = std::fs::write(&exec, code)
            .and_then(|()| std::fs::set_permissions(&exec, std::fs::Permissions::from_mode(0o755)));
        written
            .map_err(|e| ProxyError::InitFailed(format!("Cannot write {}: {e}", exec.display())))?;
        Ok(NativeAction {
            exec,
            workdir: workdir.to_path_buf(),
            env,
        })
    }

    pub async fn run(&self, request: &RunRequest) -> Result<JsonObject, ProxyError> {
        let input = request.value().to_string();
        let mut cmd = Command::new(&self.exec);
        if input.len() <= MAX_ARG_LEN {
            cmd.arg(&input);
        }
        cmd.current_dir(&self.workdir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(request.activation_env())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        child::prepare(&mut cmd, None);
        let mut proc = cmd
            .spawn()
            .map_err(|e| ProxyError::ActionFailed(format!("Cannot start the action: {e}")))?;

        let stdin = proc.stdin.take();
        let feed = async move {
            if let Some(mut stdin) = stdin {
                // The executable may not read stdin at all: a broken pipe is fine.
                let _ = stdin.write_all(input.as_bytes()).await;
                let _ = stdin.shutdown().await;
            }
        };
        let (_, out, err) = tokio::join!(
            feed,
            read_all(proc.stdout.take()),
            read_all(proc.stderr.take())
        );
        let _ = proc.wait().await;

        let (logs, last) = split_result_line(&out);
        LogStream::Stdout.write_lines(logs);
        LogStream::Stderr.write_lines(&err);
        match JsonObject::parse(last) {
            Some(result) => Ok(result),
            None => {
                // As dockerskeleton: what was not a result is still the action's output.
                if !last.is_empty() {
                    LogStream::Stdout.write_line(last);
                }
                Err(ProxyError::NotADictionary)
            }
        }
    }
}

async fn read_all(stream: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(mut stream) = stream {
        let _ = stream.read_to_end(&mut buf).await;
    }
    buf
}

/// Splits stdout into (logs, last line): the last line ignores one trailing newline and
/// surrounding whitespace; logs keep their final newline.
fn split_result_line(out: &[u8]) -> (&[u8], &[u8]) {
    let body = out.strip_suffix(b"\n").unwrap_or(out);
    let (logs, last) = match body.iter().rposition(|&b| b == b'\n') {
        Some(i) => (&out[..=i], &body[i + 1..]),
        None => (&out[..0], body),
    };
    (logs, last.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::split_result_line;

    #[test]
    fn last_stdout_line_is_the_result() {
        assert_eq!(
            split_result_line(b"a\nb\n{\"x\":1}\n"),
            (&b"a\nb\n"[..], &b"{\"x\":1}"[..])
        );
        assert_eq!(split_result_line(b"{}"), (&b""[..], &b"{}"[..]));
        assert_eq!(split_result_line(b" {} \n"), (&b""[..], &b"{}"[..]));
        assert_eq!(split_result_line(b"log\n\n"), (&b"log\n"[..], &b""[..]));
        assert_eq!(split_result_line(b""), (&b""[..], &b""[..]));
    }
}
