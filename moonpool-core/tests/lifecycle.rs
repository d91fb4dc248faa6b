//! Lifecycle: timers that stop with their activation, deactivation hooks,
//! graceful shutdown, client-only nodes, and a real three-node cluster on
//! loopback TCP.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{
    Add, Counter, Get, StartTicking, StopTicking, TICKER_DEACTIVATIONS, Ticker, Ticks,
    start_cluster,
};
use moonpool_core::node::InMemoryMembership;
use moonpool_core::{ActorId, CallError, Node};
use moonpool_sim::chaos::FaultConfig;
use moonpool_sim::{Providers, SimContext, Simulation};

#[test]
fn timers_tick_without_keeping_the_activation_alive() {
    Simulation::new(1)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let (_, mut rx) = start_cluster(&sim, 1, Duration::from_secs(5));
            let (_, node) = rx.recv().await.unwrap();
            let before = TICKER_DEACTIVATIONS.load(Ordering::SeqCst);
            let t = node.actor::<Ticker>("t");
            t.call(StartTicking).await.unwrap();
            sim.sleep(Duration::from_millis(5_500)).await;
            assert_eq!(t.call(Ticks).await.unwrap(), 5);
            // Idle for 10 s since that call: ticks do not count as activity.
            sim.sleep(Duration::from_millis(9_900)).await;
            assert!(node.hosts(&ActorId::of::<Ticker>("t")));
            sim.sleep(Duration::from_millis(200)).await;
            assert!(
                !node.hosts(&ActorId::of::<Ticker>("t")),
                "timer ticks kept it alive"
            );
            assert_eq!(
                TICKER_DEACTIVATIONS.load(Ordering::SeqCst),
                before + 1,
                "on_deactivate did not run"
            );
            // The timer stopped with it: a new activation starts from zero
            // and nothing ticks it.
            sim.sleep(Duration::from_secs(3)).await;
            assert_eq!(t.call(Ticks).await.unwrap(), 0);
        })
        .unwrap();
}

#[test]
fn a_stopped_timer_ticks_no_more() {
    Simulation::new(3)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let (_, mut rx) = start_cluster(&sim, 1, Duration::from_secs(5));
            let (_, node) = rx.recv().await.unwrap();
            let t = node.actor::<Ticker>("stopped");
            // Nothing to stop yet: no effect.
            assert!(!t.call(StopTicking).await.unwrap());
            t.call(StartTicking).await.unwrap();
            sim.sleep(Duration::from_millis(2_500)).await;
            assert!(t.call(StopTicking).await.unwrap());
            let stopped_at = t.call(Ticks).await.unwrap();
            assert_eq!(stopped_at, 2, "it ticked before it was stopped");
            sim.sleep(Duration::from_secs(4)).await;
            assert_eq!(t.call(Ticks).await.unwrap(), stopped_at, "it ticked after");
        })
        .unwrap();
}

#[test]
fn graceful_shutdown_deactivates_and_leaves() {
    Simulation::new(2)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let (_, mut rx) = start_cluster(&sim, 2, Duration::from_secs(5));
            let (_, a) = rx.recv().await.unwrap();
            let (_, b) = rx.recv().await.unwrap();
            while a.live_members().len() < 2 || b.live_members().len() < 2 {
                sim.sleep(Duration::from_millis(50)).await;
            }
            let before = TICKER_DEACTIVATIONS.load(Ordering::SeqCst);
            b.actor::<Ticker>("on-b").call(StartTicking).await.unwrap();
            assert!(b.hosts(&ActorId::of::<Ticker>("on-b")));
            b.shutdown().await;
            assert_eq!(b.activation_count(), 0);
            assert!(TICKER_DEACTIVATIONS.load(Ordering::SeqCst) > before);
            assert_eq!(
                b.actor::<Counter>("x").call(Get).await,
                Err(CallError::ShuttingDown)
            );
            sim.sleep(Duration::from_secs(1)).await;
            assert_eq!(a.live_members().len(), 1);
            // The actor comes back on the remaining node.
            assert_eq!(a.actor::<Ticker>("on-b").call(Ticks).await.unwrap(), 0);
            assert!(a.hosts(&ActorId::of::<Ticker>("on-b")));
        })
        .unwrap();
}

#[test]
fn a_client_only_node_calls_actors_but_hosts_none() {
    Simulation::new(3)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let table = InMemoryMembership::new();
            let host_table = table.clone();
            sim.start_process("host", move |p: Providers| {
                let table = host_table.clone();
                async move {
                    let node = Node::builder("c")
                        .listen("0.0.0.0:7000".parse().unwrap())
                        .providers(p)
                        .membership(table)
                        .host::<Counter>()
                        .build()
                        .await
                        .unwrap();
                    std::future::pending::<()>().await;
                    drop(node);
                }
            });
            sim.sleep(Duration::from_millis(10)).await;
            let client = Node::builder("c")
                .listen("10.0.0.1:7000".parse().unwrap())
                .providers(sim.providers())
                .membership(table)
                .build()
                .await
                .unwrap();
            for i in 1..=10 {
                assert_eq!(client.actor::<Counter>("k").call(Add(1)).await.unwrap(), i);
            }
            assert_eq!(client.activation_count(), 0);
        })
        .unwrap();
}

