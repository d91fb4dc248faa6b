//! Cluster membership: who is in the cluster, which actor types each node
//! hosts, and who has been declared dead.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use moonpool_sim::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::transport::{NodeId, lock};

/// A member's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberStatus {
    /// Serving.
    Alive,
    /// Declared dead by a peer that could not reach it.
    Dead,
    /// Left gracefully.
    Left,
}

/// One row of the membership table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The node.
    pub id: NodeId,
    /// Its state.
    pub status: MemberStatus,
    /// The actor types it hosts (empty for a client).
    pub hosts: Vec<String>,
    /// Its activation count, as last reported.
    pub load: u64,
}

/// Why the membership table could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("membership table unavailable: {0}")]
pub struct MembershipError(pub String);

/// Where the cluster's membership lives.
///
/// [`InMemoryMembership`] serves nodes that share one OS process (tests,
/// a single-binary development cluster); a database-backed table can
/// implement the same trait.
pub trait MembershipTable: Send + Sync + 'static {
    /// Adds or replaces (on a new incarnation) `member`.
    fn join(&self, member: Member) -> BoxFuture<'static, Result<(), MembershipError>>;
    /// Reports `node`'s current load.
    fn report_load(
        &self,
        node: NodeId,
        load: u64,
    ) -> BoxFuture<'static, Result<(), MembershipError>>;
    /// Marks `node` dead (`by` could not reach it).
    fn declare_dead(
        &self,
        node: NodeId,
        by: NodeId,
    ) -> BoxFuture<'static, Result<(), MembershipError>>;
    /// Marks `node` as having left.
    fn leave(&self, node: NodeId) -> BoxFuture<'static, Result<(), MembershipError>>;
    /// Every row.
    fn snapshot(&self) -> BoxFuture<'static, Result<Vec<Member>, MembershipError>>;
}

/// A membership table in memory, shared by the nodes of one OS process.
///
/// # Example
///
/// ```
/// use moonpool_core::node::InMemoryMembership;
/// let table = InMemoryMembership::new();
/// let shared = table.clone(); // hand one clone to each node
/// # let _ = shared;
/// ```
#[derive(Clone, Default)]
pub struct InMemoryMembership {
    rows: Arc<Mutex<BTreeMap<SocketAddr, Member>>>,
    /// Who suspects whom: a node is declared dead once enough distinct live
    /// hosts vote (two when there are at least two others, else one), so a
    /// single node with a bad link cannot kill the cluster.
    suspicions: Arc<Mutex<BTreeMap<NodeId, std::collections::BTreeSet<NodeId>>>>,
}

impl InMemoryMembership {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    fn update(
        &self,
        f: impl FnOnce(&mut BTreeMap<SocketAddr, Member>),
    ) -> BoxFuture<'static, Result<(), MembershipError>> {
        f(&mut lock(&self.rows));
        Box::pin(async { Ok(()) })
    }
}

impl MembershipTable for InMemoryMembership {
    fn join(&self, member: Member) -> BoxFuture<'static, Result<(), MembershipError>> {
        lock(&self.suspicions).remove(&member.id);
        self.update(|rows| {
            rows.insert(member.id.addr, member);
        })
    }

    fn report_load(
        &self,
        node: NodeId,
        load: u64,
    ) -> BoxFuture<'static, Result<(), MembershipError>> {
        self.update(|rows| {
            if let Some(m) = rows.get_mut(&node.addr).filter(|m| m.id == node) {
                m.load = load;
            }
        })
    }

    fn declare_dead(
        &self,
        node: NodeId,
        by: NodeId,
    ) -> BoxFuture<'static, Result<(), MembershipError>> {
        self.update(|rows| {
            if let Some(m) = rows
                .get_mut(&node.addr)
                .filter(|m| m.id == node && m.status == MemberStatus::Alive)
            {
                tracing::warn!(%node, %by, "member declared dead");
                m.status = MemberStatus::Dead;
            }
        })
    }

    fn leave(&self, node: NodeId) -> BoxFuture<'static, Result<(), MembershipError>> {
        self.update(|rows| {
            if let Some(m) = rows.get_mut(&node.addr).filter(|m| m.id == node) {
                m.status = MemberStatus::Left;
            }
        })
    }

    fn snapshot(&self) -> BoxFuture<'static, Result<Vec<Member>, MembershipError>> {
        let rows: Vec<Member> = lock(&self.rows).values().cloned().collect();
        Box::pin(async move { Ok(rows) })
    }
}

/// The membership table of a development cluster, hosted by one primary
/// node (built with [`NodeBuilder::host_membership`]) and reached over the
/// cluster transport by the others (built with
/// [`NodeBuilder::primary`]). If the primary is down, membership cannot
/// change until it is back.
///
/// [`NodeBuilder::host_membership`]: super::NodeBuilder::host_membership
/// [`NodeBuilder::primary`]: super::NodeBuilder::primary
#[derive(Clone)]
pub(crate) struct PrimaryMembership {
    pub(crate) primary: SocketAddr,
    pub(crate) transport: Arc<std::sync::OnceLock<crate::transport::Transport>>,
    pub(crate) timeout: std::time::Duration,
}

impl PrimaryMembership {
    fn ask(
        &self,
        op: super::protocol::MembershipOp,
    ) -> BoxFuture<'static, Result<Vec<Member>, MembershipError>> {
        let this = self.clone();
        Box::pin(async move {
            let transport = this.transport.get().ok_or_else(|| {
                MembershipError("the node's transport is not running".to_string())
            })?;
            let req = super::protocol::NodeRequest::Membership(op);
            let bytes = postcard::to_allocvec(&req).map_err(|e| MembershipError(e.to_string()))?;
            let reply = transport
                .request(this.primary, bytes, this.timeout)
                .await
                .map_err(|e| {
                    MembershipError(format!("primary {} unreachable: {e}", this.primary))
                })?;
            match postcard::from_bytes(&reply).map_err(|e| MembershipError(e.to_string()))? {
                super::protocol::NodeResponse::Members(m) => Ok(m),
                super::protocol::NodeResponse::Done => Ok(Vec::new()),
                other => Err(MembershipError(format!(
                    "unexpected answer from the primary: {other:?}"
                ))),
            }
        })
    }
}

impl MembershipTable for PrimaryMembership {
    fn join(&self, member: Member) -> BoxFuture<'static, Result<(), MembershipError>> {
        let f = self.ask(super::protocol::MembershipOp::Join(member));
        Box::pin(async move { f.await.map(|_| ()) })
    }

    fn report_load(
        &self,
        node: NodeId,
        load: u64,
    ) -> BoxFuture<'static, Result<(), MembershipError>> {
        let f = self.ask(super::protocol::MembershipOp::ReportLoad(node, load));
        Box::pin(async move { f.await.map(|_| ()) })
    }

    fn declare_dead(
        &self,
        node: NodeId,
        by: NodeId,
    ) -> BoxFuture<'static, Result<(), MembershipError>> {
        let f = self.ask(super::protocol::MembershipOp::DeclareDead(node, by));
        Box::pin(async move { f.await.map(|_| ()) })
    }

    fn leave(&self, node: NodeId) -> BoxFuture<'static, Result<(), MembershipError>> {
        let f = self.ask(super::protocol::MembershipOp::Leave(node));
        Box::pin(async move { f.await.map(|_| ()) })
    }

    fn snapshot(&self) -> BoxFuture<'static, Result<Vec<Member>, MembershipError>> {
        self.ask(super::protocol::MembershipOp::Snapshot)
    }
}
