//! The transport under simulation: correlation, one connection per pair,
//! refusal of strangers, bad bytes, timeouts and reconnection, across many
//! seeds with network faults on.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use moonpool_core::transport::frame::encode;
use moonpool_core::transport::{Transport, TransportConfig, TransportError};
use moonpool_sim::runner::RunnerConfig;
use moonpool_sim::{Providers, SimContext, Simulation};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "common/echo.rs"]
mod echo;
use echo::{Echo, addr, calm, requests_across_a_dialing_race, start_node};

#[test]
fn requests_are_answered_and_correlated() {
    calm(1)
        .run(|sim| async move {
            let (_, mut a) = start_node(&sim, "a", "c1");
            let (b_pid, _b) = start_node(&sim, "b", "c1");
            let a = a.recv().await.unwrap();
            let p = sim.providers();
            let mut calls = Vec::new();
            for i in 0..50 {
                let (a, to) = (a.clone(), addr(&sim, b_pid));
                calls.push(p.spawn(async move {
                    let ms = (i * 7) % 20;
                    a.request(
                        to,
                        format!("sleep:{ms}").into_bytes(),
                        Duration::from_secs(1),
                    )
                    .await
                }));
            }
            for (i, c) in calls.into_iter().enumerate() {
                let ms = (i * 7) % 20;
                assert_eq!(
                    c.await.unwrap().unwrap(),
                    format!("echo:sleep:{ms}").into_bytes()
                );
            }
            let err = a
                .request(addr(&sim, b_pid), b"fail".to_vec(), Duration::from_secs(1))
                .await
                .unwrap_err();
            assert_eq!(
                err,
                TransportError::Remote {
                    message: "handler refused".into()
                }
            );
            assert_eq!(sim.open_connections(), 1);
        })
        .unwrap();
}

#[moonpool::sim_test(seeds = 30, faults = "calm")]
async fn nodes_dialing_each_other_at_once_end_with_one_connection(sim: SimContext) {
    let (a_pid, mut a) = start_node(&sim, "a", "c1");
    let (b_pid, mut b) = start_node(&sim, "b", "c1");
    let (a, b) = (a.recv().await.unwrap(), b.recv().await.unwrap());
    let p = sim.providers();
    let (to_a, to_b) = (addr(&sim, a_pid), addr(&sim, b_pid));
    let x = p.spawn(async move { a.request(to_b, b"x".to_vec(), Duration::from_secs(1)).await });
    let y = p.spawn(async move { b.request(to_a, b"y".to_vec(), Duration::from_secs(1)).await });
    assert_eq!(x.await.unwrap().unwrap(), b"echo:x");
    assert_eq!(y.await.unwrap().unwrap(), b"echo:y");
    sim.sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.open_connections(), 1, "seed {}", sim.seed());
}

/// Requests sent on the connection that loses the dialing race are still
/// answered: superseding a connection never loses a request in flight.
#[moonpool::sim_test(seeds = 60, faults = "calm")]
async fn requests_in_flight_on_a_superseded_connection_are_answered(sim: SimContext) {
    // Each request takes a while to answer.
    let body = |i: u64| format!("sleep:{}", (i * 7) % 25);
    for (body, got) in requests_across_a_dialing_race(&sim, body, Duration::from_secs(2)).await {
        assert_eq!(
            got.unwrap(),
            format!("echo:{body}").into_bytes(),
            "seed {}",
            sim.seed()
        );
    }
    sim.sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.open_connections(), 1, "seed {}", sim.seed());
}

#[test]
fn a_wrong_cluster_id_is_refused_with_a_clear_error() {
    calm(2)
        .run(|sim| async move {
            let (_, mut a) = start_node(&sim, "a", "blue");
            let (b_pid, _b) = start_node(&sim, "b", "green");
            let a = a.recv().await.unwrap();
            let err = a
                .request(addr(&sim, b_pid), b"hi".to_vec(), Duration::from_secs(5))
                .await
                .unwrap_err();
            let TransportError::Refused { reason, .. } = &err else {
                panic!("expected a refusal, got {err}");
            };
            assert!(reason.contains("cluster id mismatch"), "{reason}");
            assert!(
                reason.contains("`green`") && reason.contains("`blue`"),
                "{reason}"
            );
        })
        .unwrap();
}

