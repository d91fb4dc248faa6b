//! The cluster service: this node's client of the membership table. It
//! reads the table into a [`View`] (members and ring), keeps the lease
//! that lets the node serve, remembers why reads fail, and serves the
//! table to peers when this node is the primary (or forwards for it).
//!
//! Locks: `seen` (the view and the version it was read at) may be held
//! while the directory takes its entries (see `node/mod.rs`); `failure` is
//! never held with another lock.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use moonpool_sim::{Instant, Providers};

use super::lease::Lease;
use super::membership::{
    InMemoryMembership, Member, MemberStatus, MembershipError, MembershipTable,
};
use super::protocol::{ClusterRequest, ClusterResponse, MembershipOp};
use super::view::View;
use crate::actor::CallError;
use crate::id::ActorId;
use crate::sync::lock;
use crate::transport::NodeId;

/// The view, and the table version it was read at.
#[derive(Default)]
struct Seen {
    view: View,
    version: Option<u64>,
}

/// What a read of the membership table changed.
pub(crate) enum Read {
    /// Nothing (or the read failed).
    Same,
    /// The rows (loads, statuses), not the ring; the view is updated.
    Rows,
    /// The ring: the directory moves its entries for `view`, then
    /// installs it ([`Cluster::install`]).
    Ring {
        /// The new view.
        view: View,
        /// The table version it was read at.
        version: Option<u64>,
    },
}

/// The cluster service (see the module docs).
pub(crate) struct Cluster {
    me: NodeId,
    providers: Arc<Providers>,
    table: Arc<dyn MembershipTable>,
    /// The table this node hosts for the cluster, when it is the primary.
    hosted: Option<InMemoryMembership>,
    /// The primary this node reads the table from, when it is not one.
    primary: Option<Arc<Mutex<SocketAddr>>>,
    /// Whether this node hosts nothing (a client needs no lease).
    client: bool,
    seen: Mutex<Seen>,
    /// Why the last read of the table failed (`None` once a read
    /// succeeds), and a flag for the call path to check cheaply.
    failure: Mutex<Option<MembershipError>>,
    failing: AtomicBool,
    /// The lease on serving and the placement hold after deaths (see
    /// `lease.rs`).
    pub(crate) lease: Lease,
}

impl Cluster {
    /// The client of `table` for node `me`.
    pub(crate) fn new(
        me: NodeId,
        providers: Arc<Providers>,
        table: Arc<dyn MembershipTable>,
        hosted: Option<InMemoryMembership>,
        primary: Option<Arc<Mutex<SocketAddr>>>,
        client: bool,
        lease: Lease,
    ) -> Self {
        Self {
            me,
            providers,
            table,
            hosted,
            primary,
            client,
            seen: Mutex::default(),
            failure: Mutex::new(None),
            failing: AtomicBool::new(false),
            lease,
        }
    }

    /// The membership table.
    pub(crate) fn table(&self) -> &dyn MembershipTable {
        &*self.table
    }

    /// Runs `f` on the view, holding it (the directory may take its
    /// entries inside: that is the lock order).
    pub(crate) fn with_view<R>(&self, f: impl FnOnce(&View) -> R) -> R {
        f(&lock(&self.seen).view)
    }

    /// The node owning `id`'s directory entry.
    pub(crate) fn owner(&self, id: &ActorId) -> Option<NodeId> {
        self.with_view(|v| v.owner(id))
    }

    /// Whether `node` is in service.
    pub(crate) fn is_serving(&self, node: NodeId) -> bool {
        self.with_view(|v| v.is_serving(node))
    }

    /// The members in service.
    pub(crate) fn serving(&self) -> Vec<NodeId> {
        self.with_view(|v| v.serving().map(|m| m.id).collect())
    }

    /// Whether this node's row says it was declared dead.
    pub(crate) fn declared_dead(&self) -> bool {
        self.with_view(|v| v.is_dead(self.me))
    }

    /// Reads the table (unless its version is the one last read),
    /// confirming the lease if this node is alive in it; and whether this
    /// node was declared dead.
    pub(crate) async fn read(&self) -> (Read, bool) {
        let me = self.me;
        let read_started = self.providers.now();
        // Read before the snapshot: a change racing with it bumps the
        // version again, so the next read reads anew.
        let version = self.table.version();
        {
            let seen = lock(&self.seen);
            if version.is_some() && version == seen.version {
                // Unchanged since the last read: still alive if it said so.
                if is_alive_in(&seen.view.members, me) {
                    self.lease.confirm(read_started);
                }
                return (Read::Same, false);
            }
        }
        let members = match self.table.snapshot().await {
            Ok(m) => {
                self.membership_read(Ok(()));
                m
            }
            Err(e) => {
                self.membership_read(Err(&e));
                return (Read::Same, false);
            }
        };
        if is_alive_in(&members, me) {
            self.lease.confirm(read_started);
        }
        self.lease.set_dead(
            members
                .iter()
                .filter(|m| m.status == MemberStatus::Dead)
                .map(|m| m.id)
                .collect(),
        );
        let dead_self = members
            .iter()
            .any(|m| m.id == me && m.status == MemberStatus::Dead);
        // The ring is built only when its hosts changed: most new versions
        // of the table are load reports.
        let hosts = View::hosts_of(&members);
        let mut seen = lock(&self.seen);
        let old = &seen.view;
        log_changes(me, &old.members, &members);
        let died = host_died(&old.members, &members, me);
        if died {
            self.lease.hold_placements(self.providers.now());
        }
        if old.ring_hosts() == hosts {
            // Same hosts, same ring: only the rows (loads) are new.
            seen.view.members = members;
            seen.version = version;
            return (Read::Rows, dead_self);
        }
        drop(seen);
        let view = View::new(members);
        (Read::Ring { view, version }, dead_self)
    }

