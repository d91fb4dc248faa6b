//! The host service: the activations this node runs (one table, keyed by
//! actor id), the actor types it can build, the idle collector, and
//! whether it still takes new work (leaving, stopping).
//!
//! Locks: `activations` is never held while another lock is taken.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use moonpool_sim::{BoxFuture, Instant, Providers};

use super::idle::IdleCollector;
use crate::actor::{Actor, ActorRef, AnyActivation, CallError, Idle, Runtime, new_activation};
use crate::id::{ActorId, IdMap};
use crate::reminder::ReminderTick;
use crate::state::StateStorage;
use crate::sync::lock;
use crate::transport::NodeId;

/// Builds activations of one actor type, type-erased.
pub(crate) trait ActorFactory: Send + Sync {
    /// A new activation, not started (see [`AnyActivation::start`]).
    fn create(
        &self,
        runtime: Weak<dyn Runtime>,
        providers: Arc<Providers>,
        id: ActorId,
        generation: u64,
    ) -> Arc<dyn AnyActivation>;

    /// Delivers a reminder's tick to `id` (of this factory's type),
    /// through `runtime`, as a call.
    fn deliver_tick(
        &self,
        runtime: Arc<dyn Runtime>,
        id: ActorId,
        tick: ReminderTick,
    ) -> BoxFuture<'static, Result<(), CallError>>;
}

struct FactoryOf<A>(PhantomData<fn() -> A>);

impl<A: Actor> ActorFactory for FactoryOf<A> {
    fn create(
        &self,
        runtime: Weak<dyn Runtime>,
        providers: Arc<Providers>,
        id: ActorId,
        generation: u64,
    ) -> Arc<dyn AnyActivation> {
        new_activation::<A>(runtime, providers, id, generation)
    }

    fn deliver_tick(
        &self,
        runtime: Arc<dyn Runtime>,
        id: ActorId,
        tick: ReminderTick,
    ) -> BoxFuture<'static, Result<(), CallError>> {
        Box::pin(async move {
            ActorRef::<A>::new(id, Some(runtime), Vec::new())
                .call(tick)
                .await
        })
    }
}

/// The factory of actor type `A`.
pub(crate) fn factory_of<A: Actor>() -> Arc<dyn ActorFactory> {
    Arc::new(FactoryOf::<A>(PhantomData))
}

/// The host service (see the module docs).
pub(crate) struct Host {
    me: NodeId,
    providers: Arc<Providers>,
    types: BTreeMap<&'static str, Arc<dyn ActorFactory>>,
    activations: Mutex<IdMap<Arc<dyn AnyActivation>>>,
    /// Deactivates activations that stay idle too long (see `idle.rs`).
    idle: Arc<IdleCollector>,
    /// Signalled when the last activation leaves the table (shutdown
    /// waits for it).
    emptied: tokio::sync::Notify,
    next_generation: AtomicU64,
    storage: Option<Arc<dyn StateStorage>>,
    /// Set when a graceful leave begins: no new activation starts here.
    leaving: AtomicBool,
    /// Held by the graceful leave under way (see `one_leave_at_a_time`).
    leave: tokio::sync::Mutex<()>,
    /// Set when the node stops serving (shut down, or declared dead).
    stopping: AtomicBool,
    /// Whether activations are recorded through the `metrics` facade.
    metrics: bool,
}

impl Drop for Host {
    fn drop(&mut self) {
        // Nothing is left to watch; end the collector's task.
        self.idle.close();
    }
}

impl Host {
    /// The host of node `me`, building `types`.
    pub(crate) fn new(
        me: NodeId,
        providers: Arc<Providers>,
        types: BTreeMap<&'static str, Arc<dyn ActorFactory>>,
        storage: Option<Arc<dyn StateStorage>>,
        metrics: bool,
    ) -> Self {
        Self {
            me,
            providers,
            types,
            activations: Mutex::default(),
            idle: Arc::default(),
            emptied: tokio::sync::Notify::new(),
            next_generation: AtomicU64::new(1),
            storage,
            leaving: AtomicBool::new(false),
            leave: tokio::sync::Mutex::new(()),
            stopping: AtomicBool::new(false),
            metrics,
        }
    }

    /// Whether this node is a client (hosts no actor type).
    pub(crate) fn is_client(&self) -> bool {
        self.types.is_empty()
    }

    /// The factory of actor type `type_name`, if this node hosts it.
    pub(crate) fn factory(&self, type_name: &str) -> Option<Arc<dyn ActorFactory>> {
        self.types.get(type_name).cloned()
    }

    /// Whether this node can build actors of `type_name`.
    pub(crate) fn hosts_type(&self, type_name: &str) -> bool {
        self.types.contains_key(type_name)
    }

    /// The idle collector.
    pub(crate) fn idle(&self) -> &Arc<IdleCollector> {
        &self.idle
    }

    /// Has the idle collector check `activation` at `at`.
    pub(crate) fn watch_idle(&self, at: Instant, generation: u64, activation: Weak<dyn Idle>) {
        self.idle.watch(at, generation, activation);
    }

    /// The node's state storage, if it was given one.
    pub(crate) fn storage(&self) -> Option<Arc<dyn StateStorage>> {
        self.storage.clone()
    }

    /// The activation of `id`, if this node runs one.
    pub(crate) fn get(&self, id: &ActorId) -> Option<Arc<dyn AnyActivation>> {
        lock(&self.activations).get(id).map(Arc::clone)
    }

    /// Whether this node runs an activation of `id`.
    pub(crate) fn contains(&self, id: &ActorId) -> bool {
        lock(&self.activations).contains_key(id)
    }

