//! A node: hosts activations, owns a partition of the actor directory,
//! routes calls, and watches its peers.

mod builder;
mod directory;
mod gate;
mod idle;
mod inbound;
mod lanes;
mod lease;
mod membership;
mod primary;
mod protocol;
mod recovery;
mod ring;
mod runtime;
mod shared_storage;
mod watch;

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moonpool_sim::Providers;

pub use builder::{ActorRegistration, NodeBuilder, NodeConfig, NodeError};
pub use membership::{InMemoryMembership, Member, MemberStatus, MembershipError, MembershipTable};

use crate::actor::{
    Actor, ActorId, ActorRef, AnyActivation, CallAnswer, CallError, CallRequest, Placement,
    RemoteReply, Runtime, check_cycle, spawn_activation, unreachable,
};
use crate::sync::lock;
use crate::transport::{NodeId, Transport, TransportError};
use protocol::{NodeRequest, NodeResponse, RequestRef};
use ring::Ring;

/// Builds activations of one actor type, type-erased.
pub(crate) trait ActorFactory: Send + Sync {
    fn spawn(&self, node: &Arc<NodeInner>, id: ActorId, generation: u64) -> Arc<dyn AnyActivation>;
}

struct FactoryOf<A>(PhantomData<fn() -> A>);

impl<A: Actor> ActorFactory for FactoryOf<A> {
    fn spawn(&self, node: &Arc<NodeInner>, id: ActorId, generation: u64) -> Arc<dyn AnyActivation> {
        let runtime: std::sync::Weak<dyn Runtime> = Arc::downgrade(node) as _;
        spawn_activation::<A>(runtime, Arc::clone(&node.providers), id, generation)
    }
}

impl Drop for NodeInner {
    fn drop(&mut self) {
        // Nothing is left to watch; end the collector's task.
        self.idle.close();
    }
}

pub(crate) fn factory_of<A: Actor>() -> Arc<dyn ActorFactory> {
    Arc::new(FactoryOf::<A>(PhantomData))
}

/// A table keyed by actor id. Hashed without a random seed, so iteration
/// order is the same on every run (the simulator relies on it).
pub(crate) type IdMap<V> = std::collections::HashMap<ActorId, V, rustc_hash::FxBuildHasher>;

/// The cluster as this node last saw it.
#[derive(Default)]
pub(crate) struct View {
    members: Vec<Member>,
    ring: Ring,
}

impl View {
    /// Members in service: alive, or leaving but not gone. They own
    /// directory partitions, may host activations, and are probed.
    fn serving(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.status.in_service())
    }

    /// Whether `node` is in service: a directory entry or a cached
    /// location pointing at it is still good.
    fn is_serving(&self, node: NodeId) -> bool {
        self.serving().any(|m| m.id == node)
    }

    /// Whether a new activation may be placed on `node`: alive, not
    /// leaving.
    fn is_placeable(&self, node: NodeId) -> bool {
        self.members
            .iter()
            .any(|m| m.id == node && m.status == MemberStatus::Alive)
    }
}

pub(crate) struct NodeInner {
    pub(crate) providers: Arc<Providers>,
    pub(crate) config: NodeConfig,
    /// Bound before anything else is built: it gives the node its id.
    transport: Transport,
    id: NodeId,
    types: BTreeMap<&'static str, Arc<dyn ActorFactory>>,
    activations: Mutex<IdMap<Arc<dyn AnyActivation>>>,
    /// Deactivates activations that stay idle too long (see `idle.rs`).
    pub(crate) idle: Arc<idle::IdleCollector>,
    directory: Mutex<IdMap<NodeId>>,
    cache: Mutex<IdMap<NodeId>>,
    view: Mutex<View>,
    membership: Arc<dyn MembershipTable>,
    /// Which hosts have reported their activations since the ring last
    /// changed (see `recovery.rs`).
    pub(crate) recovery: Mutex<recovery::Recovery>,
    /// Signalled when the last activation leaves the table (shutdown
    /// waits for it).
    emptied: tokio::sync::Notify,
    /// One-way messages waiting to leave, per target (see `lanes.rs`).
    lanes: Mutex<lanes::Lanes>,
    /// The membership version the view was last built from.
    pub(crate) seen_version: Mutex<Option<u64>>,
    /// The table this node hosts for the cluster, when it is the primary.
    hosted_membership: Option<InMemoryMembership>,
    /// The primary this node reads the table from, when it is not one.
    primary: Option<Arc<Mutex<std::net::SocketAddr>>>,
    /// Why the last read of the membership table failed (`None` once a
    /// read succeeds), and a flag for the call path to check cheaply.
    membership_failure: Mutex<Option<MembershipError>>,
    membership_failing: AtomicBool,
    pub(crate) storage: Option<Arc<dyn crate::state::StateStorage>>,
    next_generation: AtomicU64,
    /// Set when a graceful leave begins: no new activation starts here.
    leaving: AtomicBool,
    stopping: AtomicBool,
    /// The lease on serving and the placement hold after deaths (see
    /// `lease.rs`).
    pub(crate) lease: lease::Lease,
}