    /// Installs a view read by [`Cluster::read`].
    pub(crate) fn install(&self, view: View, version: Option<u64>) {
        *lock(&self.seen) = Seen { view, version };
    }

    /// Why this node has lost the cluster's membership, if it has (see
    /// [`Node::membership_lost`](super::Node::membership_lost)).
    pub(crate) fn membership_lost(&self) -> Option<MembershipError> {
        if !self.failing.load(Ordering::Relaxed) || self.lease.serving(self.providers.now()) {
            return None;
        }
        lock(&self.failure).clone()
    }

    /// Records the outcome of a read of the table: the first failure is
    /// reported loudly, once; a success after failures, once too.
    fn membership_read(&self, result: Result<(), &MembershipError>) {
        let mut failure = lock(&self.failure);
        match result {
            Ok(()) => {
                if failure.take().is_some() {
                    self.failing.store(false, Ordering::Relaxed);
                    tracing::info!(node = %self.me, "the membership table can be read again");
                }
            }
            Err(e) => {
                if failure.replace(e.clone()).is_none() {
                    self.failing.store(true, Ordering::Relaxed);
                    tracing::error!(node = %self.me, "{e}");
                } else {
                    tracing::debug!(node = %self.me, error = %e, "membership read failed again");
                }
            }
        }
    }

    /// `Ok` while this node may run turns: its lease is live (see
    /// `lease.rs`; a client hosts nothing and always may).
    pub(crate) fn check_lease(&self) -> Result<(), CallError> {
        if self.client {
            return Ok(());
        }
        self.check_lease_at(self.providers.now())
    }

    /// [`Cluster::check_lease`] at `now`, a clock reading the caller took
    /// without waiting since (a local call's hot path reads the clock
    /// once, for its deadline, this check and its turn's idle clock).
    pub(crate) fn check_lease_at(&self, now: Instant) -> Result<(), CallError> {
        if self.client || self.lease.serving(now) {
            Ok(())
        } else {
            Err(self.lease.lapsed())
        }
    }

    /// Why a request from `from` is refused, if it is: the cluster
    /// declared that node dead, and what it still sends must not land
    /// after its actors have moved.
    pub(crate) fn refuse_from(&self, from: &NodeId) -> Option<CallError> {
        self.lease
            .is_dead(from)
            .then_some(CallError::CallerDeclaredDead { caller: *from })
    }

    /// Writes this node's row back as alive (a client after a false death
    /// declaration).
    pub(crate) async fn rejoin(&self) -> Result<(), MembershipError> {
        self.table
            .join(Member {
                id: self.me,
                status: MemberStatus::Alive,
                hosts: Vec::new(),
                load: 0,
                storage: None,
            })
            .await
    }

    /// Serves the membership table to the cluster: the primary answers
    /// from the table it hosts; any other node forwards to the table it
    /// uses, so any node can be a new node's seed.
    pub(crate) async fn serve(&self, req: ClusterRequest) -> ClusterResponse {
        let op = match req {
            ClusterRequest::Ping => return ClusterResponse::Pong,
            ClusterRequest::Membership(op) => op,
        };
        let table: &dyn MembershipTable = match &self.hosted {
            Some(hosted) => hosted,
            None => &*self.table,
        };
        let result = match op {
            MembershipOp::Primary => {
                return match (&self.hosted, &self.primary) {
                    (Some(_), _) => ClusterResponse::Primary(self.me.addr),
                    (None, Some(primary)) => ClusterResponse::Primary(*lock(primary)),
                    (None, None) => ClusterResponse::Failed(MembershipError::Unavailable(
                        "this node's membership table is not served over the network".to_string(),
                    )),
                };
            }
            MembershipOp::Join(m) => table.join(m).await.map(|()| Vec::new()),
            MembershipOp::ReportLoad(n, l) => table.report_load(n, l).await.map(|()| Vec::new()),
            MembershipOp::DeclareDead(n, by) => {
                table.declare_dead(n, by).await.map(|()| Vec::new())
            }
            MembershipOp::Leave(n) => table.leave(n).await.map(|()| Vec::new()),
            MembershipOp::BeginLeave(n) => table.begin_leave(n).await.map(|()| Vec::new()),
            MembershipOp::Withdraw(n, by) => {
                table.withdraw_suspicion(n, by).await.map(|()| Vec::new())
            }
            MembershipOp::Snapshot => table.snapshot().await,
        };
        match result {
            Ok(members) => ClusterResponse::Members(members),
            Err(e) => ClusterResponse::Failed(e),
        }
    }
}

