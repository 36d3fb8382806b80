//! A proxy's stdout and stderr, captured line by line with the time each line arrived, in
//! activation order, for `logs` to read from.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard},
    time::SystemTime,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader},
    sync::watch,
};
use whisk_spi::{
    container_logs::{self, LineSequencer, STDERR, STDOUT},
    ContainerLogs, LogLine,
};

/// Messages kept per container before the oldest are dropped. A host that reads logs after
/// each activation keeps far less: lines before the cursor of a read are dropped then.
const MAX_BUFFERED_BYTES: usize = 32 << 20;

/// A line longer than this is split: an action printing without newlines cannot make the
/// factory buffer without bound.
const MAX_LINE_BYTES: u64 = 256 << 10;

/// The lines one proxy wrote.
pub struct LogCapture {
    lines: Mutex<Captured>,
    /// Bumped whenever a line arrives or a stream ends, for readers waiting for a sentinel.
    changed: watch::Sender<u64>,
}

struct Captured {
    sequencer: LineSequencer,
    lines: VecDeque<LogLine>,
    /// The cursor value of `lines[0]`: cursors count every line ever captured.
    first: u64,
    /// Sum of the messages' lengths in `lines`.
    bytes: usize,
    /// Lines dropped to stay within `MAX_BUFFERED_BYTES`, not yet reported by a read.
    dropped: bool,
    stdout_ended: bool,
    stderr_ended: bool,
}

/// A read's answer and whether more lines may still come.
pub struct Read {
    pub logs: ContainerLogs,
    /// Both streams have ended (the proxy is gone): waiting longer is pointless.
    pub ended: bool,
}

