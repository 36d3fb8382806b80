//! An activation and invokers to place it on, the same as the probe host's
//! (`host/tests/fixtures/probe-host`): the fixture balancer picks the invoker with the most
//! free slots, [`MOST_FREE_SLOTS`].

use whisk_spi::{ActionLimits, ActivationRequest, InvokerHealth, InvokerState};

/// The id of the invoker with the most free slots among [`invokers`].
pub const MOST_FREE_SLOTS: u32 = 8;

pub fn invokers() -> Vec<InvokerState> {
    [(7, 1), (8, 5), (9, 2)]
        .into_iter()
        .map(|(id, free_slots)| InvokerState {
            id,
            name: format!("invoker{id}").into(),
            health: InvokerHealth::UP,
            free_memory_mb: 2048,
            total_memory_mb: 2048,
            free_slots,
        })
        .collect()
}

pub fn request() -> ActivationRequest {
    ActivationRequest {
        activation_id: "test-activation".into(),
        action: "guest/hello".into(),
        namespace: "guest".into(),
        kind: "nodejs:20".into(),
        limits: ActionLimits {
            timeout_ms: 60_000,
            memory_mb: 256,
            logs_mb: 10,
            concurrency: 1,
        },
        blackbox: false,
        pool: "default".into(),
    }
}