#[cfg(test)]
impl Cluster {
    /// Whether the last read of the table failed (for the service tests).
    pub(crate) fn failing_reads(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }
}

/// Whether a host other than `me` that was in service in `old` is dead in
/// `new`, or gone from it without leaving: what it ran may move, once it
/// has surely stopped (placements are held; see `lease.rs`). A client's
/// death, a member already dead, a host that left, and load reports hold
/// nothing.
fn host_died(old: &[Member], new: &[Member], me: NodeId) -> bool {
    old.iter()
        .filter(|m| m.status.in_service() && !m.hosts.is_empty() && m.id != me)
        .any(|was| {
            !new.iter()
                .any(|m| m.id == was.id && m.status != MemberStatus::Dead)
        })
}

fn is_alive_in(members: &[Member], me: NodeId) -> bool {
    members.iter().any(|m| m.id == me && m.status.in_service())
}

/// Tells the operator, at info, what changed for each member between two
/// reads of the table (a member first seen counts as joined).
fn log_changes(me: NodeId, old: &[Member], new: &[Member]) {
    for member in new {
        let before = old.iter().find(|m| m.id == member.id).map(|m| m.status);
        if before == Some(member.status) {
            continue;
        }
        let node = member.id;
        let status = match member.status {
            MemberStatus::Alive => {
                tracing::info!(%me, %node, hosts = member.hosts.len(), "member joined");
                "alive"
            }
            MemberStatus::Leaving => {
                tracing::info!(%me, %node, "member is leaving");
                "leaving"
            }
            MemberStatus::Left => {
                tracing::info!(%me, %node, "member left");
                "left"
            }
            MemberStatus::Dead => {
                tracing::info!(%me, %node, "member is dead");
                "dead"
            }
        };
        crate::metrics::membership_change(status);
    }
}

#[cfg(test)]
mod tests {
    use crate::node::cluster::host_died;
    use crate::node::membership::{Member, MemberStatus};
    use crate::transport::NodeId;

    fn with(members: &[Member], port: u16, change: impl FnOnce(&mut Member)) -> Vec<Member> {
        let mut new = members.to_vec();
        if let Some(m) = new.iter_mut().find(|m| m.id.addr.port() == port) {
            change(m);
        }
        new
    }

    /// Placements are held after a host's death only: not after a client's,
    /// a member already dead, a graceful leave, a load report or this node's
    /// own death (it is fenced instead).
    #[test]
    fn only_a_host_dying_or_vanishing_holds_placements() {
        let alive = |port, hosts: &[&str]| Member::test(port, MemberStatus::Alive, hosts);
        let old = vec![
            alive(1, &["T"]),
            alive(2, &["T"]),
            alive(3, &["T"]),
            alive(4, &[]),
        ];
        let me = NodeId::test(1);
        let dead = |m: &mut Member| m.status = MemberStatus::Dead;
        assert!(
            host_died(&old, &with(&old, 2, dead), me),
            "a host declared dead"
        );
        let gone: Vec<Member> = old
            .iter()
            .filter(|m| m.id.addr.port() != 3)
            .cloned()
            .collect();
        assert!(host_died(&old, &gone, me), "a host gone from the table");
        let restarted = with(&old, 3, |m| m.id.incarnation += 1);
        assert!(
            host_died(&old, &restarted, me),
            "a host replaced by its next life"
        );
        let leaving = with(&old, 2, |m| m.status = MemberStatus::Leaving);
        assert!(
            host_died(&leaving, &with(&leaving, 2, dead), me),
            "a leaving host declared dead"
        );

        assert!(!host_died(&old, &old, me), "nothing changed");
        assert!(
            !host_died(&old, &with(&old, 2, |m| m.load = 7), me),
            "a load report"
        );
        assert!(
            !host_died(&old, &with(&old, 4, dead), me),
            "a client declared dead"
        );
        assert!(
            !host_died(&old, &with(&old, 1, dead), me),
            "this node declared dead"
        );
        let left = with(&old, 2, |m| m.status = MemberStatus::Left);
        assert!(!host_died(&old, &left, me), "a host that left");
        assert!(
            !host_died(
                &leaving,
                &with(&leaving, 2, |m| m.status = MemberStatus::Left),
                me
            ),
            "a leaving host that left"
        );
        let was_dead = with(&old, 2, dead);
        assert!(
            !host_died(&was_dead, &with(&was_dead, 3, |m| m.load = 7), me),
            "a host dead already"
        );
        let mut joined = old.clone();
        joined.push(alive(5, &["T"]));
        assert!(!host_died(&old, &joined, me), "a host joined");
    }
}
