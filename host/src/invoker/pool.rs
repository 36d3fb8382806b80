//! The bookkeeping of one invoker's containers: memory in use, warm reuse, idle eviction.
//! Plain data under the invoker's mutex; nothing here awaits.

use super::ProxyClient;
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use whisk_spi::ContainerHandle;

/// A running container with an initialized action.
pub struct Container {
    pub handle: ContainerHandle,
    /// Which action it holds: namespace, name and version.
    pub key: String,
    pub memory_mb: u32,
    pub concurrency: u32,
    pub client: ProxyClient,
    pub(super) usage: Mutex<Usage>,
    /// Serializes suspend and resume of this container.
    pub(super) pausing: tokio::sync::Mutex<Paused>,
}

/// Whether the factory has the container suspended.
#[derive(Default)]
pub(super) struct Paused(pub bool);

pub(super) struct Usage {
    pub active: u32,
    pub last_used: Instant,
    /// Where the next activation's logs start (the factory's cursor).
    pub log_cursor: u64,
    pub removed: bool,
}

impl Container {
    pub(super) fn new(
        handle: ContainerHandle,
        key: String,
        memory_mb: u32,
        concurrency: u32,
    ) -> Self {
        let client = ProxyClient::new(handle.address.to_string());
        Self {
            handle,
            key,
            memory_mb,
            concurrency: concurrency.max(1),
            client,
            usage: Mutex::new(Usage {
                active: 1,
                last_used: Instant::now(),
                log_cursor: 0,
                removed: false,
            }),
            pausing: tokio::sync::Mutex::new(Paused(false)),
        }
    }

    pub(super) fn usage(&self) -> std::sync::MutexGuard<'_, Usage> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot if the container has one free.
    fn try_take(&self) -> bool {
        let mut usage = self.usage();
        if !usage.removed && usage.active < self.concurrency {
            usage.active += 1;
            true
        } else {
            false
        }
    }

    /// Gives a slot back.
    pub(super) fn release(&self) {
        let mut usage = self.usage();
        usage.active = usage.active.saturating_sub(1);
        usage.last_used = Instant::now();
    }

    pub(super) fn is_idle(&self) -> bool {
        self.usage().active == 0
    }
}

#[derive(Default)]
pub(super) struct PoolState {
    pub containers: Vec<Arc<Container>>,
    /// Memory held for containers being created.
    pub reserved_mb: u64,
}

/// What `acquire` decided.
pub(super) enum Grant {
    /// A warm container; a slot is taken.
    Warm(Arc<Container>),
    /// Memory is reserved for a new container; these idle ones were evicted for it.
    Cold { evicted: Vec<Arc<Container>> },
    /// Wait for capacity.
    Wait,
}

impl PoolState {
    fn used_mb(&self) -> u64 {
        self.reserved_mb
            + self
                .containers
                .iter()
                .map(|c| u64::from(c.memory_mb))
                .sum::<u64>()
    }

    /// Memory held by busy containers and creations: idle containers can be evicted, so
    /// their memory counts as free for the load balancer.
    pub fn busy_memory_mb(&self) -> u64 {
        self.reserved_mb
            + self
                .containers
                .iter()
                .filter(|c| !c.is_idle())
                .map(|c| u64::from(c.memory_mb))
                .sum::<u64>()
    }

    pub fn grant(&mut self, key: &str, memory_mb: u32, budget_mb: u64) -> Grant {
        if let Some(warm) = self
            .containers
            .iter()
            .find(|c| c.key == key && c.try_take())
        {
            return Grant::Warm(warm.clone());
        }
        let need = u64::from(memory_mb);
        let free = budget_mb.saturating_sub(self.used_mb());
        if free >= need {
            self.reserved_mb += need;
            return Grant::Cold {
                evicted: Vec::new(),
            };
        }
        // Evict idle containers, least recently used first, if that makes enough room.
        let mut idle: Vec<Arc<Container>> = self
            .containers
            .iter()
            .filter(|c| c.is_idle())
            .cloned()
            .collect();
        idle.sort_by_key(|c| c.usage().last_used);
        let mut freed = 0;
        let mut evict = Vec::new();
        for c in idle {
            if free + freed >= need {
                break;
            }
            freed += u64::from(c.memory_mb);
            evict.push(c);
        }
        if free + freed < need {
            return Grant::Wait;
        }
        for c in &evict {
            self.remove(c);
        }
        self.reserved_mb += need;
        Grant::Cold { evicted: evict }
    }

    pub fn remove(&mut self, container: &Arc<Container>) {
        container.usage().removed = true;
        self.containers.retain(|c| !Arc::ptr_eq(c, container));
    }

    pub fn take_idle_longer_than(&mut self, idle_timeout: Duration) -> Vec<Arc<Container>> {
        let expired: Vec<Arc<Container>> = self
            .containers
            .iter()
            .filter(|c| {
                let usage = c.usage();
                usage.active == 0 && usage.last_used.elapsed() >= idle_timeout
            })
            .cloned()
            .collect();
        for c in &expired {
            self.remove(c);
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(key: &str, memory_mb: u32, concurrency: u32) -> Arc<Container> {
        let handle = ContainerHandle {
            id: key.into(),
            name: key.into(),
            address: "127.0.0.1:1".into(),
        };
        Arc::new(Container::new(handle, key.into(), memory_mb, concurrency))
    }

    #[test]
    fn warm_container_reused_up_to_its_concurrency() {
        let mut pool = PoolState::default();
        let c = container("a", 256, 2);
        pool.containers.push(c.clone()); // active = 1
        assert!(matches!(pool.grant("a", 256, 1024), Grant::Warm(_)));
        // Both slots taken: a new container is needed.
        assert!(matches!(pool.grant("a", 256, 1024), Grant::Cold { .. }));
        assert_eq!(pool.reserved_mb, 256);
    }

    #[test]
    fn idle_containers_are_evicted_least_recently_used_first() {
        let mut pool = PoolState::default();
        let old = container("old", 512, 1);
        let newer = container("newer", 512, 1);
        old.release();
        std::thread::sleep(Duration::from_millis(5));
        newer.release();
        pool.containers.push(newer.clone());
        pool.containers.push(old.clone());
        match pool.grant("b", 256, 1024) {
            Grant::Cold { evicted } => {
                assert_eq!(evicted.len(), 1);
                assert!(Arc::ptr_eq(&evicted[0], &old));
            }
            _ => panic!("expected a cold start after eviction"),
        }
        assert_eq!(pool.containers.len(), 1);
        assert!(old.usage().removed);
    }

    #[test]
    fn waits_when_busy_containers_hold_the_budget() {
        let mut pool = PoolState::default();
        pool.containers.push(container("a", 512, 1));
        pool.containers.push(container("b", 512, 1));
        assert!(matches!(pool.grant("c", 256, 1024), Grant::Wait));
        assert_eq!(pool.busy_memory_mb(), 1024);
    }

    #[test]
    fn idle_reclaim_takes_only_expired_idle_containers() {
        let mut pool = PoolState::default();
        let busy = container("busy", 128, 1);
        let idle = container("idle", 128, 1);
        idle.release();
        pool.containers.push(busy.clone());
        pool.containers.push(idle.clone());
        std::thread::sleep(Duration::from_millis(20));
        let taken = pool.take_idle_longer_than(Duration::from_millis(10));
        assert_eq!(taken.len(), 1);
        assert!(Arc::ptr_eq(&taken[0], &idle));
        assert_eq!(pool.containers.len(), 1);
    }
}
