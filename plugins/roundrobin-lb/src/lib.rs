//! # roundrobin-lb: a round-robin LoadBalancer plugin for whisk
//!
//! Rotates over the invokers of a pool, skipping those that are not healthy or full (no
//! free slot). Among the usable ones it prefers an invoker with enough free memory to start
//! the action at once; when every usable invoker's memory is taken it still places the
//! activation on the next usable one, where it queues (OpenWhisk's balancer does the same
//! when the system is overloaded). When none is usable, the error says why each was
//! skipped. Counts the activations it placed until they complete, per namespace and per
//! invoker.
//!
//! Config (`[plugins.roundrobin-lb]`): none; an unknown key is an error.

use serde::Deserialize;
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
};
use whisk_spi::{
    abi::LoadBalancerBox, ActivationRequest, ActiveActivations, Completion, InvokerCount,
    InvokerState, LoadBalancer, NamespaceCount, Plugin, PluginConfig, PluginError, SpiKind,
};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {}

/// The plugin: provides the LoadBalancer SPI.
pub struct RoundRobinPlugin;

impl Plugin for RoundRobinPlugin {
    const PROVIDES: &'static [SpiKind] = &[SpiKind::LOAD_BALANCER];
    const DESCRIPTION: &'static str =
        "round-robin over healthy invokers with free capacity; counts active activations";

    fn load_balancer(config: PluginConfig) -> Result<LoadBalancerBox, PluginError> {
        let _: Config = config.parse()?;
        Ok(whisk_spi::into_load_balancer(RoundRobin::default()))
    }
}

whisk_spi::export_plugin!(RoundRobinPlugin);

/// Where an activation was placed, until it completes.
struct Placement {
    invoker: u32,
    namespace: String,
}

#[derive(Default)]
pub struct RoundRobin {
    next: AtomicUsize,
    active: Mutex<HashMap<String, Placement>>,
}

/// Why an invoker cannot take `request` at all, or `None` if it can.
fn unusable_because(invoker: &InvokerState) -> Option<String> {
    if !invoker.health.is_usable() {
        return Some(format!("{} is {}", invoker.name, invoker.health));
    }
    if invoker.free_slots == 0 {
        return Some(format!("{} has no free slot", invoker.name));
    }
    None
}

fn has_memory_for(invoker: &InvokerState, request: &ActivationRequest) -> bool {
    invoker.free_memory_mb >= u64::from(request.limits.memory_mb)
}

