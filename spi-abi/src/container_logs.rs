//! Reading one activation's logs out of what a container wrote: the part every container
//! factory shares.
//!
//! An OpenWhisk action container has no per-activation log channel. The action's logs are the
//! container's stdout and stderr, and the action proxy ends each activation by writing
//! [`SENTINEL`] on both streams. Whatever captures those streams (a child process's pipes, a
//! container engine's log API) ends up with one ordered buffer of [`LogLine`]s per container,
//! and `ContainerFactory::logs` must answer from it: "the lines of the next activation, from
//! this cursor". Getting that right has a few traps, which is why it lives here once rather
//! than in every factory:
//!
//! - an activation is over only when *both* streams' sentinels have arrived; the sentinel
//!   lines themselves are not logs;
//! - the two streams are read separately, so the first lines of the next activation on one
//!   stream can be captured before the other stream's sentinel of this one; [`LineSequencer`]
//!   holds such lines back so that the buffer stays in activation order;
//! - a log limit cuts the lines short, but the cursor must still move past the sentinels, or
//!   the rest of a chatty activation would become the next one's logs ([`read_activation`]);
//! - each line carries an RFC 3339 UTC time with nanoseconds ([`rfc3339_utc`]), written here
//!   without a date crate so that `whisk-spi` gains no dependency.
//!
//! Everything here is pure: no I/O, no clock except where one is passed in.

use crate::types::{ContainerLogs, LogLine};
use abi_stable::std_types::RVec;
use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

/// The line that ends an activation's logs, on stdout and on stderr (OpenWhisk's value).
pub const SENTINEL: &str = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX";

/// The name of the standard output stream in [`LogLine::stream`].
pub const STDOUT: &str = "stdout";
/// The name of the standard error stream in [`LogLine::stream`].
pub const STDERR: &str = "stderr";

/// Whether `line` is an end-of-activation sentinel (a trailing `\r` is tolerated).
pub fn is_sentinel(line: &LogLine) -> bool {
    line.message.trim_end_matches('\r') == SENTINEL
}

/// A [`LogLine`] stamped with `time`.
pub fn log_line(time: SystemTime, stream: &str, message: impl Into<String>) -> LogLine {
    LogLine {
        time: rfc3339_utc(time).into(),
        stream: stream.into(),
        message: message.into().into(),
    }
}

/// Reads the activation that starts at `cursor` (an index into `buffer`; 0 = the first line).
///
/// Answers the activation's lines, sentinels left out, in buffer order. `complete` is set once
/// the sentinel of both stdout and stderr has been seen; the returned cursor then points just
/// past the later of the two, where the next activation starts. Until then the cursor points
/// past the last line read, and `complete` is false (the caller may wait for more lines and
/// read on from there, or give up).
///
/// `limit_bytes` (0 = no limit) bounds the sum of the returned messages' lengths in bytes: the
/// first line that would exceed it, and every line after it, is left out and `truncated` is
/// set. Lines left out are still consumed, so the cursor moves past the sentinels all the same
/// and the next activation starts clean.
///
/// `buffer` is expected in activation order (each activation's lines and both its sentinels
/// before any line of the next), as [`LineSequencer`] produces it. In a buffer that is not, a
/// line written after its own stream's sentinel is counted in with this activation rather than
/// lost.
pub fn read_activation(buffer: &[LogLine], cursor: u64, limit_bytes: u64) -> ContainerLogs {
    let start = usize::try_from(cursor).map_or(buffer.len(), |c| c.min(buffer.len()));
    let mut lines = RVec::new();
    let mut bytes: u64 = 0;
    let mut truncated = false;
    let (mut stdout_ended, mut stderr_ended) = (false, false);
    let mut position = start;
    for line in &buffer[start..] {
        position += 1;
        if is_sentinel(line) {
            match line.stream.as_str() {
                STDOUT => stdout_ended = true,
                STDERR => stderr_ended = true,
                _ => {}
            }
            if stdout_ended && stderr_ended {
                break;
            }
            continue;
        }
        if truncated {
            continue;
        }
        let size = line.message.len() as u64;
        if limit_bytes != 0 && bytes + size > limit_bytes {
            truncated = true;
            continue;
        }
        bytes += size;
        lines.push(line.clone());
    }
    ContainerLogs {
        lines,
        cursor: position as u64,
        truncated,
        complete: stdout_ended && stderr_ended,
    }
}