/// Sends raw bytes to `to` and reports whether the node closed the stream
/// (possibly after a refusal frame) within five seconds.
async fn poke(p: &Providers, to: SocketAddr, bytes: Vec<u8>) -> bool {
    let mut s = p.connect(to).await.unwrap();
    s.write_all(&bytes).await.unwrap();
    let mut rest = Vec::new();
    p.timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .is_ok()
}

#[test]
fn bad_bytes_close_only_their_connection() {
    calm(3)
        .run(|sim| async move {
            let (_, mut a) = start_node(&sim, "a", "c1");
            let (b_pid, _b) = start_node(&sim, "b", "c1");
            let a = a.recv().await.unwrap();
            let to_b = addr(&sim, b_pid);
            let p = sim.providers();
            // Garbage, an oversize announcement, a corrupted frame, and a
            // valid frame that is not a handshake.
            let mut corrupted = encode(b"hello?");
            corrupted[10] ^= 0xff;
            let mut oversize = Vec::new();
            oversize.extend_from_slice(&u32::MAX.to_be_bytes());
            oversize.extend_from_slice(&[0; 4]);
            let cases = vec![
                b"GET / HTTP/1.1\r\n\r\n".to_vec(),
                oversize,
                corrupted,
                encode(b"\x03\x00\x01\x02"),
            ];
            for case in cases {
                assert!(
                    poke(&p, to_b, case).await,
                    "the node kept a bad connection open"
                );
                // The node still answers its real peers.
                let reply = a
                    .request(to_b, b"still there?".to_vec(), Duration::from_secs(1))
                    .await;
                assert_eq!(reply.unwrap(), b"echo:still there?");
            }
        })
        .unwrap();
}

#[test]
fn slow_answers_time_out_at_the_deadline() {
    calm(4)
        .run(|sim| async move {
            let (_, mut a) = start_node(&sim, "a", "c1");
            let (b_pid, _b) = start_node(&sim, "b", "c1");
            let a = a.recv().await.unwrap();
            let to_b = addr(&sim, b_pid);
            a.request(to_b, b"warm".to_vec(), Duration::from_secs(1))
                .await
                .unwrap();
            let start = sim.now();
            let err = a
                .request(to_b, b"sleep:5000".to_vec(), Duration::from_millis(300))
                .await
                .unwrap_err();
            assert_eq!(
                err,
                TransportError::Timeout {
                    peer: to_b,
                    after: Duration::from_millis(300)
                }
            );
            assert_eq!(sim.now() - start, Duration::from_millis(300));
            // The connection stays usable; the late answer is dropped.
            sim.sleep(Duration::from_secs(6)).await;
            assert_eq!(
                a.request(to_b, b"next".to_vec(), Duration::from_secs(1))
                    .await
                    .unwrap(),
                b"echo:next"
            );
        })
        .unwrap();
}

#[test]
fn a_restarted_peer_is_reached_again() {
    calm(5)
        .run(|sim| async move {
            let (_, mut a) = start_node(&sim, "a", "c1");
            let (b_pid, mut b) = start_node(&sim, "b", "c1");
            let a = a.recv().await.unwrap();
            let first_b = b.recv().await.unwrap().local();
            let to_b = addr(&sim, b_pid);
            a.request(to_b, b"1".to_vec(), Duration::from_secs(1))
                .await
                .unwrap();
            sim.kill_process(b_pid).unwrap();
            let err = a
                .request(to_b, b"2".to_vec(), Duration::from_millis(500))
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    TransportError::ConnectionLost { .. }
                        | TransportError::Unreachable { .. }
                        | TransportError::Timeout { .. }
                ),
                "{err}"
            );
            sim.restart_process(b_pid).unwrap();
            let second_b = b.recv().await.unwrap().local();
            assert_ne!(first_b.incarnation, second_b.incarnation);
            let reply = a
                .request(to_b, b"3".to_vec(), Duration::from_secs(5))
                .await
                .unwrap();
            assert_eq!(reply, b"echo:3");
            assert!(a.connected_peers().contains(&second_b));
        })
        .unwrap();
}

