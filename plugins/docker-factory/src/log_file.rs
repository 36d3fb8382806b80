//! A container's log file, read from where the previous read stopped.
//!
//! The engine's logs endpoint cannot resume: each request replays the container's whole log
//! (podman 4.3 parses the whole file even with `since`, about 0.1 s for 20 000 lines here),
//! and its follow mode polls the file every 250 ms (measured here: lines arrive 0–250 ms
//! after they were written), too slow to wait on for each activation's sentinel. So, as
//! OpenWhisk's `DockerClientWithFileAccess` does, the factory reads the log file the engine
//! names in `LogPath` itself, from a byte offset: each read costs what was written since the
//! last one, however long the container has lived.
//!
//! Two formats are understood, told apart by each record's first byte:
//! - CRI / k8s-file (podman's conmon, even where inspect says `json-file`):
//!   `2024-05-01T10:00:00.123456789+00:00 stdout F message`, `P` marking a piece of a line
//!   longer than conmon's buffer (the rest follows in later records);
//! - Docker's json-file: `{"log":"message\n","stream":"stdout","time":"…Z"}`, a `log`
//!   without its newline being such a piece.
//!
//! Pieces are joined into whole lines per stream (stamped with the first piece's time, with
//! nanoseconds), put in activation order by [`LineSequencer`] and kept in a buffer that
//! `read` cuts activations from. Cursors are absolute line numbers (the same numbers a full
//! read through the API gives, both counting from the log's first line), so they stay valid
//! when the lines before a read's cursor are dropped, which every read does: the host reads
//! activations in order and passes back the cursor it was given.

use crate::logs::normalize_time;
use std::{
    collections::VecDeque,
    fs::File,
    io::{Read as _, Seek, SeekFrom},
    path::{Path, PathBuf},
};
use whisk_spi::{
    container_logs::{self, LineSequencer, STDERR, STDOUT},
    ContainerLogs, LogLine,
};

/// Lines kept per container before the oldest are dropped (and the read that would have
/// answered them marked truncated). A host that reads after each activation keeps far less.
const MAX_BUFFERED_BYTES: usize = 32 << 20;

/// Bytes read from the file in one go; a read of more loops.
const CHUNK: usize = 1 << 20;

/// One container's log file and what has been read of it.
pub struct LogFile {
    path: PathBuf,
    offset: u64,
    stdout: Partial,
    stderr: Partial,
    sequencer: LineSequencer,
    lines: VecDeque<LogLine>,
    /// The cursor of `lines[0]`.
    first: u64,
    /// Sum of the messages' lengths in `lines`.
    bytes: usize,
    /// Lines were lost (over `MAX_BUFFERED_BYTES`, or the file was truncated) and no read has
    /// reported it yet.
    lost: bool,
}

#[derive(Default)]
struct Partial {
    time: Option<String>,
    message: String,
}

impl LogFile {
    /// The log at `path`, if this process can open it.
    pub fn open(path: &Path) -> std::io::Result<LogFile> {
        File::open(path)?;
        Ok(LogFile {
            path: path.to_path_buf(),
            offset: 0,
            stdout: Partial::default(),
            stderr: Partial::default(),
            sequencer: LineSequencer::new(),
            lines: VecDeque::new(),
            first: 0,
            bytes: 0,
            lost: false,
        })
    }

