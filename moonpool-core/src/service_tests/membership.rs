//! The node's side of membership: what a node does with what the table
//! says of it.

use std::time::Duration;

use moonpool_sim::SimContext;

use crate::actor::CallError;
use crate::node::{
    DirectoryRequest, DirectoryResponse, HostRequest, HostResponse, MemberStatus, MembershipError,
    MembershipTable,
};
use crate::service_tests::{Probe, cluster, probe, touch};

/// A client the hosts declared dead (its link was bad) rejoins on its own,
/// as the same node, and goes on calling: it hosts nothing a second
/// activation could duplicate, so nothing needs fencing.
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_client_declared_dead_rejoins(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let client = cluster.add_client("client").await.unwrap();
    let table = cluster.membership();
    for host in ["node-1", "node-2"] {
        let by = cluster.node(host).unwrap().id();
        table.declare_dead(client.id(), by).await.unwrap();
    }
    assert!(table.is_declared_dead(client.id()), "two hosts' votes");
    let deadline = sim.now() + Duration::from_secs(10);
    loop {
        let rows = table.snapshot().await.unwrap();
        let row = rows.iter().find(|m| m.id == client.id());
        if row.is_some_and(|m| m.status == MemberStatus::Alive) {
            break;
        }
        assert!(
            sim.now() < deadline,
            "the client did not rejoin: {row:?} (seed {})",
            sim.seed()
        );
        sim.sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(touch::<Probe>(&sim, &client, "k").await, 1);
}

/// A host that cannot read the table keeps serving while its lease lasts
/// (a blip of the database stops nothing), then says it lost the
/// membership, and why; once the table answers again, it serves again.
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_table_that_fails_is_reported_once_the_lease_runs_out(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let node = cluster.node("node-1").unwrap();
    touch::<Probe>(&sim, &node, "k").await;
    let table = cluster.membership();
    table.set_unavailable(true);
    let (failed_at, deadline) = (sim.now(), sim.now() + Duration::from_secs(10));
    let mut served_while_failing = false;
    let lost = loop {
        let serving = node.inner.cluster.check_lease().is_ok();
        let lost = node.membership_lost();
        if serving {
            assert!(
                lost.is_none(),
                "reported lost while its lease lasts, {:?} after the table failed: {lost:?}",
                sim.now() - failed_at
            );
            served_while_failing |= node.inner.cluster.failing_reads();
        }
        if let Some(e) = lost {
            break e;
        }
        assert!(
            sim.now() < deadline,
            "never reported lost (seed {})",
            sim.seed()
        );
        sim.sleep(Duration::from_millis(20)).await;
    };
    assert!(
        served_while_failing,
        "no failed read was seen while the lease lasted"
    );
    assert!(matches!(lost, MembershipError::Unavailable(_)), "{lost:?}");
    table.set_unavailable(false);
    let deadline = sim.now() + Duration::from_secs(10);
    while node.membership_lost().is_some() {
        assert!(sim.now() < deadline, "still lost once the table is back");
        sim.sleep(Duration::from_millis(20)).await;
    }
    touch::<Probe>(&sim, &node, "k").await;
}

/// A host whose row the table no longer shows alive — here a next life of
/// it joined at its address while this one still runs, as after a pause
/// long enough to be restarted by a supervisor — stops serving once its
/// lease runs out: its reads no longer confirm it.
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_host_replaced_by_its_next_life_stops_serving(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let node = cluster.node("node-1").unwrap();
    let table = cluster.membership();
    let row = table
        .snapshot()
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.id == node.id())
        .unwrap();
    let mut next = row.clone();
    next.id.incarnation += 1;
    table.join(next).await.unwrap();
    let deadline = sim.now() + Duration::from_secs(10);
    while node.inner.cluster.check_lease().is_ok() {
        assert!(
            sim.now() < deadline,
            "the earlier life still serves (seed {})",
            sim.seed()
        );
        sim.sleep(Duration::from_millis(20)).await;
    }
}

/// What a node the cluster declared dead still sends is refused, so that
/// nothing it sent before it stopped can land after its actors moved: its
/// directory requests and its requests to hosts.
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn requests_from_a_node_declared_dead_are_refused(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let [n1, n2, n3] = ["node-1", "node-2", "node-3"].map(|n| cluster.node(n).unwrap());
    let id = probe("k");
    let lookup = || DirectoryRequest::Lookup { actor: id.clone() };
    let hosts = || HostRequest::Hosts { actor: id.clone() };
    let answer = n2.inner.clone().serve_directory(n1.id(), lookup()).await;
    assert!(
        matches!(answer, DirectoryResponse::Location(_)),
        "{answer:?}"
    );
    let answer = n2.inner.serve_host(n1.id(), hosts());
    assert!(matches!(answer, HostResponse::Hosts(_)), "{answer:?}");

    for by in [n2.id(), n3.id()] {
        cluster
            .membership()
            .declare_dead(n1.id(), by)
            .await
            .unwrap();
    }
    n2.inner.directory.refresh().await;
    let refused =
        |e: &CallError| matches!(e, CallError::CallerDeclaredDead { caller } if *caller == n1.id());
    match n2.inner.clone().serve_directory(n1.id(), lookup()).await {
        DirectoryResponse::Failed(e) if refused(&e) => {}
        other => panic!("a dead node's lookup was answered: {other:?}"),
    }
    match n2.inner.serve_host(n1.id(), hosts()) {
        HostResponse::Refused(e) if refused(&e) => {}
        other => panic!("a dead node's question was answered: {other:?}"),
    }
    // A live node is still answered.
    let answer = n2.inner.clone().serve_directory(n3.id(), lookup()).await;
    assert!(
        matches!(answer, DirectoryResponse::Location(_)),
        "{answer:?}"
    );
}
