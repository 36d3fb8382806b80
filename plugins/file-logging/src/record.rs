//! What one stored log line is, how `collect` turns a container's lines into them, and how
//! they read in an activation record. Pure functions: no I/O here.

use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};
use whisk_spi::{ContainerLogs, LogContext};

/// The line the action proxy writes to stdout and stderr after each activation. The
/// container factory normally strips it; dropped here too in case one does not.
pub const SENTINEL: &str = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX";

/// One line of `activations.log`. The field order is the order on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub activation_id: String,
    pub namespace: String,
    pub action: String,
    pub stream: String,
    pub time: String,
    pub message: String,
}

impl Record {
    /// The line as an activation record shows it, in OpenWhisk's format
    /// (`LogLine.toFormattedString`: the time padded to 30 columns, then
    /// `<stream>: <message>` with one trailing line end stripped).
    pub fn formatted(&self) -> String {
        format!(
            "{:<30} {}: {}",
            self.time,
            self.stream,
            strip_line_end(&self.message)
        )
    }
}

/// Scala's `stripLineEnd`: removes one trailing `\n`, `\r\n` or `\r`.
fn strip_line_end(message: &str) -> &str {
    message
        .strip_suffix("\r\n")
        .or_else(|| message.strip_suffix('\n'))
        .or_else(|| message.strip_suffix('\r'))
        .unwrap_or(message)
}

/// OpenWhisk's `Messages.truncateLogs`, word for word: clients and tests look for it.
pub fn truncation_notice(limit_bytes: u64) -> String {
    format!("Logs were truncated because the total bytes size exceeds the limit of {limit_bytes} bytes.")
}

/// The records to store for one activation: the container's lines without sentinels, cut
/// once their messages together exceed `context.limit_bytes`, followed by OpenWhisk's
/// truncation notice (on `stderr`, timed `now`) when they were cut here or the factory
/// already cut them (`logs.truncated`).
///
/// As in OpenWhisk, a limit of 0 keeps no line at all: `limit_bytes` is the action's log
/// limit and 0 MB is a valid one there.
pub fn records_for(context: &LogContext, logs: &ContainerLogs, now: &str) -> Vec<Record> {
    let record = |stream: &str, time: &str, message: &str| Record {
        activation_id: context.activation_id.to_string(),
        namespace: context.namespace.to_string(),
        action: context.action.to_string(),
        stream: stream.to_owned(),
        time: time.to_owned(),
        message: message.to_owned(),
    };
    let mut records = Vec::with_capacity(logs.lines.len());
    let mut total: u64 = 0;
    let mut truncated = logs.truncated;
    for line in logs.lines.iter() {
        if line.message.trim() == SENTINEL {
            continue;
        }
        total = total.saturating_add(line.message.len() as u64);
        if total > context.limit_bytes {
            // OpenWhisk's stream fails on the element that crosses the limit: that line is
            // dropped whole, not cut.
            truncated = true;
            break;
        }
        records.push(record(&line.stream, &line.time, &line.message));
    }
    if truncated {
        records.push(record(
            "stderr",
            now,
            &truncation_notice(context.limit_bytes),
        ));
    }
    records
}

/// The current time as OpenWhisk's `Instant.now.toString` writes it, at nanosecond precision:
/// `2026-11-25T18:00:00.123456789Z`.
pub fn now_rfc3339() -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(since_epoch.as_secs(), since_epoch.subsec_nanos())
}

fn rfc3339(secs: u64, nanos: u32) -> String {
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let of_day = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`),
/// so that one timestamp does not need a date crate.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use whisk_spi::{ContainerHandle, LogLine};

    fn context(limit_bytes: u64) -> LogContext {
        LogContext {
            activation_id: "a1".into(),
            namespace: "guest".into(),
            action: "guest/hello".into(),
            limit_bytes,
            container: ContainerHandle {
                id: "c".into(),
                name: "c".into(),
                address: "127.0.0.1:1".into(),
            },
        }
    }

    fn logs(messages: &[&str]) -> ContainerLogs {
        ContainerLogs {
            lines: messages
                .iter()
                .map(|m| LogLine {
                    time: "2026-11-25T18:00:00.123456789Z".into(),
                    stream: "stdout".into(),
                    message: (*m).into(),
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn formats_like_openwhisk() {
        let r = records_for(&context(100), &logs(&["hello\n"]), "now");
        assert_eq!(
            r[0].formatted(),
            "2026-11-25T18:00:00.123456789Z stdout: hello"
        );
        let short_time = Record {
            time: "2026-11-25T18:00:00Z".into(),
            ..r[0].clone()
        };
        assert_eq!(
            short_time.formatted(),
            "2026-11-25T18:00:00Z           stdout: hello"
        );
        assert_eq!(strip_line_end("  a\r\n\n"), "  a\r\n");
    }

    #[test]
    fn the_line_that_crosses_the_limit_is_dropped_whole() {
        let r = records_for(&context(10), &logs(&["12345", "12345", "1"]), "NOW");
        let messages: Vec<&str> = r.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "12345",
                "12345",
                "Logs were truncated because the total bytes size exceeds the limit of 10 bytes."
            ]
        );
        assert_eq!(r[2].stream, "stderr");
        assert_eq!(r[2].time, "NOW");
    }

    #[test]
    fn sentinels_do_not_count_and_are_not_kept() {
        let r = records_for(&context(5), &logs(&["12345", SENTINEL, SENTINEL]), "now");
        assert_eq!(r.len(), 1, "{r:?}");
    }

    #[test]
    fn a_factory_truncation_adds_one_notice() {
        let mut cut = logs(&["a", "b"]);
        cut.truncated = true;
        let r = records_for(&context(1), &cut, "now");
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[1].message, truncation_notice(1));
    }

    #[test]
    fn timestamps_are_calendar_correct() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(
            rfc3339(1_700_000_000, 123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(rfc3339(4_102_444_799, 0), "2099-12-31T23:59:59.000000000Z");
        assert_eq!(now_rfc3339().len(), 30);
    }
}