/// A node of a moonpool cluster. Cheap to clone; not generic over
/// providers (they were chosen when it was built).
///
/// # Example
///
/// ```ignore
/// let node = Node::builder("bank").listen(addr).host::<Account>().build().await?;
/// let alice = node.actor::<Account>("alice");
/// alice.call(Deposit(10)).await?;
/// ```
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id())
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

impl Node {
    /// Starts building a node of cluster `cluster_id`.
    pub fn builder(cluster_id: impl Into<String>) -> NodeBuilder {
        NodeBuilder::new(cluster_id)
    }

    /// This node's identity.
    pub fn id(&self) -> NodeId {
        self.inner.node_id()
    }

    /// A reference to actor `A` with `key`, usable from anywhere.
    pub fn actor<A: Actor>(&self, key: impl Into<String>) -> A::Ref {
        A::Ref::from(self.actor_ref::<A>(key))
    }

    /// The untyped-method reference to actor `A` with `key`.
    pub fn actor_ref<A: Actor>(&self, key: impl Into<String>) -> ActorRef<A> {
        ActorRef::new(
            ActorId::of::<A>(key),
            Some(Arc::clone(&self.inner) as Arc<dyn Runtime>),
            Vec::new(),
        )
    }

    /// Why this node has lost the cluster's membership, if it has: its
    /// reads of the membership table have failed for longer than its lease
    /// (two probe intervals and a probe timeout), so it cannot tell where
    /// actors live or whether it is still in the cluster, and its calls
    /// fail with [`CallError::MembershipUnavailable`]. With a development
    /// membership ([`NodeBuilder::primary`]) this is what losing the
    /// primary looks like; a process may report it and exit.
    ///
    /// ```ignore
    /// if let Some(e) = node.membership_lost() {
    ///     eprintln!("{e}");
    ///     std::process::exit(1);
    /// }
    /// ```
    pub fn membership_lost(&self) -> Option<MembershipError> {
        self.inner.membership_lost()
    }

    /// Whether this node has stopped serving (shut down, or declared dead
    /// by its peers).
    pub fn is_stopped(&self) -> bool {
        self.inner.stopping.load(Ordering::Relaxed)
    }

    /// How many activations this node hosts.
    pub fn activation_count(&self) -> usize {
        lock(&self.inner.activations).len()
    }

    /// Whether this node hosts an activation of `id` right now.
    pub fn hosts(&self, id: &ActorId) -> bool {
        lock(&self.inner.activations).contains_key(id)
    }

    /// The node holding `id`'s directory entry, as this node sees the
    /// cluster now (`None` before it knows of any host). For diagnostics
    /// and tests: ownership moves whenever membership changes.
    ///
    /// # Example
    ///
    /// ```ignore
    /// let owner = node.directory_owner(&ActorId::of::<Account>("alice"));
    /// ```
    pub fn directory_owner(&self, id: &ActorId) -> Option<NodeId> {
        self.inner.directory_owner(id)
    }

    /// The members in service this node knows of (alive, or leaving but
    /// not gone yet).
    pub fn live_members(&self) -> Vec<NodeId> {
        lock(&self.inner.view).serving().map(|m| m.id).collect()
    }