#[test]
fn under_network_chaos_every_request_ends_typed_and_seeds_replay() {
    let run = |seed: u64| {
        Simulation::new(seed)
            .run(|sim| async move {
                let mut nodes = Vec::new();
                for n in 0..3 {
                    let (pid, mut rx) = start_node(&sim, &format!("n{n}"), "c1");
                    nodes.push((pid, rx.recv().await.unwrap()));
                }
                let p = sim.providers();
                let mut calls = Vec::new();
                for i in 0..60usize {
                    let from = nodes[i % 3].1.clone();
                    let to = addr(&sim, nodes[(i + 1) % 3].0);
                    calls.push(p.spawn(async move {
                        let msg = format!("m{i}");
                        match from
                            .request(to, msg.clone().into_bytes(), Duration::from_secs(3))
                            .await
                        {
                            Ok(reply) => {
                                assert_eq!(reply, format!("echo:{msg}").into_bytes());
                                true
                            }
                            Err(_) => false,
                        }
                    }));
                }
                let mut ok = 0;
                for c in calls {
                    ok += u32::from(c.await.unwrap());
                }
                ok
            })
            .unwrap()
    };
    // The runner's seeds (`MOONPOOL_SEEDS`, `MOONPOOL_SEED_BASE` and
    // `MOONPOOL_SEED` apply), each run twice.
    const PATH: &str = concat!(
        module_path!(),
        "::under_network_chaos_every_request_ends_typed_and_seeds_replay"
    );
    let plan = RunnerConfig::from_env()
        .expect("valid MOONPOOL_* variables")
        .seed_plan(PATH, 20);
    let count = plan.seeds.len();
    let mut exercised = 0;
    for (_, seed) in plan.seeds {
        let (x, y) = (run(seed), run(seed));
        assert_eq!(
            x.trace_hash, y.trace_hash,
            "MOONPOOL_SEED={seed:#x} replays it (seed base {:?})",
            plan.base
        );
        assert_eq!(x.output, y.output, "MOONPOOL_SEED={seed:#x} replays it");
        // Not vacuous: requests get through on most seeds (faults may
        // reset every connection of an unlucky one mid-request).
        if x.output > 0 {
            exercised += 1;
        }
    }
    assert!(
        exercised * 10 >= count * 9,
        "requests got through on only {exercised} of {count} seeds"
    );
    // The runner's summary line, so `scripts/soak` counts these seeds too.
    println!("moonpool: `{PATH}`: {count} seeds passed (each run twice: same trace, same result)");
}

#[test]
fn three_nodes_on_real_loopback_tcp() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let p = Providers::tokio().unwrap();
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let inbound = Arc::new(Echo {
                providers: p.clone(),
            });
            let t = Transport::start(
                p.clone(),
                "127.0.0.1:0".parse().unwrap(),
                TransportConfig::new("real"),
                inbound,
            )
            .await
            .unwrap();
            nodes.push(t);
        }
        let mut calls = Vec::new();
        for i in 0..30usize {
            let from = nodes[i % 3].clone();
            let to = nodes[(i + 1) % 3].local().addr;
            calls.push(p.spawn(async move {
                from.request(to, format!("r{i}").into_bytes(), Duration::from_secs(5))
                    .await
            }));
        }
        for (i, c) in calls.into_iter().enumerate() {
            assert_eq!(c.await.unwrap().unwrap(), format!("echo:r{i}").into_bytes());
        }
        // A stranger cluster is refused over real TCP too.
        let stranger = Transport::start(
            p.clone(),
            "127.0.0.1:0".parse().unwrap(),
            TransportConfig::new("other"),
            Arc::new(Echo {
                providers: p.clone(),
            }),
        )
        .await
        .unwrap();
        let err = stranger
            .request(
                nodes[0].local().addr,
                b"hi".to_vec(),
                Duration::from_secs(5),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Refused { .. }), "{err}");
    });
}
