//! Cluster membership: who is in the cluster, which actor types each node
//! hosts, and who has been declared dead.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use moonpool_sim::BoxFuture;
use serde::{Deserialize, Serialize};

pub use crate::actor::MembershipError;
use crate::sync::lock;
use crate::transport::NodeId;

/// A member's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberStatus {
    /// Serving.
    Alive,
    /// Declared dead by a peer that could not reach it.
    Dead,
    /// Left gracefully.
    Left,
    /// Leaving gracefully: it still serves the activations it has while it
    /// deactivates them, but nothing new is placed on it.
    Leaving,
}

impl MemberStatus {
    /// Whether a member in this state may still host activations and own
    /// a directory partition (alive, or leaving but not gone yet).
    ///
    /// ```
    /// use moonpool_core::node::MemberStatus;
    /// assert!(MemberStatus::Leaving.in_service());
    /// assert!(!MemberStatus::Left.in_service());
    /// ```
    pub fn in_service(self) -> bool {
        matches!(self, Self::Alive | Self::Leaving)
    }
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
    /// The identity of its state storage, if it has one: the hosts of a
    /// cluster must share one store (a node whose store differs is refused
    /// at start-up).
    pub storage: Option<u64>,
}

#[cfg(test)]
impl Member {
    /// A member for unit tests: [`NodeId::test`]`(port)` in `status`,
    /// hosting `hosts` (none: a client), with no load and no storage.
    pub(crate) fn test(port: u16, status: MemberStatus, hosts: &[&str]) -> Self {
        Self {
            id: NodeId::test(port),
            status,
            hosts: hosts.iter().map(|h| (*h).to_string()).collect(),
            load: 0,
            storage: None,
        }
    }
}

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
    /// `by` could not reach `node`: a vote to declare it dead. The table
    /// marks `node` dead once enough distinct live hosts have voted
    /// ([`InMemoryMembership`] wants two when at least two other hosts are
    /// alive, so one node with a bad link cannot kill a healthy one).
    /// Client-only members do not vote: their votes are ignored and they
    /// do not count among the others.
    fn declare_dead(
        &self,
        node: NodeId,
        by: NodeId,
    ) -> BoxFuture<'static, Result<(), MembershipError>>;
    /// `by` reaches `node` again: its vote against `node` no longer counts.
    /// The default does nothing (for tables that declare death on one
    /// vote).
    fn withdraw_suspicion(
        &self,
        _node: NodeId,
        _by: NodeId,
    ) -> BoxFuture<'static, Result<(), MembershipError>> {
        Box::pin(async { Ok(()) })
    }
    /// Marks `node` as leaving: it takes no new activations, and leaves
    /// (see [`leave`](Self::leave)) once its own are gone. A member that is
    /// not in service stays as it is.
    fn begin_leave(&self, node: NodeId) -> BoxFuture<'static, Result<(), MembershipError>>;
    /// Marks `node` as having left.
    fn leave(&self, node: NodeId) -> BoxFuture<'static, Result<(), MembershipError>>;
    /// Every row.
    fn snapshot(&self) -> BoxFuture<'static, Result<Vec<Member>, MembershipError>>;
    /// A number that changes whenever any row does, if the table can tell
    /// cheaply: a node skips re-reading a table whose version it has seen.
    /// The default (`None`) means "read every time".
    fn version(&self) -> Option<u64> {
        None
    }
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
    /// Bumped on every change to `rows`.
    version: Arc<std::sync::atomic::AtomicU64>,
    /// How many times a node asked for the version (tests count the reads
    /// a path makes).
    #[cfg(test)]
    version_reads: Arc<std::sync::atomic::AtomicU64>,
    /// While set, reads fail as a database that is down would (tests of
    /// what a node does when it cannot read the table).
    #[cfg(test)]
    unavailable: Arc<std::sync::atomic::AtomicBool>,
}

impl InMemoryMembership {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `node`'s row says it was declared dead (read at once: the
    /// table is in memory).
    pub(crate) fn is_declared_dead(&self, node: NodeId) -> bool {
        lock(&self.rows)
            .get(&node.addr)
            .is_some_and(|m| m.id == node && m.status == MemberStatus::Dead)
    }

