//! What the transport logs, for the operator reading it at 3 a.m.: nothing
//! at warn level while all is well, one line when a peer is lost and one
//! when it is back (not one per failed connect), and one warning when a
//! flood of connections fills the places for handshakes (not one per
//! connection refused).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::transport::TransportConfig;
use moonpool_sim::SimContext;
use moonpool_sim::log::{CapturedLog, LogConfig, capture};

#[path = "common/echo.rs"]
mod echo;
use echo::{addr, calm, start_echo, start_node};

/// Runs `body` in a calm simulation of `seed`, keeping the transport's
/// log at info level and above.
fn logged<F, Fut>(seed: u64, body: F) -> CapturedLog
where
    F: FnOnce(SimContext) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let config = LogConfig {
        filter: "warn,moonpool_core::transport=info".to_string(),
        lines: 10_000,
        file: None,
    };
    let (report, log) = capture(seed, &config, || calm(seed).run(body)).unwrap();
    report.unwrap();
    log
}

/// The lines containing `text`.
fn count(log: &CapturedLog, text: &str) -> usize {
    log.last.iter().filter(|l| l.contains(text)).count()
}

#[test]
fn a_peer_lost_and_back_is_logged_once_each_way_and_nothing_warns() {
    for seed in 0..10 {
        let log = logged(seed, |sim| async move {
            let (_, mut a) = start_node(&sim, "a", "c1");
            let (b_pid, mut b) = start_node(&sim, "b", "c1");
            let a = a.recv().await.unwrap();
            let _ = b.recv().await.unwrap();
            let to_b = addr(&sim, b_pid);
            let second = Duration::from_secs(1);
            for _ in 0..3 {
                a.request(to_b, b"x".to_vec(), second).await.unwrap();
            }
            sim.kill_process(b_pid).unwrap();
            // Down for two seconds: many connects fail meanwhile.
            for _ in 0..4 {
                assert!(a.request(to_b, b"x".to_vec(), second).await.is_err());
                sim.sleep(Duration::from_millis(500)).await;
            }
            sim.restart_process(b_pid).unwrap();
            let _ = b.recv().await.unwrap();
            a.request(to_b, b"x".to_vec(), Duration::from_secs(5))
                .await
                .unwrap();
        });
        let all = log.last.join("\n");
        assert_eq!(
            count(&log, "reconnecting: the connection to this peer was lost"),
            1,
            "seed {seed}:\n{all}"
        );
        assert_eq!(count(&log, "reconnected"), 1, "seed {seed}:\n{all}");
        assert_eq!(count(&log, " WARN "), 0, "seed {seed}:\n{all}");
        assert_eq!(count(&log, "ERROR"), 0, "seed {seed}:\n{all}");
    }
}

#[test]
fn a_flood_of_connections_is_warned_about_once() {
    for seed in 0..10 {
        let log = logged(seed, |sim| async move {
            let pid = sim.add_process("server");
            let listen = SocketAddr::new(sim.ip_of(pid), 7000);
            let config = TransportConfig {
                max_pending_handshakes: 8,
                ..TransportConfig::new("c")
            };
            let server = start_echo(sim.providers_for(pid), listen, config)
                .await
                .unwrap();
            let p = sim.providers();
            let mut silent = Vec::new();
            for _ in 0..30 {
                silent.push(p.connect(listen).await.unwrap());
            }
            sim.sleep(Duration::from_millis(50)).await;
            assert_eq!(server.pending_handshakes(), 8);
        });
        let all = log.last.join("\n");
        assert_eq!(
            count(&log, "too many connections waiting for their handshake"),
            1,
            "seed {seed}:\n{all}"
        );
        assert_eq!(count(&log, " WARN "), 1, "seed {seed}:\n{all}");
    }
}
