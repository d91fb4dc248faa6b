//! Keeping the view of the cluster current: refresh membership, probe
//! peers, declare the silent dead, report load.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Weak;
use std::time::Duration;

use moonpool_sim::Instant;

use super::protocol::ClusterRequest;
use super::root::NodeInner;
use crate::transport::NodeId;

/// How often a node reports an unchanged load (it doubles as the "I am
/// alive" time of tables that keep one).
const LOAD_HEARTBEAT: Duration = Duration::from_secs(10);

/// Re-reads the membership table every probe interval, on its own so that
/// slow probes never delay it: the node's lease depends on it.
pub(crate) async fn keep_membership(node: Weak<NodeInner>) {
    loop {
        let Some(n) = node.upgrade() else { return };
        if n.host.is_stopping() {
            return;
        }
        n.directory.refresh().await;
        let (p, interval) = (n.providers.clone(), n.config.probe_interval);
        drop(n);
        p.sleep(interval).await;
    }
}

/// Runs until the node is gone: refresh, probe, report load.
pub(crate) async fn watch(node: Weak<NodeInner>) {
    let mut missed: BTreeMap<NodeId, u32> = BTreeMap::new();
    // Peers this node voted dead that have not been declared dead yet.
    let mut voted: BTreeSet<NodeId> = BTreeSet::new();
    // The load last reported, and when: an unchanged load is reported
    // again only every LOAD_HEARTBEAT (each report is a write to the
    // table, and a new version every node then reads).
    let mut reported: Option<(u64, Instant)> = None;
    loop {
        let Some(n) = node.upgrade() else { return };
        if n.host.is_stopping() {
            return;
        }
        let interval = n.config.probe_interval;
        // The membership itself is re-read by `keep_membership`.
        n.router.prune();
        n.directory.send_reports(n.config.probe_timeout).await;
        let me = n.node_id();
        if n.cluster.declared_dead() {
            if n.host.is_client() {
                // A client hosts nothing that could be duplicated: it just
                // rejoins.
                tracing::warn!(node = %me, "this client was declared dead; rejoining");
                let _ = n.cluster.rejoin().await;
            } else {
                // Another node could not reach us and the cluster has moved
                // our actors elsewhere: serving them on would mean two
                // activations. (`refresh` has fenced the node already.)
                n.host.fence();
                return;
            }
        }
        let load = n.host.count() as u64;
        let now = n.providers.now();
        let due = reported.is_none_or(|(last, at)| last != load || now - at >= LOAD_HEARTBEAT);
        if due && n.cluster.table().report_load(me, load).await.is_ok() {
            reported = Some((load, now));
        }
        let peers: Vec<NodeId> = n
            .cluster
            .serving()
            .into_iter()
            .filter(|id| *id != me)
            .collect();
        // Forget peers that are gone from the view (dead or left).
        missed.retain(|id, _| peers.contains(id));
        voted.retain(|id| peers.contains(id));
        for peer in peers {
            let ok = n
                .net
                .request(peer, &ClusterRequest::Ping, n.config.probe_timeout)
                .await
                .is_ok();
            let count = missed.entry(peer).or_insert(0);
            *count = if ok { 0 } else { count.saturating_add(1) };
            if ok && voted.remove(&peer) {
                tracing::info!(%peer, "peer answers probes again; withdrawing the vote against it");
                let _ = n.cluster.table().withdraw_suspicion(peer, me).await;
            }
            // A client keeps probing (a peer that answers again is worth
            // knowing) but casts no vote: tables ignore clients' votes.
            if *count >= n.config.missed_probes && !n.host.is_client() {
                tracing::warn!(%peer, missed = *count, "peer stopped answering probes; voting it dead");
                let _ = n.cluster.table().declare_dead(peer, me).await;
                voted.insert(peer);
                missed.remove(&peer);
                n.directory.refresh().await;
            }
        }
        let p = n.providers.clone();
        drop(n);
        p.sleep(interval).await;
    }
}