    /// Leaves the cluster gracefully, without failing anybody's call:
    ///
    /// 1. marks itself *leaving* in the membership table, so nothing new is
    ///    placed here;
    /// 2. deactivates every activation (running `on_deactivate`) once what
    ///    queued for it has run; a call that finds its actor gone is
    ///    answered "not here", which the caller's router takes as "never
    ///    ran" and re-sends to the actor's next home;
    /// 3. marks itself *left*, handing its directory partition to the
    ///    nodes that own it now;
    /// 4. keeps answering "not here" until every peer has re-read the
    ///    membership (one probe interval and one probe timeout), then
    ///    closes its connections.
    ///
    /// Calling it again, or on a node that was declared dead, only does
    /// what is left.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        let p = Arc::clone(&inner.providers);
        let me = self.id();
        let first = !inner.leaving.swap(true, Ordering::AcqRel);
        let hosting = !inner.hosts_no_types() && !inner.is_stopping();
        if first && hosting {
            tracing::info!(node = %me, "leaving the cluster");
            if let Err(e) = inner.membership.begin_leave(me).await {
                tracing::warn!(node = %me, error = %e, "could not mark this node as leaving; peers learn of it when it has left");
            }
            watch::refresh(inner).await;
            for a in inner.hosted() {
                a.stop();
            }
            inner.wait_until_empty(Duration::from_secs(10)).await;
        }
        if first && !inner.is_stopping() {
            if let Err(e) = inner.membership.leave(me).await {
                tracing::warn!(node = %me, error = %e, "could not mark this node as left; peers will declare it dead");
            }
            watch::refresh(inner).await;
            // Peers re-read the membership at least once per probe
            // interval (a read takes at most a probe timeout): until they
            // have, calls may still come here, and are answered "not
            // here".
            let peers = lock(&inner.view).serving().any(|m| m.id != me);
            if hosting && peers {
                p.sleep(inner.config.probe_interval + inner.config.probe_timeout)
                    .await;
            }
            tracing::info!(node = %me, "left the cluster");
        }
        inner.stop_hosting();
        inner.transport.shutdown();
        inner.transport.listener_closed().await;
    }
}

impl NodeInner {
    pub(crate) fn node_id(&self) -> NodeId {
        self.id
    }

    /// Sends a node request and decodes the response.
    async fn request(
        &self,
        to: NodeId,
        req: &NodeRequest,
        timeout: Duration,
    ) -> Result<NodeResponse, TransportError> {
        self.exchange(to, &RequestRef::Node(req), timeout).await
    }

    /// Sends one request, tagged with its service, and decodes the answer.
    async fn exchange<R: serde::de::DeserializeOwned>(
        &self,
        to: NodeId,
        req: &RequestRef<'_>,
        timeout: Duration,
    ) -> Result<R, TransportError> {
        let bytes =
            postcard::to_allocvec(req).map_err(|e| TransportError::Encode(e.to_string()))?;
        let reply = self.transport.request(to.addr, bytes, timeout).await?;
        postcard::from_bytes(&reply).map_err(|e| TransportError::Remote {
            message: format!("undecodable answer from {to}: {e}"),
        })
    }

    /// Whether this node is a client (hosts no actor type).
    pub(crate) fn hosts_no_types(&self) -> bool {
        self.types.is_empty()
    }

    /// Writes this node's row back as alive (a client after a false death
    /// declaration).
    pub(crate) async fn rejoin(&self) -> Result<(), MembershipError> {
        self.membership
            .join(Member {
                id: self.node_id(),
                status: MemberStatus::Alive,
                hosts: Vec::new(),
                load: 0,
                storage: None,
            })
            .await
    }

    /// `Ok` while this node may run turns: its lease is live (see
    /// `lease.rs`; a client hosts nothing and always may).
    pub(crate) fn check_lease(&self) -> Result<(), CallError> {
        if self.hosts_no_types() || self.lease.serving(self.providers.now()) {
            Ok(())
        } else {
            Err(self.lease.lapsed())
        }
    }