    /// Reads what the engine appended since the last call; answers whether anything was.
    ///
    /// Only whole records are taken: a record the engine is still writing is read again,
    /// complete, next time. A file shorter than what was already read has been truncated or
    /// replaced (log rotation): it is read again from its start, and the next read of an
    /// activation is marked truncated (lines may have been lost in between).
    pub fn refill(&mut self) -> std::io::Result<bool> {
        let mut file = File::open(&self.path)?;
        let length = file.metadata()?.len();
        if length < self.offset {
            self.offset = 0;
            self.lost = true;
        }
        if length == self.offset {
            return Ok(false);
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut grew = false;
        let mut chunk = Vec::new();
        loop {
            chunk.clear();
            (&mut file).take(CHUNK as u64).read_to_end(&mut chunk)?;
            let Some(end) = chunk.iter().rposition(|b| *b == b'\n') else {
                // No whole record in a full chunk: a record longer than CHUNK, which no
                // engine writes (conmon and dockerd split at 8 or 16 KiB). Skip it rather
                // than stall.
                if chunk.len() == CHUNK {
                    self.offset += CHUNK as u64;
                    continue;
                }
                break;
            };
            for record in chunk[..end].split(|b| *b == b'\n') {
                self.take_record(record);
            }
            self.offset += end as u64 + 1;
            grew = true;
            if chunk.len() < CHUNK {
                break;
            }
            file.seek(SeekFrom::Start(self.offset))?;
        }
        Ok(grew)
    }

    /// The activation starting at `since` (see [`container_logs::read_activation`]), from
    /// the lines read so far. Lines before `since` are dropped: the caller is done with them.
    pub fn read(&mut self, since: u64, limit_bytes: u64) -> ContainerLogs {
        while self.first < since && !self.lines.is_empty() {
            self.drop_first();
        }
        let lost = since < self.first || self.lost;
        let start = since.saturating_sub(self.first);
        let mut logs =
            container_logs::read_activation(self.lines.make_contiguous(), start, limit_bytes);
        logs.cursor += self.first;
        if lost {
            logs.truncated = true;
            self.lost = false;
        }
        logs
    }

    /// Lines held in memory.
    #[cfg(test)]
    fn buffered(&self) -> usize {
        self.lines.len()
    }

    fn take_record(&mut self, record: &[u8]) {
        let Some(piece) = parse_record(record) else {
            return;
        };
        let partial = match piece.stream {
            STDERR => &mut self.stderr,
            _ => &mut self.stdout,
        };
        if partial.time.is_none() {
            partial.time = Some(piece.time);
        }
        partial.message.push_str(&piece.text);
        if !piece.whole {
            return;
        }
        let mut message = std::mem::take(&mut partial.message);
        if message.ends_with('\r') {
            message.pop();
        }
        let line = LogLine {
            time: partial.time.take().unwrap_or_default().into(),
            stream: piece.stream.into(),
            message: message.into(),
        };
        let released = self.sequencer.push(line);
        for line in released {
            self.bytes += line.message.len();
            self.lines.push_back(line);
        }
        while self.bytes > MAX_BUFFERED_BYTES && self.lines.len() > 1 {
            self.drop_first();
            self.lost = true;
        }
    }

    fn drop_first(&mut self) {
        if let Some(line) = self.lines.pop_front() {
            self.bytes -= line.message.len();
            self.first += 1;
        }
    }
}

/// One record of the file: a whole line or a piece of one.
#[derive(Debug, PartialEq)]
struct Piece {
    time: String,
    stream: &'static str,
    text: String,
    /// The line ends with this piece.
    whole: bool,
}

fn parse_record(record: &[u8]) -> Option<Piece> {
    if record.first() == Some(&b'{') {
        parse_json_file(record)
    } else {
        parse_cri(record)
    }
}

fn stream_name(name: &str) -> Option<&'static str> {
    match name {
        "stdout" => Some(STDOUT),
        "stderr" => Some(STDERR),
        _ => None,
    }
}

/// `TIME STREAM TAGS MESSAGE`, TAGS `F` (full) or `P` (partial), possibly with more
/// `:`-separated tags.
fn parse_cri(record: &[u8]) -> Option<Piece> {
    let mut parts = record.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let stream = stream_name(std::str::from_utf8(parts.next()?).ok()?)?;
    let tags = parts.next()?;
    let text = parts.next().unwrap_or_default();
    Some(Piece {
        time: normalize_time(time),
        stream,
        text: String::from_utf8_lossy(text).into_owned(),
        whole: !tags.split(|b| *b == b':').any(|t| t == b"P"),
    })
}

