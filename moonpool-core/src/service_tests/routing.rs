//! The router: the location cache, and one-way sends.

use std::time::Duration;

use moonpool_sim::SimContext;

use crate::actor::Placement;
use crate::service_tests::{
    Local, Probe, Stamp, Stamps, cluster, eventually, node_with, probe, touch,
};

#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_cached_location_spares_the_directory(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let via = cluster.node("node-2").unwrap();
    touch::<Probe>(&sim, &via, "k").await;
    let id = probe("k");
    let home = cluster.host_of(&id).expect("it runs somewhere");
    let home = cluster.node(&home).unwrap().id();
    if home == via.id() {
        // At home here: a call finds it in the activation table, and the
        // cache spends no entry on it.
        assert!(via.inner.host.contains(&id));
        assert!(via.inner.router.cached_homes().is_empty());
        return;
    }
    let (found, asked) = via
        .inner
        .router
        .locate(&id, Placement::Random)
        .await
        .unwrap();
    assert_eq!(found, home);
    assert!(!asked, "the second call asked the directory again");
}

/// Placing a new activation re-reads the membership table only after the
/// directory refused a candidate. What a new activation reads anyway: each
/// registration reads the table once at the directory's owner (it answers
/// from a fresh view), and a new activation is registered twice — by the
/// caller that places it and by the host that activates it. Forty first
/// calls from one node read no more than that and the nodes' periodic
/// watch; a read per placement at the caller would add forty.
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn placement_reads_the_table_only_after_a_refusal(sim: SimContext) {
    const CALLS: u64 = 40;
    let cluster = cluster(&sim, 3).await;
    let via = cluster.node("node-2").unwrap();
    let (reads, started) = (cluster.membership().version_reads(), sim.now());
    for i in 0..CALLS {
        touch::<Probe>(&sim, &via, &format!("k{i}")).await;
    }
    let reads = cluster.membership().version_reads() - reads;
    // Each node's watch reads once a probe interval (500 ms here); two
    // more a node for the intervals the burst starts and ends in.
    let intervals = (sim.now() - started).as_millis() / 500;
    let watched = 3 * (u64::try_from(intervals).unwrap() + 2);
    let expected = 2 * CALLS + watched;
    assert!(
        reads <= expected,
        "{reads} table reads for {CALLS} placements in {:?} (registrations and watches make {expected})",
        sim.now() - started
    );
}

/// A caller whose cache points at a node the actor left (it moved to
/// another host meanwhile) is told "not here", forgets the location and
/// reaches the actor where it is now.
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_stale_cached_location_is_forgotten(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let (n1, n2, n3) = (
        cluster.node("node-1").unwrap(),
        cluster.node("node-2").unwrap(),
        cluster.node("node-3").unwrap(),
    );
    // Placed where it is first called: on node-1; node-2 caches that.
    assert_eq!(touch::<Local>(&sim, &n1, "k").await, 1);
    assert_eq!(touch::<Local>(&sim, &n2, "k").await, 2);
    let id = crate::id::ActorId::of::<Local>("k");
    assert_eq!(n2.inner.router.cached_homes(), vec![n1.id()]);

    // It stops on node-1, and node-3 brings it back, on node-3.
    n1.inner.host.get(&id).expect("hosted on node-1").stop();
    let owner = node_with(&cluster, n1.directory_owner(&id).unwrap());
    eventually(&sim, Duration::from_secs(5), "the entry goes", || {
        owner.inner.directory.lookup(&id).is_none()
    })
    .await;
    assert_eq!(touch::<Local>(&sim, &n3, "k").await, 1, "a new activation");

    // node-2 still points at node-1 (in service): it is told the actor
    // is not there, and finds it on node-3.
    assert_eq!(
        touch::<Local>(&sim, &n2, "k").await,
        2,
        "the activation on node-3"
    );
    assert_eq!(n2.inner.router.cached_homes(), vec![n3.id()]);
}

/// A cached location on a node out of service is not used, even before
/// the watch prunes the cache: the call places the actor anew.
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_location_on_a_node_gone_is_not_used(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let (n1, n2) = (
        cluster.node("node-1").unwrap(),
        cluster.node("node-2").unwrap(),
    );
    assert_eq!(touch::<Local>(&sim, &n1, "k").await, 1);
    let id = crate::id::ActorId::of::<Local>("k");
    n1.shutdown().await;
    eventually(
        &sim,
        Duration::from_secs(10),
        "node-2 sees node-1 gone",
        || !n2.live_members().contains(&n1.id()),
    )
    .await;
    n2.inner.router.remember(&id, n1.id());
    assert_eq!(
        n2.inner.router.cached(&id),
        None,
        "a location on a node gone"
    );
    assert_eq!(touch::<Local>(&sim, &n2, "k").await, 1, "a new activation");
    assert!(n2.inner.host.contains(&id), "activated on node-2");
    assert!(
        n2.inner.router.cached_homes().is_empty(),
        "the stale location is gone, and an actor at home is not cached"
    );
}

/// One-way sends from one node to one actor all arrive, once each, in
/// the order they were made.
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn sends_arrive_once_each_in_order(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let via = cluster.node("node-1").unwrap();
    let target = via.actor::<Probe>("k");
    const SENT: u64 = 30;
    for i in 0..SENT {
        target.send(Stamp(i)).await.unwrap();
    }
    let mut got = Vec::new();
    let deadline = sim.now() + Duration::from_secs(30);
    while (got.len() as u64) < SENT {
        assert!(
            sim.now() < deadline,
            "only {got:?} arrived (seed {})",
            sim.seed()
        );
        sim.sleep(Duration::from_millis(100)).await;
        got = target.call(Stamps).await.unwrap_or_default();
    }
    assert_eq!(got, (0..SENT).collect::<Vec<_>>());
}