#[test]
fn three_nodes_on_real_loopback_tcp() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let table = InMemoryMembership::new();
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(
                Node::builder("real")
                    .membership(table.clone())
                    .host::<Counter>()
                    .failure_detection(Duration::from_millis(100), Duration::from_millis(500), 3)
                    .build()
                    .await
                    .unwrap(),
            );
        }
        let p = Providers::tokio().unwrap();
        while nodes.iter().any(|n| n.live_members().len() < 3) {
            p.sleep(Duration::from_millis(20)).await;
        }
        let mut calls = Vec::new();
        for i in 0..60usize {
            let c = nodes[i % 3].actor::<Counter>(format!("c{}", i % 6));
            calls.push(p.spawn(async move { c.call(Add(1)).await }));
        }
        for c in calls {
            c.await.unwrap().unwrap();
        }
        for k in 0..6 {
            assert_eq!(
                nodes[0]
                    .actor::<Counter>(format!("c{k}"))
                    .call(Get)
                    .await
                    .unwrap(),
                10
            );
            let hosting = nodes
                .iter()
                .filter(|n| n.hosts(&ActorId::of::<Counter>(format!("c{k}"))))
                .count();
            assert_eq!(hosting, 1);
        }
        for n in &nodes {
            n.shutdown().await;
        }
    });
}

#[moonpool::sim_test(seeds = 10, faults = "calm")]
async fn a_development_cluster_shares_the_primary_s_membership_table(sim: SimContext) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut pids = Vec::new();
    for i in 0..3 {
        let tx = tx.clone();
        pids.push(sim.start_process(format!("n{i}"), move |p: Providers| {
            let tx = tx.clone();
            async move {
                let mut b = Node::builder("dev")
                    .listen("0.0.0.0:7000".parse().unwrap())
                    .providers(p)
                    .host::<Counter>()
                    .failure_detection(Duration::from_millis(300), Duration::from_millis(300), 3);
                // Process 1 (10.0.0.2) is the primary.
                b = if i == 0 {
                    b.host_membership()
                } else {
                    b.primary("10.0.0.2:7000".parse().unwrap())
                };
                let node = b.build().await.expect("node starts");
                let _ = tx.send((i, node.clone()));
                std::future::pending::<()>().await;
                drop(node);
            }
        }));
        // Others join once the primary listens.
        sim.sleep(Duration::from_millis(20)).await;
    }
    let mut nodes = vec![None, None, None];
    for _ in 0..3 {
        let (i, n) = rx.recv().await.unwrap();
        nodes[i] = Some(n);
    }
    let nodes: Vec<Node> = nodes.into_iter().map(Option::unwrap).collect();
    while nodes.iter().any(|n| n.live_members().len() < 3) {
        sim.sleep(Duration::from_millis(50)).await;
    }
    for k in 0..9 {
        let v = nodes[k % 3]
            .actor::<Counter>(format!("c{}", k % 3))
            .call(Add(1))
            .await
            .unwrap();
        assert_eq!(v, (k / 3 + 1) as u64);
    }
    // A non-primary dies: the others agree through the primary.
    sim.kill_process(pids[2]).unwrap();
    sim.sleep(Duration::from_secs(3)).await;
    assert_eq!(nodes[0].live_members().len(), 2);
    assert_eq!(nodes[1].live_members().len(), 2);
}

#[test]
fn garbage_at_a_node_s_port_closes_that_connection_only() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    Simulation::new(5)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let (pids, mut rx) = start_cluster(&sim, 2, Duration::from_secs(5));
            let (_, a) = rx.recv().await.unwrap();
            let (_, b) = rx.recv().await.unwrap();
            while a.live_members().len() < 2 || b.live_members().len() < 2 {
                sim.sleep(Duration::from_millis(50)).await;
            }
            let p = sim.providers();
            let mut oversize = u32::MAX.to_be_bytes().to_vec();
            oversize.extend_from_slice(&[0; 4]);
            for bytes in [
                b"\x00\x00\x00\x05\xde\xad\xbe\xefhello".to_vec(),
                oversize,
                vec![0xff; 64],
            ] {
                for pid in &pids {
                    let addr = std::net::SocketAddr::new(sim.ip_of(*pid), common::PORT);
                    let mut s = p.connect(addr).await.unwrap();
                    s.write_all(&bytes).await.unwrap();
                    let mut rest = Vec::new();
                    let closed = p
                        .timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
                        .await;
                    assert!(closed.is_ok(), "the node kept a garbage connection open");
                }
                // Both nodes still serve the cluster.
                for k in 0..4 {
                    a.actor::<Counter>(format!("g{k}"))
                        .call(Add(1))
                        .await
                        .unwrap();
                }
            }
            for k in 0..4 {
                assert_eq!(
                    b.actor::<Counter>(format!("g{k}")).call(Get).await.unwrap(),
                    3
                );
            }
        })
        .unwrap();
}