/// Docker's json-file record.
fn parse_json_file(record: &[u8]) -> Option<Piece> {
    #[derive(serde::Deserialize)]
    struct Record {
        log: String,
        stream: String,
        time: String,
    }
    let Record { log, stream, time } = serde_json::from_slice(record).ok()?;
    let (text, whole) = match log.strip_suffix('\n') {
        Some(text) => (text.to_string(), true),
        None => (log, false),
    };
    Some(Piece {
        time: normalize_time(&time),
        stream: stream_name(&stream)?,
        text,
        whole,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use whisk_spi::container_logs::SENTINEL;

    fn messages(logs: &ContainerLogs) -> Vec<String> {
        logs.lines
            .iter()
            .map(|l| format!("{}:{}", l.stream, l.message))
            .collect()
    }

    struct Temp(PathBuf);
    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    fn temp(name: &str) -> Temp {
        Temp(std::env::temp_dir().join(format!("docker-factory-log-{}-{name}", std::process::id())))
    }
    fn append(path: &Path, text: &str) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    fn cri(stream: &str, tag: &str, text: &str) -> String {
        format!("2024-05-01T10:00:00.123456789+00:00 {stream} {tag} {text}\n")
    }

    #[test]
    fn records_of_both_formats_parse() {
        assert_eq!(
            parse_record(b"2024-05-01T10:00:00.5+00:00 stderr P half a"),
            Some(Piece {
                time: "2024-05-01T10:00:00.5Z".into(),
                stream: STDERR,
                text: "half a".into(),
                whole: false,
            })
        );
        assert_eq!(
            parse_record(b"2024-05-01T10:00:00.1Z stdout F").map(|p| (p.text, p.whole)),
            Some((String::new(), true))
        );
        assert_eq!(
            parse_record(br#"{"log":"hi\n","stream":"stdout","time":"2024-05-01T10:00:00.1Z"}"#),
            Some(Piece {
                time: "2024-05-01T10:00:00.1Z".into(),
                stream: STDOUT,
                text: "hi".into(),
                whole: true,
            })
        );
        assert!(parse_record(b"garbage").is_none());
    }

    #[test]
    fn reads_only_what_was_appended_and_keeps_absolute_cursors() {
        let file = temp("append");
        append(&file.0, "");
        let mut log = LogFile::open(&file.0).unwrap();
        assert!(!log.refill().unwrap());
        append(
            &file.0,
            &[
                cri("stdout", "F", "one"),
                cri("stdout", "P", "lo"),
                cri("stderr", "F", "err"),
                cri("stdout", "F", "ng\r"),
                cri("stdout", "F", SENTINEL),
                cri("stderr", "F", SENTINEL),
                "2024-05-01T10:00:01.0+00:00 stdout F unfinished rec".into(),
            ]
            .concat(),
        );
        assert!(log.refill().unwrap());
        let first = log.read(0, 0);
        assert_eq!(
            messages(&first),
            ["stdout:one", "stderr:err", "stdout:long"]
        );
        assert!(first.complete && !first.truncated);
        assert_eq!(first.cursor, 5);
        assert_eq!(
            first.lines[2].time.as_str(),
            "2024-05-01T10:00:00.123456789Z"
        );

        // The half-written record is taken once it is whole.
        append(
            &file.0,
            &format!(
                "ord\n{}{}",
                cri("stderr", "F", SENTINEL),
                cri("stdout", "F", SENTINEL)
            ),
        );
        assert!(log.refill().unwrap());
        let second = log.read(first.cursor, 0);
        assert_eq!(messages(&second), ["stdout:unfinished record"]);
        assert!(second.complete);
        assert_eq!(second.cursor, 8);
        // Reading from a cursor drops what came before it.
        let none = log.read(second.cursor, 0);
        assert!(none.lines.is_empty() && !none.complete);
        assert_eq!((none.cursor, log.buffered()), (8, 0));
    }

    #[test]
    fn a_truncated_file_is_read_again_and_reported() {
        let file = temp("truncate");
        append(&file.0, &cri("stdout", "F", "a").repeat(3));
        let mut log = LogFile::open(&file.0).unwrap();
        log.refill().unwrap();
        assert_eq!(log.read(0, 0).cursor, 3);
        std::fs::write(&file.0, cri("stdout", "F", "b")).unwrap();
        log.refill().unwrap();
        let logs = log.read(3, 0);
        assert_eq!(messages(&logs), ["stdout:b"]);
        assert!(logs.truncated);
    }
}
