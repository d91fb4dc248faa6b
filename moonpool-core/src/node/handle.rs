//! The public handle of a node: [`Node`].

use std::sync::Arc;
use std::time::Duration;

use super::membership::MembershipError;
use super::root::NodeInner;
use crate::actor::{Actor, ActorRef, Runtime};
use crate::id::ActorId;
use crate::transport::NodeId;

/// A node of a moonpool cluster. Cheap to clone; not generic over
/// providers (they were chosen when it was built).
///
/// # Example
///
/// ```
/// use moonpool::prelude::*;
///
/// #[moonpool::actor]
/// #[derive(Default)]
/// pub struct Account {
///     balance: u64,
/// }
///
/// #[moonpool::actor_impl]
/// impl Account {
///     pub async fn deposit(&mut self, amount: u64) -> u64 {
///         self.balance += amount;
///         self.balance
///     }
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let node = Node::builder("bank").host::<Account>().build().await.unwrap();
/// let alice = node.actor::<Account>("alice"); // a typed reference
/// assert_eq!(alice.deposit(10).await.unwrap(), 10); // activates her
/// assert_eq!(node.activation_count(), 1);
/// node.shutdown().await;
/// # });
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
    /// fail with [`CallError::MembershipUnavailable`](crate::actor::CallError::MembershipUnavailable). With a development
    /// membership ([`NodeBuilder::primary`](super::NodeBuilder::primary)) this is what losing the
    /// primary looks like; a process may report it and exit.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let node = moonpool_core::Node::builder("bank").build().await.unwrap();
    /// if let Some(e) = node.membership_lost() {
    ///     eprintln!("{e}");
    ///     std::process::exit(1);
    /// }
    /// # node.shutdown().await;
    /// # });
    /// ```
    pub fn membership_lost(&self) -> Option<MembershipError> {
        self.inner.cluster.membership_lost()
    }

    /// Whether this node has stopped serving (shut down, or declared dead
    /// by its peers).
    pub fn is_stopped(&self) -> bool {
        self.inner.host.is_stopping()
    }

    /// How many activations this node hosts.
    pub fn activation_count(&self) -> usize {
        self.inner.host.count()
    }

    /// Whether this node hosts an activation of `id` right now.
    pub fn hosts(&self, id: &ActorId) -> bool {
        self.inner.host.contains(id)
    }

    /// The node holding `id`'s directory entry, as this node sees the
    /// cluster now (`None` before it knows of any host). For diagnostics
    /// and tests: ownership moves whenever membership changes.
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool::prelude::*;
    ///
    /// #[moonpool::actor]
    /// #[derive(Default)]
    /// pub struct Account {
    ///     balance: u64,
    /// }
    ///
    /// #[moonpool::actor_impl]
    /// impl Account {
    ///     pub async fn deposit(&mut self, amount: u64) -> u64 {
    ///         self.balance += amount;
    ///         self.balance
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let node = Node::builder("bank").host::<Account>().build().await.unwrap();
    /// let owner = node.directory_owner(&ActorId::of::<Account>("alice"));
    /// assert_eq!(owner, Some(node.id())); // a cluster of one
    /// # node.shutdown().await;
    /// # });
    /// ```
    pub fn directory_owner(&self, id: &ActorId) -> Option<NodeId> {
        self.inner.directory.owner(id)
    }

    /// The members in service this node knows of (alive, or leaving but
    /// not gone yet).
    pub fn live_members(&self) -> Vec<NodeId> {
        self.inner.cluster.serving()
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
    /// what is left: a second call made while the first runs waits for it
    /// and returns when the node has left; a call cancelled half-way (its
    /// future dropped) leaves the rest to the next.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        let p = Arc::clone(&inner.providers);
        let me = self.id();
        let host = &inner.host;
        // A second call waits for the first, then finds it done. Each step
        // below is safe to repeat, so a call cancelled half-way is finished
        // by the next.
        let _one = host.one_leave_at_a_time().await;
        host.mark_leaving();
        if !host.is_stopping() {
            let hosting = !host.is_client();
            if hosting {
                tracing::info!(node = %me, "leaving the cluster");
                if let Err(e) = inner.cluster.table().begin_leave(me).await {
                    tracing::warn!(node = %me, error = %e, "could not mark this node as leaving; peers learn of it when it has left");
                }
                inner.directory.refresh().await;
                for a in host.all() {
                    a.stop();
                }
                host.wait_until_empty(Duration::from_secs(10)).await;
            }
            if let Err(e) = inner.cluster.table().leave(me).await {
                tracing::warn!(node = %me, error = %e, "could not mark this node as left; peers will declare it dead");
            }
            inner.directory.refresh().await;
            // Peers re-read the membership at least once per probe
            // interval (a read takes at most a probe timeout): until they
            // have, calls may still come here, and are answered "not
            // here".
            let peers = inner.cluster.serving().iter().any(|m| *m != me);
            if hosting && peers {
                p.sleep(inner.config.probe_interval + inner.config.probe_timeout)
                    .await;
            }
            tracing::info!(node = %me, "left the cluster");
        }
        host.stop();
        inner.net.transport().shutdown();
        inner.net.transport().listener_closed().await;
    }
}