    /// How many activations this node runs.
    pub(crate) fn count(&self) -> usize {
        lock(&self.activations).len()
    }

    /// The ids of the activations this node runs.
    pub(crate) fn ids(&self) -> Vec<ActorId> {
        lock(&self.activations).keys().cloned().collect()
    }

    /// Every activation this node runs.
    pub(crate) fn all(&self) -> Vec<Arc<dyn AnyActivation>> {
        lock(&self.activations).values().map(Arc::clone).collect()
    }

    /// The activation of `id`, created if there is none (`None` if this
    /// node does not build its type). The caller has made sure the
    /// directory places the actor here.
    pub(crate) fn activate(
        &self,
        id: &ActorId,
        runtime: &Weak<dyn Runtime>,
    ) -> Option<Arc<dyn AnyActivation>> {
        let (type_name, factory) = self.types.get_key_value(id.type_name.as_ref())?;
        let activation = {
            let mut activations = lock(&self.activations);
            if let Some(a) = activations.get(id) {
                return Some(Arc::clone(a));
            }
            let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(node = %self.me, actor = %id, generation, "activating");
            let activation = factory.create(
                Weak::clone(runtime),
                Arc::clone(&self.providers),
                id.clone(),
                generation,
            );
            activations.insert(id.clone(), Arc::clone(&activation));
            activation
        };
        if self.metrics {
            crate::metrics::activation_created(type_name);
        }
        // In the table first (messages for it queue meanwhile), and
        // started with the table's lock released: building may run the
        // actor's own code right here, and a failed activation leaves the
        // table.
        Arc::clone(&activation).start();
        Some(activation)
    }

    /// Removes activation `generation` of `id` from the table; whether it
    /// was there (a later activation of the same actor stays).
    pub(crate) fn forget(&self, id: &ActorId, generation: u64) -> bool {
        let mut activations = lock(&self.activations);
        if activations
            .get(id)
            .is_none_or(|a| a.info().generation != generation)
        {
            return false;
        }
        activations.remove(id);
        if self.metrics
            && let Some((type_name, _)) = self.types.get_key_value(id.type_name.as_ref())
        {
            crate::metrics::activation_deactivated(type_name);
        }
        tracing::debug!(node = %self.me, actor = %id, generation, "deactivated");
        if activations.is_empty() {
            self.emptied.notify_waiters();
        }
        true
    }

    /// Waits until no activation is left, at most `limit`.
    pub(crate) async fn wait_until_empty(&self, limit: Duration) {
        let p = &self.providers;
        let deadline = p.now() + limit;
        loop {
            // Registered before the check, so the last deactivation cannot
            // slip in between.
            let emptied = self.emptied.notified();
            tokio::pin!(emptied);
            emptied.as_mut().enable();
            if lock(&self.activations).is_empty() {
                return;
            }
            if p.timeout_at(deadline, emptied).await.is_err() {
                tracing::warn!(
                    left = self.count(),
                    "shutdown: activations still running after {limit:?}"
                );
                return;
            }
        }
    }

    /// Whether the node has stopped serving (shut down or fenced).
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Whether a graceful leave has begun.
    pub(crate) fn is_leaving(&self) -> bool {
        self.leaving.load(Ordering::Acquire)
    }

    /// Waits for any graceful leave under way to end (finished, or
    /// cancelled half-way), then holds off any other until the guard
    /// drops: a second `shutdown` finds the first one's work done instead
    /// of cutting it short.
    pub(crate) async fn one_leave_at_a_time(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.leave.lock().await
    }

    /// A graceful leave has begun: no new activation starts here from now
    /// on.
    pub(crate) fn mark_leaving(&self) {
        self.leaving.store(true, Ordering::Release);
    }

    /// Shutting down: takes no more calls; every activation deactivates
    /// (its deactivation hook runs) once what queued before has run.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        for a in self.all() {
            a.stop();
        }
        self.idle.close();
    }

    /// Declared dead: takes no more calls, and every activation stops at
    /// once — what queued for it is dropped unrun (its callers route
    /// again, to wherever the actor lives now), and no deactivation hook
    /// runs, since another activation may already act for the actor.
    /// Does nothing on a client, or a node already stopping.
    pub(crate) fn fence(&self) {
        if self.is_client() || self.is_stopping() {
            return;
        }
        tracing::error!(node = %self.me, "this node was declared dead; it stops serving");
        self.stopping.store(true, Ordering::Relaxed);
        for a in self.all() {
            a.halt();
        }
        self.idle.close();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use moonpool_sim::Simulation;

    use crate::node::host::Host;
    use crate::node::idle::collect;
    use crate::transport::NodeId;

    /// Dropping a host ends its idle collector's task: nothing is left to
    /// watch, and a task that outlived its node would keep its memory.
    #[test]
    fn dropping_the_host_ends_its_idle_collector() {
        Simulation::new(1)
            .run(|sim| async move {
                let p = Arc::new(sim.providers());
                let me = NodeId {
                    addr: "10.0.0.1:4000".parse().unwrap(),
                    incarnation: 1,
                };
                let host = Host::new(me, Arc::clone(&p), BTreeMap::new(), None, false);
                let task = p.spawn(collect(Arc::clone(host.idle()), Arc::clone(&p)));
                sim.sleep(Duration::from_millis(10)).await;
                drop(host);
                let ended = p.timeout(Duration::from_secs(1), task).await;
                assert!(ended.is_ok(), "the collector outlived its host");
            })
            .unwrap();
    }
}
