//! An invoker: runs activations in containers from its own pool.
//!
//! Each invoker owns a container pool under a memory budget. A warm container of the same
//! action (same namespace, name and version) with a free concurrency slot is reused;
//! otherwise the ContainerFactory plugin creates one and it gets `/init` once. When the
//! budget is taken, idle containers of other actions are evicted; when that is not enough
//! the activation queues until a container is released. Idle containers are removed after
//! the configured time. The action's time limit is enforced: on timeout the container is
//! destroyed. Results are classified as OpenWhisk does, logs go through the LogStore, and
//! the invoker reports its health and free capacity for the LoadBalancer.

mod pool;
mod proxy;
mod run;

pub use pool::Container;
pub use proxy::{ProxyClient, ProxyError};
pub use run::{ActionCode, Outcome, RunOutcome, RunRequest};

use crate::plugin::{ContainerFactory, LogStore};
use pool::PoolState;
use std::{
    sync::{
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};
use tokio::sync::Notify;
use whisk_spi::{ContainerHandle, ErrorKind, InvokerHealth, InvokerState};

/// How an invoker is set up.
#[derive(Debug, Clone)]
pub struct InvokerSettings {
    pub id: u32,
    pub memory_mb: u64,
    pub idle_timeout: Duration,
    /// Activations it accepts at once, running and queued.
    pub max_pending: u32,
    /// `__OW_API_HOST` for actions.
    pub api_host: String,
    /// A container idle this long is suspended (if its factory can); `None`: never.
    pub pause_grace: Option<Duration>,
}

pub struct Invoker {
    pub id: u32,
    pub name: String,
    settings: InvokerSettings,
    factory: Arc<ContainerFactory>,
    log_store: Arc<LogStore>,
    pool: Mutex<PoolState>,
    /// Signalled whenever memory or a container slot is freed.
    capacity_freed: Notify,
    pending: AtomicU32,
    health: AtomicU32,
    containers_created: AtomicU64,
    /// Cleared when the factory answers that it cannot suspend.
    can_suspend: AtomicBool,
}

impl Invoker {
    pub fn new(
        settings: InvokerSettings,
        factory: Arc<ContainerFactory>,
        log_store: Arc<LogStore>,
    ) -> Arc<Self> {
        Arc::new(Self {
            id: settings.id,
            name: format!("invoker{}", settings.id),
            settings,
            factory,
            log_store,
            pool: Mutex::new(PoolState::default()),
            capacity_freed: Notify::new(),
            pending: AtomicU32::new(0),
            health: AtomicU32::new(InvokerHealth::UP.0),
            containers_created: AtomicU64::new(0),
            can_suspend: AtomicBool::new(true),
        })
    }

    pub fn health(&self) -> InvokerHealth {
        InvokerHealth(self.health.load(Ordering::Relaxed))
    }

    fn set_health(&self, health: InvokerHealth) {
        let before = self.health.swap(health.0, Ordering::Relaxed);
        if before != health.0 {
            tracing::warn!(invoker = %self.name, "health: {} → {}", InvokerHealth(before), health);
        }
    }

    /// Marks the invoker unhealthy when the factory says its backend is unreachable.
    fn note_factory_error(&self, kind: ErrorKind) {
        if kind == ErrorKind::UNAVAILABLE {
            self.set_health(InvokerHealth::UNHEALTHY);
        }
    }

    /// What the LoadBalancer sees of this invoker.
    pub fn state(&self) -> InvokerState {
        let used = self.lock_pool().busy_memory_mb();
        let pending = self.pending.load(Ordering::Relaxed);
        InvokerState {
            id: self.id,
            name: self.name.clone().into(),
            health: self.health(),
            free_memory_mb: self.settings.memory_mb.saturating_sub(used),
            total_memory_mb: self.settings.memory_mb,
            free_slots: self.settings.max_pending.saturating_sub(pending),
        }
    }

    /// Containers in the pool (warm or busy), for tests and diagnostics.
    pub fn containers(&self) -> Vec<Arc<Container>> {
        self.lock_pool().containers.clone()
    }

    /// Containers created since start.
    pub fn containers_created(&self) -> u64 {
        self.containers_created.load(Ordering::Relaxed)
    }

    fn lock_pool(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes `container` from the pool and destroys it in the background.
    fn discard(self: &Arc<Self>, container: &Arc<Container>) {
        self.lock_pool().remove(container);
        self.capacity_freed.notify_waiters();
        self.destroy_later(container.handle.clone());
    }

    fn destroy_later(self: &Arc<Self>, handle: ContainerHandle) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.factory.destroy(handle).await {
                this.note_factory_error(e.kind());
                tracing::warn!("{e}");
            }
        });
    }

    /// Suspends `container` once it has stayed idle for the pause grace, if the factory
    /// can suspend at all.
    fn pause_when_idle(self: &Arc<Self>, container: &Arc<Container>) {
        let Some(grace) = self.settings.pause_grace else {
            return;
        };
        if !self.can_suspend.load(Ordering::Relaxed) {
            return;
        }
        let (this, container) = (self.clone(), container.clone());
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let mut paused = container.pausing.lock().await;
            let idle = {
                let usage = container.usage();
                usage.active == 0 && !usage.removed && usage.last_used.elapsed() >= grace
            };
            if paused.0 || !idle {
                return;
            }
            match this.factory.suspend(container.handle.clone()).await {
                Ok(()) => paused.0 = true,
                Err(e) if e.kind() == ErrorKind::UNSUPPORTED => {
                    tracing::debug!(invoker = %this.name, "the factory does not suspend containers: {e}");
                    this.can_suspend.store(false, Ordering::Relaxed);
                }
                Err(e) => {
                    this.note_factory_error(e.kind());
                    tracing::warn!("{e}");
                }
            }
        });
    }

    /// Resumes `container` if it was suspended; an error means it cannot be used.
    async fn ready(&self, container: &Container) -> Result<(), crate::plugin::PluginCallError> {
        let mut paused = container.pausing.lock().await;
        if paused.0 {
            self.factory
                .resume(container.handle.clone())
                .await
                .inspect_err(|e| {
                    self.note_factory_error(e.kind());
                })?;
            paused.0 = false;
        }
        Ok(())
    }

    /// Background duties: remove idle containers, probe the factory while unhealthy.
    /// Runs until the invoker is dropped.
    pub fn spawn_maintenance(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let tick = (self.settings.idle_timeout / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(2));
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            loop {
                interval.tick().await;
                let Some(this) = weak.upgrade() else { break };
                let idle = this
                    .lock_pool()
                    .take_idle_longer_than(this.settings.idle_timeout);
                for container in idle {
                    tracing::debug!(invoker = %this.name, container = %container.handle.name, "removing idle container");
                    this.destroy_later(container.handle.clone());
                }
                this.capacity_freed.notify_waiters();
                if this.health() != InvokerHealth::UP {
                    this.probe_factory().await;
                }
            }
        });
    }

    /// Asks the factory about a container that does not exist: any answer but
    /// "unavailable" means its backend is reachable again.
    async fn probe_factory(&self) {
        let probe = ContainerHandle {
            id: "whisk-health-probe".into(),
            name: "whisk-health-probe".into(),
            address: "".into(),
        };
        match self.factory.inspect(probe).await {
            Err(e) if e.kind() == ErrorKind::UNAVAILABLE => {}
            _ => self.set_health(InvokerHealth::UP),
        }
    }
}
