//! The host's side of a node's life: what it still takes while it leaves,
//! what a second or interrupted leave does, how it stops when declared
//! dead, and what it answers for a type it does not build.

use std::time::Duration;

use moonpool_sim::SimContext;

use crate::actor::{CallAnswer, CallError, CallHead, CallRequest, Message, TurnKind, method_id};
use crate::id::ActorId;
use crate::node::{MemberStatus, MembershipTable, Node};
use crate::service_tests::{Local, Nap, Touch, cluster, eventually, probe, touch};
use crate::sim_cluster::SimCluster;

/// How long the call running when a leave begins takes.
const NAP: Duration = Duration::from_secs(3);

/// A peer's `Touch` of `target`, as it arrives over the wire.
fn touch_request(target: ActorId) -> CallRequest {
    CallRequest {
        head: CallHead {
            target,
            method: method_id(Touch::NAME),
            chain: Vec::new(),
            turn: TurnKind::Exclusive,
            call: 1,
            attempt: 1,
        },
        body: postcard::to_allocvec(&Touch).unwrap().into(),
    }
}

/// What the table says of `node`.
async fn status(cluster: &SimCluster, node: &Node) -> MemberStatus {
    let rows = cluster.membership().snapshot().await.unwrap();
    rows.into_iter().find(|m| m.id == node.id()).unwrap().status
}

/// node-1 with its `Local` "k" in the middle of a `NAP`-long call
/// (resolved with that call's outcome).
async fn busy_node(
    sim: &SimContext,
    cluster: &SimCluster,
) -> (Node, moonpool_sim::JoinHandle<Result<(), CallError>>) {
    let node = cluster.node("node-1").unwrap();
    touch::<Local>(sim, &node, "k").await;
    assert!(node.inner.host.contains(&ActorId::of::<Local>("k")));
    let actor = node.actor::<Local>("k");
    let nap = sim.spawn(async move { actor.call(Nap(NAP.as_millis() as u64)).await });
    sim.sleep(Duration::from_millis(100)).await;
    (node, nap)
}

/// A graceful leave lets the call running on its activation finish, starts
/// nothing new meanwhile (a call for another actor is answered "not here",
/// unrun), and returns only once its activations have left.
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_leaving_node_finishes_what_runs_and_starts_nothing_new(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let (node, nap) = busy_node(&sim, &cluster).await;
    let peer = cluster.node("node-2").unwrap().id();
    let began = sim.now();
    let leaving = node.clone();
    let left = sim.spawn(async move {
        leaving.shutdown().await;
        leaving.inner.host.count()
    });
    eventually(&sim, Duration::from_secs(1), "the leave begins", || {
        node.inner.host.is_leaving()
    })
    .await;

    let new = probe("new");
    let answer = node
        .inner
        .clone()
        .handle_call(peer, touch_request(new.clone()))
        .await;
    assert!(matches!(answer, CallAnswer::NotHere), "{answer:?}");
    let placed_here = node.inner.hosted_or_activate(&probe("newer"), true).await;
    assert!(
        matches!(placed_here, Ok(None)),
        "activated: {:?}",
        placed_here.map(|a| a.map(|a| a.info().generation))
    );
    assert!(!node.inner.host.contains(&new) && !node.inner.host.contains(&probe("newer")));
    assert!(
        sim.now() < began + NAP,
        "the window closed before the checks"
    );

    nap.await
        .unwrap()
        .expect("the call running when the leave began");
    let running = left.await.unwrap();
    assert_eq!(
        running, 0,
        "shutdown returned with activations still running"
    );
    assert!(sim.now() >= began + NAP - Duration::from_millis(100));
    assert_eq!(status(&cluster, &node).await, MemberStatus::Left);
}

/// A second `shutdown` made while the first runs waits for it: both return
/// once the node has left (the second does not cut the first short, which
/// would leave the node marked "leaving" for its peers to declare dead).
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_second_shutdown_waits_for_the_first(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let (node, nap) = busy_node(&sim, &cluster).await;
    let table = cluster.membership();
    let shutdowns = [0, 200].map(|delay| {
        let (node, table) = (node.clone(), table.clone());
        let p = sim.providers();
        sim.spawn(async move {
            p.sleep(Duration::from_millis(delay)).await;
            node.shutdown().await;
            let rows = table.snapshot().await.unwrap();
            rows.into_iter().find(|m| m.id == node.id()).unwrap().status
        })
    });
    for (i, shutdown) in shutdowns.into_iter().enumerate() {
        let status = shutdown.await.unwrap();
        assert_eq!(status, MemberStatus::Left, "shutdown {i} returned first");
    }
    nap.await
        .unwrap()
        .expect("the call running when the leave began");
}

/// A `shutdown` cancelled half-way (its future dropped while activations
/// drain) is finished by the next call: the node leaves, marked "left".
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_shutdown_cancelled_half_way_is_finished_by_the_next(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let (node, nap) = busy_node(&sim, &cluster).await;
    let cut = sim.providers().timeout(NAP / 3, node.shutdown()).await;
    assert!(cut.is_err(), "the first shutdown ended before it was cut");
    assert_eq!(status(&cluster, &node).await, MemberStatus::Leaving);
    node.shutdown().await;
    assert_eq!(status(&cluster, &node).await, MemberStatus::Left);
    assert_eq!(node.inner.host.count(), 0);
    nap.await
        .unwrap()
        .expect("the call running when the leave began");
}

/// A host that reads itself declared dead stops serving at once — before
/// its lease runs out — and its activations leave without waiting for
/// it: another activation may already act for their actors.
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_host_declared_dead_stops_at_once(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let node = cluster.node("node-1").unwrap();
    touch::<Local>(&sim, &node, "k").await;
    for by in ["node-2", "node-3"] {
        let by = cluster.node(by).unwrap().id();
        cluster
            .membership()
            .declare_dead(node.id(), by)
            .await
            .unwrap();
    }
    node.inner.directory.refresh().await;
    assert!(node.inner.host.is_stopping(), "fenced");
    assert!(
        node.inner.cluster.check_lease().is_ok(),
        "the lease had already run out: the check proves nothing"
    );
    eventually(
        &sim,
        Duration::from_millis(500),
        "activations halted",
        || node.inner.host.count() == 0,
    )
    .await;
}

/// A call for an actor type this node does not build is refused as such
/// (not "not here", which would send the caller looking elsewhere), and
/// leaves nothing in the directory.
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_call_for_a_type_the_node_does_not_build_is_refused(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let node = cluster.node("node-1").unwrap();
    let peer = cluster.node("node-2").unwrap().id();
    let stranger = ActorId {
        type_name: "Stranger".into(),
        key: "k".into(),
    };
    let answer = node
        .inner
        .clone()
        .handle_call(peer, touch_request(stranger.clone()))
        .await;
    match answer {
        CallAnswer::Failed(CallError::UnknownActorType { actor_type }) => {
            assert_eq!(actor_type, "Stranger");
        }
        other => panic!("a type this node does not build: {other:?}"),
    }
    assert!(!node.inner.host.contains(&stranger));
    for (name, n) in cluster.running() {
        let entry = n.inner.directory.lookup(&stranger);
        assert!(entry.is_none(), "{name}'s directory holds {entry:?}");
    }
}
