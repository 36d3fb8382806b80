//! Reading a container's output through the Engine API's logs endpoint.
//!
//! The API answers frames (a stream byte, then a payload); with `timestamps=1` every
//! frame's payload starts with an RFC 3339 time and a space. A frame is not a line: a long
//! line can come as several frames (each with its own time), several lines can share one.
//! [`LineAssembler`] turns frames into whole lines per stream, stamped with the time of
//! their first byte. A trailing piece without its newline is held back, so that reading
//! again later never counts one line twice.
//!
//! The API cannot resume at a byte offset, so the cursor handed to the host is the number
//! of lines read so far: each read starts from the beginning and skips that many (the
//! engine replays its log file in the order it was written, so the count is stable).

use whisk_spi::LogLine;

/// Builds whole lines out of the frames of both streams.
#[derive(Default)]
pub struct LineAssembler {
    stdout: Partial,
    stderr: Partial,
}

#[derive(Default)]
struct Partial {
    time: Option<String>,
    bytes: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl LineAssembler {
    /// Adds one frame's payload (timestamped) from `stream`; answers the lines it completed.
    pub fn push(&mut self, stream: Stream, payload: &[u8]) -> Vec<LogLine> {
        let mut completed = Vec::new();
        let (time, mut rest) = split_timestamp(payload);
        let partial = match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        };
        // The time of a line is the time of its first piece; a continuation frame (a long
        // line split by the engine) carries its own time, which is dropped.
        loop {
            if partial.time.is_none() {
                partial.time = Some(time.clone());
            }
            match rest.iter().position(|b| *b == b'\n') {
                Some(end) => {
                    partial.bytes.extend_from_slice(&rest[..end]);
                    let mut bytes = std::mem::take(&mut partial.bytes);
                    if bytes.last() == Some(&b'\r') {
                        bytes.pop();
                    }
                    completed.push(LogLine {
                        time: partial.time.take().unwrap_or_default().into(),
                        stream: match stream {
                            Stream::Stdout => "stdout",
                            Stream::Stderr => "stderr",
                        }
                        .into(),
                        message: String::from_utf8_lossy(&bytes).into_owned().into(),
                    });
                    rest = &rest[end + 1..];
                    if rest.is_empty() {
                        break;
                    }
                }
                None => {
                    partial.bytes.extend_from_slice(rest);
                    break;
                }
            }
        }
        completed
    }
}

/// Splits `2024-05-01T10:00:00.123456789Z rest` into the time (normalized to UTC with
/// fractional seconds, as `LogLine.time` promises) and the rest. A payload without a
/// leading time (an engine that ignores `timestamps`) gets an empty time.
fn split_timestamp(payload: &[u8]) -> (String, &[u8]) {
    let Some(space) = payload.iter().position(|b| *b == b' ') else {
        return (String::new(), payload);
    };
    let head = &payload[..space];
    let looks_like_time = head.len() >= 20
        && head[..4].iter().all(u8::is_ascii_digit)
        && head[4] == b'-'
        && head.get(10) == Some(&b'T');
    if !looks_like_time {
        return (String::new(), payload);
    }
    let time = String::from_utf8_lossy(head).into_owned();
    (normalize_time(&time), &payload[space + 1..])
}

/// Docker sends UTC times with nanoseconds and `Z`. podman 4.3's logs endpoints send whole
/// seconds (`2024-05-01T10:00:00Z`: its compat handler formats with Go's `RFC3339`), which
/// gets a zero fraction so that every line has the shape `LogLine.time` promises (the
/// precision is what the engine gave: the second). A `+00:00` offset becomes `Z`; other
/// offsets are left as they are (still RFC 3339).
pub fn normalize_time(time: &str) -> String {
    let utc = match time.strip_suffix("+00:00") {
        Some(base) => format!("{base}Z"),
        None => time.to_string(),
    };
    match utc.strip_suffix('Z') {
        Some(base) if !base.contains('.') => format!("{base}.000000000Z"),
        _ => utc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[LogLine]) -> Vec<(String, String, String)> {
        lines
            .iter()
            .map(|l| {
                (
                    l.time.to_string(),
                    l.stream.to_string(),
                    l.message.to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn frames_become_lines_per_stream() {
        let mut a = LineAssembler::default();
        let mut lines = a.push(Stream::Stdout, b"2024-05-01T10:00:00.000000001Z one\ntwo\n");
        lines.extend(a.push(Stream::Stderr, b"2024-05-01T10:00:00.000000002Z err\n"));
        lines.extend(a.push(Stream::Stdout, b"2024-05-01T10:00:00.000000003Z long "));
        lines.extend(a.push(Stream::Stdout, b"2024-05-01T10:00:00.000000004Z line\r\n"));
        lines.extend(a.push(Stream::Stdout, b"2024-05-01T10:00:00.000000005Z unfinished"));
        assert_eq!(
            texts(&lines),
            vec![
                (
                    "2024-05-01T10:00:00.000000001Z".into(),
                    "stdout".into(),
                    "one".into()
                ),
                (
                    "2024-05-01T10:00:00.000000001Z".into(),
                    "stdout".into(),
                    "two".into()
                ),
                (
                    "2024-05-01T10:00:00.000000002Z".into(),
                    "stderr".into(),
                    "err".into()
                ),
                (
                    "2024-05-01T10:00:00.000000003Z".into(),
                    "stdout".into(),
                    "long line".into()
                ),
            ]
        );
    }

    #[test]
    fn times_are_utc_and_missing_ones_empty() {
        let mut a = LineAssembler::default();
        let mut lines = a.push(Stream::Stdout, b"2024-05-01T10:00:00.5+00:00 x\n");
        lines.extend(a.push(Stream::Stdout, b"no time here\n"));
        lines.extend(a.push(Stream::Stdout, b"2024-05-01T10:00:01Z whole second\n"));
        let t = texts(&lines);
        assert_eq!(t[0].0, "2024-05-01T10:00:00.5Z");
        assert_eq!((t[1].0.as_str(), t[1].2.as_str()), ("", "no time here"));
        assert_eq!(t[2].0, "2024-05-01T10:00:01.000000000Z");
    }
}
