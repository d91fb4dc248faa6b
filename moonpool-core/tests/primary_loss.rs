//! A development cluster's membership lives on its primary node. Any node
//! can be a newcomer's seed; and when the primary dies, every survivor and
//! client says so, in words, within a bound, and calls fail fast with a
//! typed error instead of hanging.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Add, Counter};
use moonpool_core::node::MembershipError;
use moonpool_core::{CallError, Node};
use moonpool_sim::{Providers, SimContext};

const PROBE: Duration = Duration::from_millis(300);

/// Starts process `name` running a node built by `build` from a builder
/// listening on port 7000; returns the node once it is up.
async fn start(
    sim: &SimContext,
    name: &str,
    build: impl Fn(moonpool_core::node::NodeBuilder) -> moonpool_core::node::NodeBuilder
    + Send
    + Sync
    + 'static,
) -> (moonpool_sim::ProcessId, Node) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let build = std::sync::Arc::new(build);
    let pid = sim.start_process(name, move |p: Providers| {
        let (tx, build) = (tx.clone(), build.clone());
        async move {
            let b = Node::builder("dev")
                .listen("0.0.0.0:7000".parse().unwrap())
                .providers(p)
                .call_timeout(Duration::from_secs(5))
                .failure_detection(PROBE, PROBE, 3);
            let node = build(b).build().await.expect("node starts");
            let _ = tx.send(node.clone());
            std::future::pending::<()>().await;
            drop(node);
        }
    });
    (pid, rx.recv().await.unwrap())
}

/// A development cluster of three hosts: n0 hosts the membership (the
/// primary), n1 was given n0 as its seed, n2 was given n1 (not the
/// primary); returned once all three see each other.
struct Dev {
    primary_pid: moonpool_sim::ProcessId,
    primary_addr: SocketAddr,
    nodes: [Node; 3],
    n1_pid: moonpool_sim::ProcessId,
    n1_addr: SocketAddr,
}

async fn three_hosts(sim: &SimContext) -> Dev {
    let (primary_pid, primary) = start(sim, "n0", |b| b.host::<Counter>().host_membership()).await;
    let primary_addr: SocketAddr = SocketAddr::new(sim.ip_of(primary_pid), 7000);
    let (n1_pid, n1) = start(sim, "n1", move |b| {
        b.host::<Counter>().primary(primary_addr)
    })
    .await;
    let n1_addr = SocketAddr::new(sim.ip_of(n1_pid), 7000);
    let (_, n2) = start(sim, "n2", move |b| b.host::<Counter>().primary(n1_addr)).await;
    let nodes = [primary, n1, n2];
    while nodes.iter().any(|n| n.live_members().len() < 3) {
        sim.sleep(Duration::from_millis(50)).await;
    }
    Dev {
        primary_pid,
        primary_addr,
        nodes,
        n1_pid,
        n1_addr,
    }
}

#[moonpool::sim_test(seeds = 100, faults = "calm")]
async fn any_node_is_a_seed_and_a_lost_primary_is_reported_within_the_lease(sim: SimContext) {
    let Dev {
        primary_pid,
        primary_addr,
        nodes: [_, n1, n2],
        n1_addr,
        ..
    } = three_hosts(&sim).await;
    // The client knows only n1, which is not the primary.
    let (_, client) = start(&sim, "client", move |b| b.client_only().primary(n1_addr)).await;
    for k in 0..6 {
        client
            .actor::<Counter>(format!("c{k}"))
            .call(Add(1))
            .await
            .unwrap();
    }

    sim.kill_process(primary_pid).unwrap();
    let killed_at = sim.now();
    // A read every probe interval, each waiting at most a second for the
    // primary; then the lease (two intervals and a timeout) runs out.
    let bound = PROBE + Duration::from_secs(1) + PROBE * 2 + PROBE;
    let survivors = [&n1, &n2, &client];
    while survivors.iter().any(|n| n.membership_lost().is_none()) {
        assert!(
            sim.now() < killed_at + bound,
            "a survivor did not report the lost primary within {bound:?}"
        );
        sim.sleep(Duration::from_millis(20)).await;
    }
    for n in survivors {
        let e = n.membership_lost().unwrap();
        assert!(
            matches!(e, MembershipError::PrimaryUnreachable { primary, .. } if primary == primary_addr),
            "{e:?}"
        );
        assert!(e.to_string().starts_with(&format!(
            "membership primary {primary_addr} is unreachable; this development membership has no other copy"
        )));
    }
    // Calls fail at once, saying why, from the client and from a node.
    for node in [&client, &n2] {
        let asked = sim.now();
        let err = node.actor::<Counter>("c1").call(Add(1)).await.unwrap_err();
        assert_eq!(sim.now(), asked, "the call waited");
        assert!(
            matches!(&err, CallError::MembershipUnavailable { error } if error.to_string().contains("membership primary")),
            "{err:?}"
        );
    }
    // A newcomer pointed at a survivor learns why it cannot join: the
    // primary's loss, named, in words (not a nested debug dump).
    let p = sim.providers();
    let newcomer = Node::builder("dev")
        .listen("10.0.0.1:7300".parse().unwrap())
        .providers(p)
        .client_only()
        .primary(n1_addr)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &newcomer,
            moonpool_core::node::NodeError::Membership(MembershipError::PrimaryUnreachable { primary, .. })
                if *primary == primary_addr
        ),
        "{newcomer:?}"
    );
    assert!(!newcomer.to_string().contains('{'), "{newcomer}");
}

/// A node given a seed that is not the primary talks to the primary
/// itself from then on: the seed's death does not cut it off from the
/// membership (it goes on reading it, sees the seed declared dead, and
/// serves calls).
#[moonpool::sim_test(seeds = 50, faults = "calm")]
async fn a_seed_that_dies_does_not_cut_off_the_nodes_it_introduced(sim: SimContext) {
    let Dev {
        nodes: [_, seed, n2],
        n1_pid: seed_pid,
        ..
    } = three_hosts(&sim).await;
    sim.kill_process(seed_pid).unwrap();
    let deadline = sim.now() + Duration::from_secs(10);
    while n2.live_members().contains(&seed.id()) {
        assert!(
            n2.membership_lost().is_none(),
            "cut off with its seed: {:?}",
            n2.membership_lost()
        );
        assert!(sim.now() < deadline, "the seed was never declared dead");
        sim.sleep(Duration::from_millis(20)).await;
    }
    assert!(n2.membership_lost().is_none());
    assert_eq!(n2.actor::<Counter>("c").call(Add(1)).await.unwrap(), 1);
}