/// Puts lines captured from stdout and stderr separately into activation order.
///
/// The two streams are read by separate readers, so after the proxy has written both
/// sentinels, stdout's sentinel and the next activation's first stdout lines can be captured
/// before stderr's sentinel. Appended as they come, those lines would sit before stderr's
/// sentinel and be read as part of the activation that just ended. The sequencer counts the
/// sentinels of each stream and holds back a line of a stream that is ahead of the other until
/// the other catches up (or ends), so the buffer it feeds is what [`read_activation`] expects.
///
/// Lines of any stream other than stdout and stderr pass straight through.
#[derive(Debug, Default)]
pub struct LineSequencer {
    stdout: StreamOrder,
    stderr: StreamOrder,
}

#[derive(Debug, Default)]
struct StreamOrder {
    /// Sentinels received on this stream: the activation its next line belongs to.
    sentinels: u64,
    /// Lines not yet released, each with the activation it belongs to (oldest first).
    held: VecDeque<(u64, LogLine)>,
    /// The stream has ended (end of file): the other one no longer waits for it.
    ended: bool,
}

impl StreamOrder {
    /// Whether a line of activation `activation` on the *other* stream may go into the
    /// buffer: this stream has finished every earlier activation, or will write no more.
    fn allows(&self, activation: u64) -> bool {
        self.ended || self.sentinels >= activation
    }
}

impl LineSequencer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a captured line; answers the lines that may now be appended to the buffer, in
    /// order (none if `line` is held back, several if it releases the other stream's lines).
    pub fn push(&mut self, line: LogLine) -> Vec<LogLine> {
        let sentinel = is_sentinel(&line);
        let (this, other) = match line.stream.as_str() {
            STDOUT => (&mut self.stdout, &mut self.stderr),
            STDERR => (&mut self.stderr, &mut self.stdout),
            _ => return vec![line],
        };
        this.held.push_back((this.sentinels, line));
        if sentinel {
            this.sentinels += 1;
        }
        let mut released = Vec::new();
        // The new line first (unless this stream is ahead and it must wait); if it was a
        // sentinel, it may let lines of the other stream go, which may in turn be sentinels
        // that let more of this stream go.
        drain(this, other, &mut released);
        drain(other, this, &mut released);
        drain(this, other, &mut released);
        released
    }

    /// The stream `stream` has ended: answers the lines of the other stream that were
    /// waiting for it, and lets every later line through.
    pub fn end(&mut self, stream: &str) -> Vec<LogLine> {
        let (this, other) = match stream {
            STDOUT => (&mut self.stdout, &mut self.stderr),
            STDERR => (&mut self.stderr, &mut self.stdout),
            _ => return Vec::new(),
        };
        this.ended = true;
        let mut released = Vec::new();
        drain(other, this, &mut released);
        drain(this, other, &mut released);
        released
    }

    /// Lines held back, on both streams.
    pub fn held(&self) -> usize {
        self.stdout.held.len() + self.stderr.held.len()
    }
}

/// Releases `from`'s held lines, oldest first, while `other` allows them.
fn drain(from: &mut StreamOrder, other: &StreamOrder, out: &mut Vec<LogLine>) {
    while let Some((activation, _)) = from.held.front() {
        if !other.allows(*activation) {
            break;
        }
        if let Some((_, line)) = from.held.pop_front() {
            out.push(line);
        }
    }
}

