//! The router service: where an actor lives (the location cache, then the
//! directory, placing a new activation by the type's [`Placement`]), and
//! the lanes that keep one-way messages to one actor in order. The route
//! loop of a call, over these, is the actor layer's (`actor/call.rs`).
//!
//! Locks: `cache` and `lanes` are never held with another lock.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use moonpool_sim::Providers;

use super::cluster::Cluster;
use super::directory::Directory;
use super::membership::MemberStatus;
use super::ring::Ring;
use crate::actor::{CallError, Placement, SendJob, unreachable};
use crate::id::{ActorId, IdMap};
use crate::sync::lock;
use crate::transport::NodeId;

/// The router service (see the module docs).
pub(crate) struct Router {
    me: NodeId,
    providers: Arc<Providers>,
    cluster: Arc<Cluster>,
    directory: Arc<Directory>,
    /// Where actors of other nodes were last found (an actor hosted here
    /// is in the host's activation table instead).
    cache: Mutex<IdMap<NodeId>>,
    /// One-way messages waiting to leave, per target: every send from
    /// this node to one actor goes through that actor's lane, drained by
    /// one task at a time, each delivered (as a call) before the next
    /// starts. An empty lane is dropped.
    lanes: Mutex<IdMap<VecDeque<SendJob>>>,
}

impl Router {
    /// The router of node `me`.
    pub(crate) fn new(
        me: NodeId,
        providers: Arc<Providers>,
        cluster: Arc<Cluster>,
        directory: Arc<Directory>,
    ) -> Self {
        Self {
            me,
            providers,
            cluster,
            directory,
            cache: Mutex::default(),
            lanes: Mutex::default(),
        }
    }

    /// Where `id` was last found, if the node there is still in service.
    pub(crate) fn cached(&self, id: &ActorId) -> Option<NodeId> {
        let n = lock(&self.cache).get(id).copied()?;
        self.cluster.is_serving(n).then_some(n)
    }

    /// Forgets where `id` was found (it was not there).
    pub(crate) fn invalidate(&self, id: &ActorId) {
        lock(&self.cache).remove(id);
    }

    /// Forgets locations on nodes no longer in service.
    pub(crate) fn prune(&self) {
        let serving = self.cluster.serving();
        lock(&self.cache).retain(|_, n| serving.contains(n));
    }

    /// Where `id` lives: the cache, or the directory (registering a new
    /// home chosen by `placement`); and whether the directory was asked
    /// just now.
    pub(crate) async fn locate(
        &self,
        id: &ActorId,
        placement: Placement,
    ) -> Result<(NodeId, bool), CallError> {
        if let Some(n) = self.cached(id) {
            return Ok((n, false));
        }
        for attempt in 0..3 {
            if attempt > 0 {
                // The directory refused the candidate (it is leaving or
                // gone in the table): re-read the table and place again.
                self.directory.refresh().await;
            }
            let candidate = self.place(id, placement)?;
            let registered = self
                .directory
                .register(id, candidate)
                .await
                .map_err(|e| unreachable(id, &e))?;
            if let Some(home) = registered {
                // An actor at home here is found in the activation table
                // (see `Runtime::hosted`): the cache holds other nodes'
                // actors only, so an idle local activation costs no entry.
                let mut cache = lock(&self.cache);
                if home == self.me {
                    cache.remove(id);
                } else {
                    cache.insert(id.clone(), home);
                }
                return Ok((home, true));
            }
        }
        Err(CallError::RoutingFailed {
            actor: id.clone(),
            attempts: 3,
        })
    }

    /// A live host for a new activation of `id`, per `placement`.
    fn place(&self, id: &ActorId, placement: Placement) -> Result<NodeId, CallError> {
        let me = self.me;
        self.cluster.with_view(|view| {
            let hosts = || {
                view.members.iter().filter(|m| {
                    m.status == MemberStatus::Alive
                        && m.hosts.iter().any(|t| t == id.type_name.as_ref())
                })
            };
            let count = hosts().count();
            if count == 0 {
                return Err(CallError::UnknownActorType {
                    actor_type: id.type_name.to_string(),
                });
            }
            let chosen = match placement {
                Placement::PreferLocal if hosts().any(|m| m.id == me) => me,
                Placement::LeastLoaded => {
                    hosts().min_by_key(|m| (m.load, m.id)).map_or(me, |m| m.id)
                }
                Placement::ConsistentHash => {
                    Ring::new(hosts().map(|m| m.id)).owner(id).unwrap_or(me)
                }
                Placement::Random | Placement::PreferLocal => {
                    let i = self.providers.random_below(count as u64) as usize;
                    hosts().nth(i).map_or(me, |m| m.id)
                }
            };
            Ok(chosen)
        })
    }

    /// Queues `job` on `id`'s lane; whether the lane was idle (then the
    /// caller starts a task draining it with [`Router::next_send`]).
    pub(crate) fn enqueue_send(&self, id: &ActorId, job: SendJob) -> bool {
        let mut lanes = lock(&self.lanes);
        match lanes.get_mut(id) {
            Some(queue) => {
                queue.push_back(job);
                false
            }
            None => {
                lanes.insert(id.clone(), VecDeque::from([job]));
                true
            }
        }
    }

    /// The next send queued on `id`'s lane; `None` (and the lane is
    /// dropped) when none is left.
    pub(crate) fn next_send(&self, id: &ActorId) -> Option<SendJob> {
        let mut lanes = lock(&self.lanes);
        let job = lanes.get_mut(id).and_then(VecDeque::pop_front);
        if job.is_none() {
            lanes.remove(id);
        }
        job
    }
}

#[cfg(test)]
impl Router {
    /// The nodes the location cache points at (for the service tests).
    pub(crate) fn cached_homes(&self) -> Vec<NodeId> {
        lock(&self.cache).values().copied().collect()
    }

    /// Puts `home` in the location cache for `id`, as a call found it
    /// there (for the service tests: a location the watch has not pruned
    /// yet).
    pub(crate) fn remember(&self, id: &ActorId, home: NodeId) {
        lock(&self.cache).insert(id.clone(), home);
    }
}
