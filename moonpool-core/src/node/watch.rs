//! Keeping the view of the cluster current: refresh membership, probe
//! peers, declare the silent dead, report load.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Weak;

use super::protocol::NodeRequest;
use super::recovery::ring_hosts;
use super::ring::Ring;
use super::{MemberStatus, NodeInner, View};
use crate::sync::lock;
use crate::transport::NodeId;

/// Reads the membership table and rebuilds the view; returns whether the
/// set of live hosts changed. A read that shows this node alive renews its
/// lease; one that shows it dead fences it at once; a host that died holds
/// new placements (see `lease.rs`).
pub(crate) async fn refresh(node: &NodeInner) -> bool {
    let read_started = node.providers.now();
    // Read before the snapshot: a change racing with it bumps the version
    // again, so the next refresh reads anew.
    let version = node.membership.version();
    if version.is_some() && version == *lock(&node.seen_version) {
        // Unchanged since the last read: still alive if it said so.
        if is_alive_in(&lock(&node.view).members, node.node_id()) {
            node.lease.confirm(read_started);
        }
        return false;
    }
    let members = match node.membership.snapshot().await {
        Ok(m) => {
            node.membership_read(Ok(()));
            m
        }
        Err(e) => {
            node.membership_read(Err(&e));
            return false;
        }
    };
    let me = node.node_id();
    if is_alive_in(&members, me) {
        node.lease.confirm(read_started);
    }
    node.lease.set_dead(
        members
            .iter()
            .filter(|m| m.status == MemberStatus::Dead)
            .map(|m| m.id)
            .collect(),
    );
    let hosts: Vec<NodeId> = members
        .iter()
        .filter(|m| m.status.in_service() && !m.hosts.is_empty())
        .map(|m| m.id)
        .collect();
    let dead_self = members
        .iter()
        .any(|m| m.id == me && m.status == MemberStatus::Dead);
    {
        let mut old = lock(&node.view);
        // Hosts that were alive and are now dead, or gone without leaving:
        // what they ran may move, once they have surely stopped.
        let died = old
            .members
            .iter()
            .filter(|m| m.status.in_service() && !m.hosts.is_empty() && m.id != me)
            .any(|was| {
                !members
                    .iter()
                    .any(|m| m.id == was.id && m.status != MemberStatus::Dead)
            });
        if died {
            node.lease.hold_placements(node.providers.now());
        }
        let same_hosts = old
            .members
            .iter()
            .filter(|m| m.status.in_service() && !m.hosts.is_empty())
            .map(|m| m.id)
            .eq(hosts.iter().copied());
        if same_hosts {
            // Same hosts, same ring: only the rows (loads) are new.
            old.members = members;
            *lock(&node.seen_version) = version;
            drop(old);
            fence_if(node, dead_self);
            return false;
        }
    }
    let view = View {
        ring: Ring::new(hosts.iter().copied()),
        members,
    };
    node.rebalance_directory(&view).await;
    let ring = ring_hosts(&view);
    *lock(&node.view) = view;
    // Partitions may have moved or died with their node: until every host
    // has reported its activations, registrations ask the hosts that have
    // not (see `recovery.rs`).
    node.begin_recovery(ring);
    *lock(&node.seen_version) = version;
    fence_if(node, dead_self);
    true
}

/// Whether `me` is in service in `members` (a leaving node still serves
/// the activations it has, so its lease goes on).
fn is_alive_in(members: &[super::Member], me: NodeId) -> bool {
    members.iter().any(|m| m.id == me && m.status.in_service())
}

/// A hosting node that reads that it was declared dead stops serving at
/// once: the cluster is moving its actors elsewhere. (A client hosts
/// nothing that could be duplicated: the watch loop has it rejoin.)
fn fence_if(node: &NodeInner, declared_dead: bool) {
    if declared_dead && !node.hosts_no_types() && !node.is_stopping() {
        tracing::error!(node = %node.node_id(), "this node was declared dead; it stops serving");
        node.fence();
    }
}

/// Re-reads the membership table every probe interval, on its own so that
/// slow probes never delay it: the node's lease depends on it.
pub(crate) async fn keep_membership(node: Weak<NodeInner>) {
    loop {
        let Some(n) = node.upgrade() else { return };
        if n.is_stopping() {
            return;
        }
        refresh(&n).await;
        let (p, interval) = (n.providers.clone(), n.config.probe_interval);
        drop(n);
        p.sleep(interval).await;
    }
}

fn declared_dead(node: &NodeInner, me: NodeId) -> bool {
    lock(&node.view)
        .members
        .iter()
        .any(|m| m.id == me && m.status == MemberStatus::Dead)
}

/// Runs until the node is gone: refresh, probe, report load.
pub(crate) async fn watch(node: Weak<NodeInner>) {
    let mut missed: BTreeMap<NodeId, u32> = BTreeMap::new();
    // Peers this node voted dead that have not been declared dead yet.
    let mut voted: BTreeSet<NodeId> = BTreeSet::new();
    loop {
        let Some(n) = node.upgrade() else { return };
        if n.stopping.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let interval = n.config.probe_interval;
        refresh(&n).await;
        n.send_reports(n.config.probe_timeout).await;
        let me = n.node_id();
        if declared_dead(&n, me) {
            if n.hosts_no_types() {
                // A client hosts nothing that could be duplicated: it just
                // rejoins.
                tracing::warn!(node = %me, "this client was declared dead; rejoining");
                let _ = n.rejoin().await;
            } else {
                // Another node could not reach us and the cluster has moved
                // our actors elsewhere: serving them on would mean two
                // activations. (`refresh` has fenced the node already.)
                fence_if(&n, true);
                return;
            }
        }
        let load = lock(&n.activations).len() as u64;
        let _ = n.membership.report_load(me, load).await;
        let peers: Vec<NodeId> = lock(&n.view)
            .serving()
            .map(|m| m.id)
            .filter(|id| *id != me)
            .collect();
        // Forget peers that are gone from the view (dead or left).
        missed.retain(|id, _| peers.contains(id));
        voted.retain(|id| peers.contains(id));
        for peer in peers {
            let ok = n
                .request(peer, &NodeRequest::Ping, n.config.probe_timeout)
                .await
                .is_ok();
            let count = missed.entry(peer).or_insert(0);
            *count = if ok { 0 } else { *count + 1 };
            if ok && voted.remove(&peer) {
                tracing::info!(%peer, "peer answers probes again; withdrawing the vote against it");
                let _ = n.membership.withdraw_suspicion(peer, me).await;
            }
            if *count >= n.config.missed_probes {
                tracing::warn!(%peer, missed = *count, "peer stopped answering probes; voting it dead");
                let _ = n.membership.declare_dead(peer, me).await;
                voted.insert(peer);
                missed.remove(&peer);
                refresh(&n).await;
            }
        }
        let p = n.providers.clone();
        drop(n);
        p.sleep(interval).await;
    }
}