impl LoadBalancer for RoundRobin {
    fn choose_invoker(
        &self,
        request: &ActivationRequest,
        invokers: &[InvokerState],
    ) -> Result<u32, PluginError> {
        if invokers.is_empty() {
            return Err(PluginError::no_capacity(format!(
                "pool `{}` has no invokers",
                request.pool
            )));
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = invokers.len();
        let mut reasons = Vec::new();
        let mut queue_on: Option<&InvokerState> = None;
        let mut chosen: Option<&InvokerState> = None;
        for offset in 0..n {
            let candidate = &invokers[(start + offset) % n];
            match unusable_because(candidate) {
                Some(reason) => reasons.push(reason),
                None if has_memory_for(candidate, request) => {
                    chosen = Some(candidate);
                    break;
                }
                None => {
                    queue_on.get_or_insert(candidate);
                }
            }
        }
        let Some(invoker) = chosen.or(queue_on) else {
            return Err(PluginError::no_capacity(format!(
                "no invoker of pool `{}` can take {} now: {}",
                request.pool,
                request.action,
                reasons.join("; ")
            )));
        };
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        active.insert(
            request.activation_id.to_string(),
            Placement {
                invoker: invoker.id,
                namespace: request.namespace.to_string(),
            },
        );
        tracing::debug!(activation = %request.activation_id, invoker = %invoker.name, "placed");
        Ok(invoker.id)
    }

    fn completed(&self, completion: &Completion) -> Result<(), PluginError> {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if active.remove(completion.activation_id.as_str()).is_none() {
            tracing::warn!(activation = %completion.activation_id, "completion of an activation this balancer did not place");
        }
        Ok(())
    }

    fn active(&self) -> Result<ActiveActivations, PluginError> {
        let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        let mut per_namespace: HashMap<&str, u64> = HashMap::new();
        let mut per_invoker: HashMap<u32, u64> = HashMap::new();
        for placement in active.values() {
            *per_namespace.entry(&placement.namespace).or_default() += 1;
            *per_invoker.entry(placement.invoker).or_default() += 1;
        }
        let mut per_namespace: Vec<NamespaceCount> = per_namespace
            .into_iter()
            .map(|(namespace, count)| NamespaceCount {
                namespace: namespace.into(),
                count,
            })
            .collect();
        per_namespace.sort_by(|a, b| a.namespace.cmp(&b.namespace));
        let mut per_invoker: Vec<InvokerCount> = per_invoker
            .into_iter()
            .map(|(invoker, count)| InvokerCount { invoker, count })
            .collect();
        per_invoker.sort_by_key(|c| c.invoker);
        Ok(ActiveActivations {
            total: active.len() as u64,
            per_namespace: per_namespace.into(),
            per_invoker: per_invoker.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whisk_spi::{ActionLimits, InvokerHealth};

    fn invoker(
        id: u32,
        health: InvokerHealth,
        free_memory_mb: u64,
        free_slots: u32,
    ) -> InvokerState {
        InvokerState {
            id,
            name: format!("invoker{id}").into(),
            health,
            free_memory_mb,
            total_memory_mb: 1024,
            free_slots,
        }
    }

    fn request(id: &str, namespace: &str) -> ActivationRequest {
        ActivationRequest {
            activation_id: id.into(),
            action: format!("{namespace}/hello").into(),
            namespace: namespace.into(),
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

    #[test]
    fn rotates_over_usable_invokers() {
        let lb = RoundRobin::default();
        let invokers = [
            invoker(0, InvokerHealth::UP, 1024, 4),
            invoker(1, InvokerHealth::UP, 1024, 4),
            invoker(2, InvokerHealth::UP, 1024, 4),
        ];
        let picks: Vec<u32> = (0..6)
            .map(|i| {
                lb.choose_invoker(&request(&format!("a{i}"), "guest"), &invokers)
                    .unwrap()
            })
            .collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn skips_unhealthy_and_full_invokers_and_prefers_free_memory() {
        let lb = RoundRobin::default();
        let invokers = [
            invoker(0, InvokerHealth::UNHEALTHY, 1024, 4),
            invoker(1, InvokerHealth::UP, 100, 4),
            invoker(2, InvokerHealth::UP, 1024, 0),
            invoker(3, InvokerHealth::UP, 1024, 4),
        ];
        for i in 0..4 {
            let pick = lb
                .choose_invoker(&request(&format!("a{i}"), "guest"), &invokers)
                .unwrap();
            assert_eq!(pick, 3);
        }
    }

    #[test]
    fn queues_on_a_usable_invoker_when_memory_is_taken_everywhere() {
        let lb = RoundRobin::default();
        let invokers = [
            invoker(0, InvokerHealth::DOWN, 1024, 4),
            invoker(1, InvokerHealth::UP, 0, 4),
        ];
        assert_eq!(
            lb.choose_invoker(&request("a", "guest"), &invokers)
                .unwrap(),
            1
        );
    }

    #[test]
    fn explains_when_no_invoker_is_usable() {
        let lb = RoundRobin::default();
        let invokers = [
            invoker(0, InvokerHealth::DOWN, 1024, 4),
            invoker(1, InvokerHealth::UP, 128, 0),
        ];
        let err = lb
            .choose_invoker(&request("a", "guest"), &invokers)
            .unwrap_err();
        assert_eq!(err.kind, whisk_spi::ErrorKind::NO_CAPACITY);
        assert!(err.message.contains("invoker0 is down"), "{err}");
        assert!(err.message.contains("invoker1 has no free slot"), "{err}");
        let none = lb.choose_invoker(&request("b", "guest"), &[]).unwrap_err();
        assert!(none.message.contains("has no invokers"), "{none}");
        assert_eq!(
            lb.active().unwrap().total,
            0,
            "failed placements are not counted"
        );
    }

    #[test]
    fn counts_active_until_completed() {
        let lb = RoundRobin::default();
        let invokers = [
            invoker(0, InvokerHealth::UP, 1024, 4),
            invoker(1, InvokerHealth::UP, 1024, 4),
        ];
        lb.choose_invoker(&request("a", "guest"), &invokers)
            .unwrap();
        lb.choose_invoker(&request("b", "guest"), &invokers)
            .unwrap();
        lb.choose_invoker(&request("c", "other"), &invokers)
            .unwrap();
        let active = lb.active().unwrap();
        assert_eq!(active.total, 3);
        assert_eq!(active.per_namespace[0].namespace.as_str(), "guest");
        assert_eq!(active.per_namespace[0].count, 2);
        assert_eq!(
            active.per_invoker.as_slice(),
            [
                InvokerCount {
                    invoker: 0,
                    count: 2
                },
                InvokerCount {
                    invoker: 1,
                    count: 1
                },
            ]
        );
        lb.completed(&Completion {
            activation_id: "a".into(),
            invoker: 0,
            namespace: "guest".into(),
            forced: false,
            system_error: false,
        })
        .unwrap();
        assert_eq!(lb.active().unwrap().total, 2);
    }

    #[test]
    fn unknown_config_keys_are_refused() {
        let err = match RoundRobinPlugin::load_balancer(PluginConfig::new("weight = 3")) {
            Err(e) => e,
            Ok(_) => panic!("an unknown key was accepted"),
        };
        assert_eq!(err.kind, whisk_spi::ErrorKind::INVALID_CONFIG);
        assert!(err.message.contains("weight"), "{err}");
    }
}