    /// How many times [`MembershipTable::version`] was asked so far.
    #[cfg(test)]
    pub(crate) fn version_reads(&self) -> u64 {
        self.version_reads
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Makes reads of the table fail (`true`) or work again (`false`): a
    /// snapshot is refused and the version unknown, as a database that is
    /// down would answer.
    #[cfg(test)]
    pub(crate) fn set_unavailable(&self, unavailable: bool) {
        self.unavailable
            .store(unavailable, std::sync::atomic::Ordering::Release);
    }

    #[cfg(test)]
    fn is_unavailable(&self) -> bool {
        self.unavailable.load(std::sync::atomic::Ordering::Acquire)
    }

    fn bump(&self) {
        self.version
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn update(
        &self,
        f: impl FnOnce(&mut BTreeMap<SocketAddr, Member>),
    ) -> BoxFuture<'static, Result<(), MembershipError>> {
        f(&mut lock(&self.rows));
        self.bump();
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
        let mut rows = lock(&self.rows);
        let alive = |rows: &BTreeMap<SocketAddr, Member>, n: &NodeId| {
            rows.get(&n.addr)
                .is_some_and(|m| m.id == *n && m.status.in_service())
        };
        // Only hosts vote: a client's link is not the cluster's view (a
        // client with a bad link must not kill the last host).
        let voter = |rows: &BTreeMap<SocketAddr, Member>, n: &NodeId| {
            rows.get(&n.addr)
                .is_some_and(|m| m.id == *n && m.status.in_service() && !m.hosts.is_empty())
        };
        if node == by || !alive(&rows, &node) || !voter(&rows, &by) {
            return Box::pin(async { Ok(()) });
        }
        let mut suspicions = lock(&self.suspicions);
        let votes = suspicions.entry(node).or_default();
        votes.insert(by);
        votes.retain(|v| voter(&rows, v));
        let others = rows
            .values()
            .filter(|m| m.status.in_service() && m.id != node && !m.hosts.is_empty())
            .count();
        let needed = if others >= 2 { 2 } else { 1 };
        if votes.len() >= needed {
            tracing::warn!(%node, votes = votes.len(), "member declared dead");
            suspicions.remove(&node);
            if let Some(m) = rows.get_mut(&node.addr) {
                m.status = MemberStatus::Dead;
            }
            self.bump();
        } else {
            tracing::debug!(%node, %by, votes = votes.len(), needed, "member suspected");
        }
        Box::pin(async { Ok(()) })
    }

    fn withdraw_suspicion(
        &self,
        node: NodeId,
        by: NodeId,
    ) -> BoxFuture<'static, Result<(), MembershipError>> {
        let mut suspicions = lock(&self.suspicions);
        if let Some(votes) = suspicions.get_mut(&node) {
            votes.remove(&by);
            if votes.is_empty() {
                suspicions.remove(&node);
            }
        }
        Box::pin(async { Ok(()) })
    }

    fn begin_leave(&self, node: NodeId) -> BoxFuture<'static, Result<(), MembershipError>> {
        self.update(|rows| {
            if let Some(m) = rows
                .get_mut(&node.addr)
                .filter(|m| m.id == node && m.status == MemberStatus::Alive)
            {
                m.status = MemberStatus::Leaving;
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
        #[cfg(test)]
        if self.is_unavailable() {
            return Box::pin(async {
                Err(MembershipError::Unavailable(
                    "the test made the table unavailable".to_string(),
                ))
            });
        }
        let rows: Vec<Member> = lock(&self.rows).values().cloned().collect();
        Box::pin(async move { Ok(rows) })
    }

    fn version(&self) -> Option<u64> {
        #[cfg(test)]
        self.version_reads
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        #[cfg(test)]
        if self.is_unavailable() {
            return None;
        }
        Some(self.version.load(std::sync::atomic::Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `is_declared_dead` (what `SimCluster::restart_declared_dead` asks)
    /// answers for one life of a node: declared dead, not alive, leaving,
    /// left, unknown, or an earlier life of a node declared dead.
    #[test]
    fn declared_dead_means_this_life_was_voted_dead() {
        moonpool_sim::Simulation::new(1)
            .run(|_| async {
                let table = InMemoryMembership::new();
                let [a, b, c] = [1, 2, 3].map(|p| Member::test(p, MemberStatus::Alive, &["T"]));
                for m in [&a, &b, &c] {
                    table.join(m.clone()).await.unwrap();
                }
                assert!(!table.is_declared_dead(a.id), "alive");
                assert!(!table.is_declared_dead(NodeId::test(9)), "unknown");
                table.begin_leave(b.id).await.unwrap();
                assert!(!table.is_declared_dead(b.id), "leaving");
                table.leave(b.id).await.unwrap();
                assert!(!table.is_declared_dead(b.id), "left");
                // Two hosts in service (A, C): one vote is enough.
                table.declare_dead(a.id, c.id).await.unwrap();
                assert!(table.is_declared_dead(a.id), "voted dead");
                let earlier = NodeId {
                    incarnation: a.id.incarnation - 1,
                    ..a.id
                };
                assert!(!table.is_declared_dead(earlier), "an earlier life");
                let later = NodeId {
                    incarnation: a.id.incarnation + 1,
                    ..a.id
                };
                assert!(!table.is_declared_dead(later), "a later life");
            })
            .unwrap();
    }
}