/// `time` as RFC 3339 in UTC with nanoseconds: `2024-02-29T13:45:30.123456789Z`.
///
/// Docker's log timestamps have this shape, so lines from every factory look alike.
pub fn rfc3339_utc(time: SystemTime) -> String {
    // Whole seconds and nanoseconds since the epoch, floor-divided so that times before
    // 1970 come out right too.
    let (seconds, nanos) = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (after.as_secs() as i64, after.subsec_nanos()),
        Err(before) => {
            let before = before.duration();
            let (secs, nanos) = (before.as_secs() as i64, before.subsec_nanos());
            if nanos == 0 {
                (-secs, 0)
            } else {
                (-secs - 1, 1_000_000_000 - nanos)
            }
        }
    };
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date (year, month 1–12, day 1–31) of `days` since 1970-01-01.
///
/// Howard Hinnant's `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>):
/// count in 400-year eras of 146 097 days starting on 0000-03-01, so that the leap day is the
/// last day of a year and every month's length follows from a linear formula.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // [0, 399]
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365]
    let month_from_march = (5 * day_of_year + 2) / 153; // [0, 11], 0 = March
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32; // [1, 31]
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn line(stream: &str, message: &str) -> LogLine {
        log_line(UNIX_EPOCH, stream, message)
    }
    fn out(message: &str) -> LogLine {
        line(STDOUT, message)
    }
    fn err(message: &str) -> LogLine {
        line(STDERR, message)
    }
    fn messages(logs: &ContainerLogs) -> Vec<&str> {
        logs.lines.iter().map(|l| l.message.as_str()).collect()
    }

    #[test]
    fn civil_from_days_matches_known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(59), (1970, 3, 1)); // 1970 is not a leap year
        assert_eq!(civil_from_days(10_957), (2000, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29)); // divisible by 400: leap
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(19_783), (2024, 3, 1));
        assert_eq!(civil_from_days(47_540), (2100, 2, 28)); // divisible by 100: not leap
        assert_eq!(civil_from_days(47_541), (2100, 3, 1));
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
        assert_eq!(civil_from_days(-141_427), (1582, 10, 15)); // first Gregorian day
        assert_eq!(civil_from_days(2_932_896), (9999, 12, 31));
    }

    #[test]
    fn civil_from_days_is_continuous_over_centuries() {
        // Walks day by day from 1600-01-01 to 2400-12-31 checking each step by the calendar
        // rules, independently of the formula.
        let is_leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let month_len = |y: i64, m: u32| match m {
            2 if is_leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let start = -135_140; // 1600-01-01
        let mut expected = (1600_i64, 1_u32, 1_u32);
        for days in start..start + 292_560 {
            assert_eq!(civil_from_days(days), expected, "day {days}");
            let (y, m, d) = expected;
            expected = if d < month_len(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
        assert_eq!(expected, (2401, 1, 1));
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_nanoseconds() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_709_214_330, 123_456_789);
        assert_eq!(rfc3339_utc(t), "2024-02-29T13:45:30.123456789Z");
        let t = UNIX_EPOCH + Duration::new(951_868_799, 999_999_999);
        assert_eq!(rfc3339_utc(t), "2000-02-29T23:59:59.999999999Z");
        let t = UNIX_EPOCH - Duration::new(0, 1);
        assert_eq!(rfc3339_utc(t), "1969-12-31T23:59:59.999999999Z");
        let t = UNIX_EPOCH - Duration::new(86_400, 0);
        assert_eq!(rfc3339_utc(t), "1969-12-31T00:00:00.000000000Z");
        let now = rfc3339_utc(SystemTime::now());
        assert_eq!(now.len(), "2024-02-29T13:45:30.123456789Z".len());
        assert!(now.ends_with('Z'));
    }

    #[test]
    fn reads_one_activation_without_sentinels() {
        let buffer = [
            out("a"),
            err("b"),
            out(SENTINEL),
            err(SENTINEL),
            out("next"),
        ];
        let logs = read_activation(&buffer, 0, 0);
        assert_eq!(messages(&logs), ["a", "b"]);
        assert!(logs.complete);
        assert!(!logs.truncated);
        assert_eq!(logs.cursor, 4);
        assert_eq!(logs.lines[1].stream.as_str(), STDERR);
    }

    #[test]
    fn successive_activations_are_separate() {
        let buffer = [
            out("first"),
            out(SENTINEL),
            err(SENTINEL),
            err("second"),
            err(SENTINEL),
            out(SENTINEL),
        ];
        let first = read_activation(&buffer, 0, 0);
        assert_eq!(messages(&first), ["first"]);
        let second = read_activation(&buffer, first.cursor, 0);
        assert_eq!(messages(&second), ["second"]);
        assert!(second.complete);
        assert_eq!(second.cursor, 6);
        let nothing = read_activation(&buffer, second.cursor, 0);
        assert!(nothing.lines.is_empty() && !nothing.complete);
        assert_eq!(nothing.cursor, 6);
    }

    #[test]
    fn an_activation_without_logs_is_complete_and_empty() {
        let buffer = [err(SENTINEL), out(SENTINEL)];
        let logs = read_activation(&buffer, 0, 0);
        assert!(logs.complete && logs.lines.is_empty());
        assert_eq!(logs.cursor, 2);
    }

    #[test]
    fn without_both_sentinels_it_is_incomplete_and_reads_on_from_the_cursor() {
        let mut buffer = vec![out("a"), out(SENTINEL), err("b")];
        let partial = read_activation(&buffer, 0, 0);
        assert_eq!(messages(&partial), ["a", "b"]);
        assert!(!partial.complete);
        assert_eq!(partial.cursor, 3);
        buffer.extend([err("c"), err(SENTINEL)]);
        let rest = read_activation(&buffer, partial.cursor, 0);
        assert_eq!(messages(&rest), ["c"]);
        // Only stderr's sentinel is in this read: the caller knows it read the first part.
        assert!(!rest.complete);
        assert_eq!(rest.cursor, 5);
    }

    #[test]
    fn a_cursor_past_the_end_reads_nothing() {
        let buffer = [out("a")];
        let logs = read_activation(&buffer, 99, 0);
        assert!(logs.lines.is_empty());
        assert_eq!(logs.cursor, 1);
        let logs = read_activation(&buffer, u64::MAX, 0);
        assert_eq!(logs.cursor, 1);
    }

    #[test]
    fn the_limit_truncates_but_the_cursor_still_passes_the_sentinels() {
        let buffer = [
            out("12345"),
            err("67890"),
            out("abc"),
            out("d"),
            out(SENTINEL),
            err(SENTINEL),
            out("next"),
            out(SENTINEL),
            err(SENTINEL),
        ];
        let logs = read_activation(&buffer, 0, 10);
        assert_eq!(messages(&logs), ["12345", "67890"]);
        assert!(logs.truncated && logs.complete);
        assert_eq!(logs.cursor, 6);
        // "d" would fit after "abc" was refused, but the cut is final: no gaps in the logs.
        let logs = read_activation(&buffer, 0, 12);
        assert_eq!(messages(&logs), ["12345", "67890"]);
        let next = read_activation(&buffer, logs.cursor, 10);
        assert_eq!(messages(&next), ["next"]);
        assert!(!next.truncated && next.complete);
        // Exactly at the limit is not over it.
        let logs = read_activation(&buffer, 0, 14);
        assert_eq!(messages(&logs), ["12345", "67890", "abc", "d"]);
        assert!(!logs.truncated);
    }

    #[test]
    fn the_limit_counts_bytes_not_characters() {
        let buffer = [out("ééé"), out(SENTINEL), err(SENTINEL)];
        let logs = read_activation(&buffer, 0, 5);
        assert!(logs.lines.is_empty() && logs.truncated && logs.complete);
    }

    #[test]
    fn a_sentinel_with_carriage_return_counts() {
        let buffer = [
            out("x"),
            out("XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\r"),
            err(SENTINEL),
        ];
        let logs = read_activation(&buffer, 0, 0);
        assert!(logs.complete);
        assert_eq!(messages(&logs), ["x"]);
        assert!(!is_sentinel(&out(
            "say XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
        )));
    }

    fn sequence(sequencer: &mut LineSequencer, lines: Vec<LogLine>) -> Vec<String> {
        lines
            .into_iter()
            .flat_map(|l| sequencer.push(l))
            .map(|l| format!("{}:{}", l.stream, l.message))
            .collect()
    }

    #[test]
    fn the_sequencer_holds_back_a_stream_that_is_ahead() {
        let mut s = LineSequencer::new();
        let released = sequence(
            &mut s,
            vec![
                out("a"),
                out(SENTINEL),
                out("next-out"), // captured before stderr's sentinel
                err("b"),
                err(SENTINEL),
                err("next-err"),
            ],
        );
        assert_eq!(
            released,
            [
                "stdout:a".to_string(),
                format!("stdout:{SENTINEL}"),
                "stderr:b".to_string(),
                format!("stderr:{SENTINEL}"),
                "stdout:next-out".to_string(),
                "stderr:next-err".to_string(),
            ]
        );
        assert_eq!(s.held(), 0);
    }

    #[test]
    fn the_sequenced_buffer_reads_as_separate_activations() {
        let mut s = LineSequencer::new();
        let mut buffer = Vec::new();
        for l in [
            out("1"),
            out(SENTINEL),
            out("2"),
            out(SENTINEL),
            out("3"),
            err("e1"),
            err(SENTINEL),
            err("e2"),
            err(SENTINEL),
        ] {
            buffer.extend(s.push(l));
        }
        let first = read_activation(&buffer, 0, 0);
        assert_eq!(messages(&first), ["1", "e1"]);
        assert!(first.complete);
        let second = read_activation(&buffer, first.cursor, 0);
        assert_eq!(messages(&second), ["2", "e2"]);
        assert!(second.complete);
        let third = read_activation(&buffer, second.cursor, 0);
        assert_eq!(messages(&third), ["3"]);
        assert!(!third.complete);
    }

    #[test]
    fn an_ended_stream_releases_the_other() {
        let mut s = LineSequencer::new();
        assert_eq!(
            sequence(&mut s, vec![err(SENTINEL), err("late")]).len(),
            1,
            "the line after stderr's sentinel waits for stdout"
        );
        let released = s.end(STDOUT);
        assert_eq!(released.len(), 1);
        assert_eq!(released[0].message.as_str(), "late");
        assert_eq!(sequence(&mut s, vec![err(SENTINEL), err("more")]).len(), 2);
    }

    #[test]
    fn other_streams_pass_through() {
        let mut s = LineSequencer::new();
        s.push(out(SENTINEL));
        assert_eq!(s.push(line("system", "x")).len(), 1);
        assert_eq!(s.held(), 0);
    }
}