    /// Why a request from `from` is refused, if it is: the cluster
    /// declared that node dead, and what it still sends must not land
    /// after its actors have moved.
    fn refuse_from(&self, from: &NodeId) -> Option<CallError> {
        self.lease
            .is_dead(from)
            .then(|| CallError::CallerDeclaredDead {
                caller: from.to_string(),
            })
    }

    /// See [`Node::membership_lost`].
    pub(crate) fn membership_lost(&self) -> Option<MembershipError> {
        if !self.membership_failing.load(Ordering::Relaxed)
            || self.lease.serving(self.providers.now())
        {
            return None;
        }
        lock(&self.membership_failure).clone()
    }

    /// Records the outcome of a membership read: the first failure is
    /// reported loudly, once; a success after failures, once too.
    pub(crate) fn membership_read(&self, result: Result<(), &MembershipError>) {
        let mut failure = lock(&self.membership_failure);
        match result {
            Ok(()) => {
                if failure.take().is_some() {
                    self.membership_failing.store(false, Ordering::Relaxed);
                    tracing::info!(node = %self.node_id(), "the membership table can be read again");
                }
            }
            Err(e) => {
                if failure.replace(e.clone()).is_none() {
                    self.membership_failing.store(true, Ordering::Relaxed);
                    tracing::error!(node = %self.node_id(), "{e}");
                } else {
                    tracing::debug!(node = %self.node_id(), error = %e, "membership read failed again");
                }
            }
        }
    }

    /// Whether the node has stopped serving (shut down or fenced).
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Shutting down: takes no more calls; every activation deactivates
    /// (its deactivation hook runs) once what queued before has run.
    pub(crate) fn stop_hosting(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        for a in self.hosted() {
            a.stop();
        }
        self.idle.close();
    }

    /// Declared dead: takes no more calls, and every activation stops at
    /// once — what queued for it is dropped unrun (its callers route again,
    /// to wherever the actor lives now), and no deactivation hook runs,
    /// since another activation may already act for the actor.
    pub(crate) fn fence(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        for a in self.hosted() {
            a.halt();
        }
        self.idle.close();
    }

