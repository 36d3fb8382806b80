//! `logs`: one activation's lines, cut by whisk-spi's `container_logs` (sentinels on both
//! streams end an activation; the log limit truncates but the cursor still moves past the
//! sentinels).
//!
//! The cursor is an absolute index into the container's lines put in activation order by
//! `LineSequencer` (the engine interleaves stdout and stderr as it captured them, which can
//! put the next activation's first lines before this one's last sentinel).
//!
//! Two ways to the lines, giving the same cursors (both count from the log's first line):
//! - **the log file** (the warm path; see [`crate::log_file`]): when the engine's inspect names a
//!   `LogPath` this process can read and `log_files` is on, each container's file is read from
//!   where the last read stopped, and a read waiting for the sentinel polls the file (1 ms
//!   at first, backing off to 10 ms), checking every 250 ms that the container still runs. No
//!   engine request on the way, so the cost of a read does not grow with the container's age.
//! - **the logs API** otherwise (a daemon on another machine or in another mount namespace,
//!   a log driver without a file, `log_files = false`, or a file that cannot be read any
//!   more): each call reads the container's log from the start and sequences it again; both
//!   steps are deterministic, so the same cursor always means the same place. This costs a
//!   replay of the whole log per activation.

use crate::{factory::Factory, log_file::LogFile};
use std::time::{Duration, Instant};
use whisk_spi::{
    container_logs::{is_sentinel, read_activation, LineSequencer},
    ContainerHandle, ContainerLogs, ContainerStatus, LogLine, LogsRequest, PluginError,
};

/// Where a container's lines are read from; decided at its first `logs` call.
pub enum Source {
    File(Box<tokio::sync::Mutex<LogFile>>),
    Api,
}

/// How often a read waiting for the sentinel makes sure the container still runs.
const ALIVE_CHECK: Duration = Duration::from_millis(250);

pub async fn read(
    factory: &Factory,
    handle: &ContainerHandle,
    request: LogsRequest,
) -> Result<ContainerLogs, PluginError> {
    if let Source::File(file) = &*factory.log_source(handle).await? {
        let mut file = file.lock().await;
        match read_file(factory, handle, &mut file, request).await {
            Ok(logs) => return Ok(logs),
            Err(e) => tracing::warn!(
                container = handle.name.as_str(),
                error = %e,
                "cannot read the container's log file; reading through the logs API"
            ),
        }
    }
    read_api(factory, handle, request).await
}

async fn read_file(
    factory: &Factory,
    handle: &ContainerHandle,
    file: &mut LogFile,
    request: LogsRequest,
) -> std::io::Result<ContainerLogs> {
    let started = Instant::now();
    let deadline = started + Duration::from_millis(request.timeout_ms);
    let mut next_check = started + ALIVE_CHECK;
    let mut pause = Duration::from_millis(1);
    let mut truncated = false;
    loop {
        file.refill()?;
        let mut logs = file.read(request.since, request.limit_bytes);
        // A line dropped for memory is reported once; keep it across the polls.
        truncated |= logs.truncated;
        logs.truncated = truncated;
        if logs.complete || !request.wait_for_sentinel || Instant::now() >= deadline {
            return Ok(logs);
        }
        if Instant::now() >= next_check {
            next_check = Instant::now() + ALIVE_CHECK;
            // Bounded by the read's own deadline, however slowly the engine answers.
            let left = deadline.saturating_duration_since(Instant::now());
            let running = match tokio::time::timeout(left, factory.inspect(handle)).await {
                Ok(Ok(state)) => matches!(
                    state.status,
                    ContainerStatus::RUNNING | ContainerStatus::PAUSED
                ),
                // The engine is away or slow: the file still tells; wait on.
                Ok(Err(_)) | Err(_) => true,
            };
            if !running {
                // What it wrote before it ended is in the file by now.
                file.refill()?;
                let mut logs = file.read(request.since, request.limit_bytes);
                logs.truncated |= truncated;
                return Ok(logs);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause + Duration::from_millis(1)).min(Duration::from_millis(10));
    }
}

async fn read_api(
    factory: &Factory,
    handle: &ContainerHandle,
    request: LogsRequest,
) -> Result<ContainerLogs, PluginError> {
    let mut sequencer = LineSequencer::new();
    let mut buffer: Vec<LogLine> = Vec::new();
    let follow = request.wait_for_sentinel;
    let wait = if follow {
        Duration::from_millis(request.timeout_ms)
    } else {
        // Not waiting: this only bounds reading what is already there.
        Duration::from_secs(30)
    };
    factory
        .read_lines(&handle.id, follow, Instant::now() + wait, |line| {
            let released = sequencer.push(line);
            let sentinel_released = released.iter().any(is_sentinel);
            buffer.extend(released);
            // Stop following once this activation has both sentinels (only a sentinel can
            // complete it, so only then is it worth checking).
            follow && sentinel_released && read_activation(&buffer, request.since, 0).complete
        })
        .await?;
    Ok(read_activation(&buffer, request.since, request.limit_bytes))
}
