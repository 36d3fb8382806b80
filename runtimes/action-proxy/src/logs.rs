//! The action's logs: the proxy's stdout and stderr carry nothing but the action's output,
//! whole lines, with one sentinel line on each stream after every activation.
//!
//! A log collector reads each stream up to the next [`SENTINEL`] and attributes what it read
//! to the activation that just ended. For that to hold:
//! - every line is written with one locked write, so lines never mix;
//! - a launcher ends each activation by writing the sentinel on its own stdout and stderr; the
//!   forwarder swallows it and reports it, and the proxy writes its own sentinels only once
//!   both streams have reported theirs (so everything the action wrote is already forwarded);
//! - the proxy's own diagnostics are off by default (see `main.rs`), because anything it wrote
//!   to stderr would be attributed to an activation.

use std::io::Write;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

/// The line that ends an activation's logs, on stdout and on stderr (OpenWhisk's value).
pub const SENTINEL: &str = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX";

#[derive(Clone, Copy, Debug)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    /// Writes `line` plus a newline in one locked write. A closed or failing stream is ignored:
    /// losing logs must not fail the activation.
    pub fn write_line(self, line: &[u8]) {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        let _ = match self {
            LogStream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&buf).and_then(|()| out.flush())
            }
            LogStream::Stderr => {
                let mut err = std::io::stderr().lock();
                err.write_all(&buf).and_then(|()| err.flush())
            }
        };
    }

    /// Writes every line of `text` (a trailing newline does not make an extra empty line).
    pub fn write_lines(self, text: &[u8]) {
        if text.is_empty() {
            return;
        }
        let text = text.strip_suffix(b"\n").unwrap_or(text);
        for line in text.split(|&b| b == b'\n') {
            self.write_line(line);
        }
    }
}

/// Marks the end of the current activation's logs on both streams.
pub fn end_activation() {
    LogStream::Stdout.write_line(SENTINEL.as_bytes());
    LogStream::Stderr.write_line(SENTINEL.as_bytes());
}

/// Forwards a child's output stream line by line to `to`, until end of file.
///
/// A line that ends with the sentinel is the launcher's end of an activation: the text before
/// the sentinel, if any (output the action left without a newline), is forwarded as a line, the
/// sentinel is not, and one `()` is sent on the returned channel. The channel closes at end of
/// file.
pub fn forward<R>(stream: R, to: LogStream) -> mpsc::UnboundedReceiver<()>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let (marks, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            match text.strip_suffix(SENTINEL.as_bytes()) {
                Some(before) => {
                    if !before.is_empty() {
                        to.write_line(before);
                    }
                    let _ = marks.send(());
                }
                None => to.write_line(text),
            }
        }
    });
    received
}