impl LogCapture {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            lines: Mutex::new(Captured {
                sequencer: LineSequencer::new(),
                lines: VecDeque::new(),
                first: 0,
                bytes: 0,
                dropped: false,
                stdout_ended: false,
                stderr_ended: false,
            }),
            changed: watch::channel(0).0,
        })
    }

    /// Reads `stream` (named `stdout` or `stderr`) to its end, a line at a time.
    pub async fn capture(self: Arc<Self>, stream: impl AsyncRead + Unpin, name: &'static str) {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match (&mut reader)
                .take(MAX_LINE_BYTES)
                .read_until(b'\n', &mut line)
                .await
            {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            self.push(container_logs::log_line(
                SystemTime::now(),
                name,
                String::from_utf8_lossy(text),
            ));
        }
        self.end(name);
    }

    fn locked(&self) -> MutexGuard<'_, Captured> {
        // A panic while holding the lock leaves at worst a line half-accounted: keep going.
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, line: LogLine) {
        {
            let mut captured = self.locked();
            let released = captured.sequencer.push(line);
            captured.append(released);
        }
        self.changed.send_modify(|n| *n += 1);
    }

    fn end(&self, stream: &str) {
        {
            let mut captured = self.locked();
            let released = captured.sequencer.end(stream);
            captured.append(released);
            match stream {
                STDOUT => captured.stdout_ended = true,
                STDERR => captured.stderr_ended = true,
                _ => {}
            }
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Notified of every change after this call.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The activation starting at `since` (see [`container_logs::read_activation`]).
    ///
    /// Reading from `since` says the caller is done with every line before it, so those are
    /// dropped. If lines at `since` were already dropped (over `MAX_BUFFERED_BYTES`), the read
    /// starts at the oldest line kept and is marked truncated.
    pub fn read(&self, since: u64, limit_bytes: u64) -> Read {
        let mut captured = self.locked();
        captured.forget_before(since);
        let lost = since < captured.first || captured.dropped;
        let first = captured.first;
        let start = since.saturating_sub(first);
        let mut logs =
            container_logs::read_activation(captured.lines.make_contiguous(), start, limit_bytes);
        logs.cursor += first;
        if lost {
            logs.truncated = true;
            captured.dropped = false;
        }
        Read {
            logs,
            ended: captured.stdout_ended && captured.stderr_ended,
        }
    }

    /// The last `count` lines of stderr, for an error message.
    pub fn stderr_tail(&self, count: usize) -> Vec<String> {
        let captured = self.locked();
        let mut tail: Vec<String> = captured
            .lines
            .iter()
            .rev()
            .filter(|l| l.stream.as_str() == STDERR && !container_logs::is_sentinel(l))
            .take(count)
            .map(|l| l.message.to_string())
            .collect();
        tail.reverse();
        tail
    }
}

impl Captured {
    fn append(&mut self, lines: Vec<LogLine>) {
        for line in lines {
            self.bytes += line.message.len();
            self.lines.push_back(line);
        }
        while self.bytes > MAX_BUFFERED_BYTES && self.lines.len() > 1 {
            self.drop_first();
            self.dropped = true;
        }
    }

    fn forget_before(&mut self, cursor: u64) {
        while self.first < cursor && !self.lines.is_empty() {
            self.drop_first();
        }
    }

    fn drop_first(&mut self) {
        if let Some(line) = self.lines.pop_front() {
            self.bytes -= line.message.len();
            self.first += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whisk_spi::container_logs::SENTINEL;

    fn messages(logs: &ContainerLogs) -> Vec<&str> {
        logs.lines.iter().map(|l| l.message.as_str()).collect()
    }

    #[tokio::test]
    async fn captures_lines_of_both_streams_and_reads_activations() {
        let capture = LogCapture::new();
        let stdout = format!("one\r\ntwo\n{SENTINEL}\nthree\n{SENTINEL}\nno newline");
        let stderr = format!("{SENTINEL}\n{SENTINEL}\n");
        capture.clone().capture(stdout.as_bytes(), STDOUT).await;
        capture.clone().capture(stderr.as_bytes(), STDERR).await;
        let first = capture.read(0, 0);
        assert_eq!(messages(&first.logs), ["one", "two"]);
        assert!(first.logs.complete && first.ended);
        let second = capture.read(first.logs.cursor, 0);
        assert_eq!(messages(&second.logs), ["three"]);
        assert!(second.logs.complete);
        let rest = capture.read(second.logs.cursor, 0);
        assert_eq!(messages(&rest.logs), ["no newline"]);
        assert!(!rest.logs.complete);
        // Lines before a read's `since` are gone, the cursor keeps counting.
        assert_eq!(capture.locked().first, second.logs.cursor);
        assert_eq!(rest.logs.cursor, 8);
    }

    #[tokio::test]
    async fn an_endless_line_is_split() {
        let capture = LogCapture::new();
        let long = "x".repeat(MAX_LINE_BYTES as usize + 10);
        capture.clone().capture(long.as_bytes(), STDOUT).await;
        let read = capture.read(0, 0);
        assert_eq!(read.logs.lines.len(), 2);
        assert_eq!(read.logs.lines[1].message.len(), 10);
    }

    #[test]
    fn dropping_old_lines_is_reported_as_truncation() {
        let capture = LogCapture::new();
        let big = "y".repeat(MAX_BUFFERED_BYTES / 4 + 1);
        for _ in 0..5 {
            capture.push(container_logs::log_line(SystemTime::now(), STDOUT, &*big));
        }
        let read = capture.read(0, 0);
        assert!(read.logs.truncated);
        assert_eq!(read.logs.lines.len(), 3);
        assert_eq!(read.logs.cursor, 5);
    }

    #[test]
    fn stderr_tail_is_in_order() {
        let capture = LogCapture::new();
        for (stream, text) in [(STDERR, "a"), (STDOUT, "b"), (STDERR, "c"), (STDERR, "d")] {
            capture.push(container_logs::log_line(SystemTime::now(), stream, text));
        }
        assert_eq!(capture.stderr_tail(2), ["c", "d"]);
    }
}