    /// Waits until no activation is left, at most `limit`.
    async fn wait_until_empty(&self, limit: Duration) {
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
                    left = lock(&self.activations).len(),
                    "shutdown: activations still running after {limit:?}"
                );
                return;
            }
        }
    }

    fn hosted(&self) -> Vec<Arc<dyn AnyActivation>> {
        lock(&self.activations).values().map(Arc::clone).collect()
    }

    /// The erased activation for `id`, activating it if the directory says
    /// this node is its home (`registered_here`: the caller has just been
    /// told so by the directory, so there is no need to ask again).
    async fn hosted_or_activate(
        self: &Arc<Self>,
        id: &ActorId,
        registered_here: bool,
    ) -> Result<Option<Arc<dyn AnyActivation>>, CallError> {
        if let Some(a) = lock(&self.activations).get(id) {
            return Ok(Some(Arc::clone(a)));
        }
        let Some(factory) = self.types.get(id.type_name.as_ref()).cloned() else {
            return Ok(None);
        };
        let me = self.node_id();
        if self.leaving.load(Ordering::Acquire) {
            self.forget_stale_entry(id).await;
            return Ok(None);
        }
        if !registered_here {
            match self.directory_register(id, me).await {
                Ok(Some(home)) if home == me => {}
                Ok(_) => return Ok(None),
                Err(e) => return Err(unreachable(id, &e)),
            }
        }
        let mut activations = lock(&self.activations);
        if let Some(a) = activations.get(id) {
            return Ok(Some(Arc::clone(a)));
        }
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(node = %me, actor = %id, generation, "activating");
        let activation = factory.spawn(self, id.clone(), generation);
        activations.insert(id.clone(), Arc::clone(&activation));
        Ok(Some(activation))
    }

    /// Nothing new starts on a leaving node, so a directory entry that
    /// still sends `id` here is stale: removes it, so that the caller's
    /// next try places the actor anew.
    async fn forget_stale_entry(&self, id: &ActorId) {
        if let Err(e) = self.directory_unregister(id, self.node_id()).await {
            tracing::debug!(actor = %id, error = %e, "leaving: could not remove a stale directory entry");
        }
    }

    /// An activation ended: leave the table, then the directory.
    pub(crate) async fn forget_activation(&self, id: &ActorId, generation: u64) {
        {
            let mut activations = lock(&self.activations);
            if activations
                .get(id)
                .is_some_and(|a| a.info().generation == generation)
            {
                activations.remove(id);
                tracing::debug!(node = %self.node_id(), actor = %id, generation, "deactivated");
                if activations.is_empty() {
                    self.emptied.notify_waiters();
                }
            } else {
                return;
            }
        }
        let me = self.node_id();
        if let Err(e) = self.directory_unregister(id, me).await {
            tracing::debug!(actor = %id, error = %e, "could not unregister from the directory");
        }
    }

    /// Handles a request from a peer node.
    async fn handle(self: Arc<Self>, from: NodeId, req: NodeRequest) -> NodeResponse {
        // A dead node may still probe and read the table (to learn that it
        // is dead); anything else it sends is refused.
        if !matches!(req, NodeRequest::Ping | NodeRequest::Membership(_))
            && let Some(refusal) = self.refuse_from(&from)
        {
            return NodeResponse::Failed(refusal);
        }
        match req {
            NodeRequest::Ping => NodeResponse::Done,
            NodeRequest::Hosts { actor } => {
                let hosting = lock(&self.activations).contains_key(&actor);
                NodeResponse::Location(hosting.then(|| self.node_id()))
            }
            NodeRequest::Membership(op) => self.serve_membership(op).await,
            NodeRequest::Register { actor, candidate } => {
                self.handle_register(&actor, candidate).await
            }
            NodeRequest::Lookup { actor } => {
                NodeResponse::Location(lock(&self.directory).get(&actor).copied())
            }
            NodeRequest::Unregister { actor, node } => {
                self.dir_unregister_local(&actor, node);
                NodeResponse::Done
            }
            NodeRequest::Handoff { entries } => {
                let losers = self.accept_handoff(entries);
                self.stop_duplicates(losers);
                NodeResponse::Done
            }
            NodeRequest::Report {
                host,
                ring,
                actors,
                complete,
            } => {
                let losers = self.accept_report(host, ring, actors, complete);
                self.stop_duplicates(losers);
                NodeResponse::Done
            }
            NodeRequest::Deactivate { actor } => {
                let hosted = lock(&self.activations).get(&actor).map(Arc::clone);
                if let Some(a) = hosted {
                    a.stop();
                }
                NodeResponse::Done
            }
        }
    }

    /// Handles a call from a peer node (one the fast path in `inbound.rs`
    /// did not hand straight to its activation).
    async fn handle_call(self: Arc<Self>, from: NodeId, call: CallRequest) -> CallAnswer {
        if let Some(refusal) = self.refuse_from(&from) {
            return CallAnswer::Failed(refusal);
        }
        let CallRequest {
            target,
            method,
            body,
            chain,
            shared,
        } = call;
        // Stopped, or leaving and no longer hosting the actor: the call
        // certainly did not run here; the caller re-routes.
        if self.stopping.load(Ordering::Relaxed)
            || (self.leaving.load(Ordering::Acquire)
                && !lock(&self.activations).contains_key(&target))
        {
            if self.leaving.load(Ordering::Acquire) {
                self.forget_stale_entry(&target).await;
            }
            return CallAnswer::NotHere;
        }
        if let Err(e) = check_cycle(&target, shared, &chain).and(self.check_lease()) {
            return CallAnswer::Failed(e);
        }
        if !self.types.contains_key(target.type_name.as_ref()) {
            return CallAnswer::Failed(CallError::UnknownActorType {
                actor_type: target.type_name.to_string(),
            });
        }
        let activation = match self.hosted_or_activate(&target, false).await {
            Ok(Some(a)) => a,
            Ok(None) => return CallAnswer::NotHere,
            Err(e) => return CallAnswer::Failed(e),
        };
        let (reply, rx) = RemoteReply::to_task();
        activation.deliver_remote(method, body, chain, reply);
        match rx.await {
            Ok(Ok(bytes)) => CallAnswer::Reply(bytes),
            Ok(Err(e)) => CallAnswer::Failed(e),
            // Dropped unrun: the activation stopped; re-route.
            Err(_) => CallAnswer::NotHere,
        }
    }

    /// Tells each losing node to stop its duplicate activation (the
    /// directory kept another one).
    fn stop_duplicates(self: &Arc<Self>, losers: Vec<(NodeId, ActorId)>) {
        for (loser, actor) in losers {
            tracing::warn!(%actor, node = %loser, "duplicate activation found; stopping it");
            let inner = Arc::clone(self);
            self.providers.spawn_named("stop-duplicate", async move {
                let req = NodeRequest::Deactivate { actor };
                if let Err(e) = inner.request(loser, &req, Duration::from_secs(5)).await {
                    tracing::warn!(node = %loser, error = %e, "could not stop a duplicate activation");
                }
            });
        }
    }

    /// Serves the membership table to the cluster: the primary answers from
    /// the table it hosts; any other node forwards to the table it uses,
    /// so any node can be a new node's seed.
    async fn serve_membership(&self, op: protocol::MembershipOp) -> NodeResponse {
        let table: &dyn MembershipTable = match &self.hosted_membership {
            Some(hosted) => hosted,
            None => &*self.membership,
        };
        let result = match op {
            protocol::MembershipOp::Primary => {
                return match (&self.hosted_membership, &self.primary) {
                    (Some(_), _) => NodeResponse::Primary(self.node_id().addr),
                    (None, Some(primary)) => NodeResponse::Primary(*lock(primary)),
                    (None, None) => NodeResponse::MembershipFailed(MembershipError::Unavailable(
                        "this node's membership table is not served over the network".to_string(),
                    )),
                };
            }
            protocol::MembershipOp::Join(m) => table.join(m).await.map(|()| Vec::new()),
            protocol::MembershipOp::ReportLoad(n, l) => {
                table.report_load(n, l).await.map(|()| Vec::new())
            }
            protocol::MembershipOp::DeclareDead(n, by) => {
                table.declare_dead(n, by).await.map(|()| Vec::new())
            }
            protocol::MembershipOp::Leave(n) => table.leave(n).await.map(|()| Vec::new()),
            protocol::MembershipOp::BeginLeave(n) => {
                table.begin_leave(n).await.map(|()| Vec::new())
            }
            protocol::MembershipOp::Withdraw(n, by) => {
                table.withdraw_suspicion(n, by).await.map(|()| Vec::new())
            }
            protocol::MembershipOp::Snapshot => table.snapshot().await,
        };
        match result {
            Ok(members) => NodeResponse::Members(members),
            Err(e) => NodeResponse::MembershipFailed(e),
        }
    }

    /// A live host for a new activation of `type_name`, per `placement`.
    fn place(&self, id: &ActorId, placement: Placement) -> Result<NodeId, CallError> {
        let view = lock(&self.view);
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
        let me = self.node_id();
        let chosen = match placement {
            Placement::PreferLocal if hosts().any(|m| m.id == me) => me,
            Placement::LeastLoaded => hosts().min_by_key(|m| (m.load, m.id)).map_or(me, |m| m.id),
            Placement::ConsistentHash => Ring::new(hosts().map(|m| m.id)).owner(id).unwrap_or(me),
            Placement::Random | Placement::PreferLocal => {
                let i = self.providers.random_below(count as u64) as usize;
                hosts().nth(i).map_or(me, |m| m.id)
            }
        };
        Ok(chosen)
    }

    /// Where `id` lives: the cache, or the directory (registering a new
    /// home chosen by `placement`); and whether the directory was asked
    /// just now.
    async fn locate(
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
                watch::refresh(self).await;
            }
            let candidate = self.place(id, placement)?;
            let registered = self
                .directory_register(id, candidate)
                .await
                .map_err(|e| unreachable(id, &e))?;
            if let Some(home) = registered {
                lock(&self.cache).insert(id.clone(), home);
                return Ok((home, true));
            }
        }
        Err(CallError::RoutingFailed {
            actor: id.to_string(),
            attempts: 3,
        })
    }
}
