//! `logs`: one activation's lines, from the engine's log stream, cut by whisk-spi's
//! `container_logs` (sentinels on both streams end an activation; the log limit truncates
//! but the cursor still moves past the sentinels).
//!
//! The cursor is an index into the container's lines put in activation order by
//! `LineSequencer` (the engine interleaves stdout and stderr as it captured them, which can
//! put the next activation's first lines before this one's last sentinel). Each call reads
//! the container's log from the start and sequences it again; both steps are
//! deterministic, so the same cursor always means the same place.

use crate::factory::Factory;
use std::time::{Duration, Instant};
use whisk_spi::{
    container_logs::{is_sentinel, read_activation, LineSequencer},
    ContainerHandle, ContainerLogs, LogLine, LogsRequest, PluginError,
};

pub async fn read(
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
