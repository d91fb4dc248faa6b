//! Dialing: a message waits, within its timeout, for a peer that is not up
//! yet; failed connects are retried after exponentially growing, jittered
//! delays within the configured bounds; a caller whose deadline comes
//! before the next attempt is told at once, and one whose attempts ran
//! out hears why the last one failed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moonpool_core::transport::{Transport, TransportConfig, TransportError};
use moonpool_sim::{Instant, SimContext};

#[path = "common/echo.rs"]
mod echo;
use echo::start_echo;

/// A transport of its own process, in cluster "c1", configured by `tune`.
async fn client(sim: &SimContext, tune: impl FnOnce(&mut TransportConfig)) -> Transport {
    let pid = sim.add_process("client");
    let p = sim.providers_for(pid);
    let mut config = TransportConfig::new("c1");
    tune(&mut config);
    let listen = SocketAddr::new(sim.ip_of(pid), 5000);
    start_echo(p, listen, config).await.unwrap()
}

/// A process that accepts every connection and closes it at once, so
/// every handshake with it fails; the times it accepted, in order.
fn slammer(sim: &SimContext) -> (SocketAddr, Arc<Mutex<Vec<Instant>>>) {
    let pid = sim.add_process("slammer");
    let p = sim.providers_for(pid);
    let at = SocketAddr::new(sim.ip_of(pid), 5000);
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&accepted);
    let task = p.clone();
    task.spawn_detached("slammer", async move {
        let mut listener = p.bind(at).await.unwrap();
        while let Ok((stream, _)) = listener.accept().await {
            log.lock().unwrap().push(p.now());
            drop(stream);
        }
    });
    (at, accepted)
}

/// A process that starts an echo transport, in cluster "c1", only after
/// `delay`; its address, known from the start.
fn late_peer(sim: &SimContext, delay: Duration) -> SocketAddr {
    let pid = sim.add_process("late");
    let p = sim.providers_for(pid);
    let at = SocketAddr::new(sim.ip_of(pid), 5000);
    let task = p.clone();
    task.spawn_detached("late-peer", async move {
        p.sleep(delay).await;
        let t = start_echo(p, at, TransportConfig::new("c1")).await.unwrap();
        // Serves as long as the simulation runs.
        std::future::pending::<()>().await;
        drop(t);
    });
    at
}

/// A peer that starts listening only after the first connects failed is
/// reached by a one-way message still within its timeout.
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_message_waits_within_its_timeout_for_a_peer_starting_late(sim: SimContext) {
    let a = client(&sim, |_| {}).await;
    let to = late_peer(&sim, Duration::from_millis(300));
    let started = sim.now();
    let sent = a.send(to, b"hello".to_vec(), Duration::from_secs(5)).await;
    assert!(sent.is_ok(), "{sent:?} (seed {})", sim.seed());
    let took = sim.now() - started;
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// A one-way message to an address nobody listens on fails as unreachable,
/// saying why, once its next attempt would come after its timeout (not by
/// waiting the timeout out).
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_message_to_nobody_fails_unreachable_before_its_timeout(sim: SimContext) {
    let a = client(&sim, |_| {}).await;
    let nobody = late_peer(&sim, Duration::from_secs(3600));
    let started = sim.now();
    let sent = a
        .send(nobody, b"hello".to_vec(), Duration::from_secs(1))
        .await;
    assert!(
        matches!(sent, Err(TransportError::Unreachable { .. })),
        "{sent:?} (seed {})",
        sim.seed()
    );
    assert!(sim.now() - started < Duration::from_secs(1));
}

/// Connects that fail are retried after delays that start at
/// `backoff_min`, double up to `backoff_max`, and are each lengthened by a
/// random jitter of up to half; when the next delay would pass the
/// request's deadline, the request fails with the last connect's error.
/// Meanwhile a request whose deadline comes before the next attempt fails
/// at once.
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn failed_connects_back_off_exponentially_with_jitter(sim: SimContext) {
    let (min, max) = (Duration::from_millis(100), Duration::from_millis(800));
    let a = client(&sim, |c| {
        c.backoff_min = min;
        c.backoff_max = max;
    })
    .await;
    let (to, accepted) = slammer(&sim);
    let started = sim.now();
    let timeout = Duration::from_secs(6);
    let got = a.request(to, b"hi".to_vec(), timeout).await;
    // A connect takes a few network hops: allow that much beyond a delay.
    let hops = Duration::from_millis(20);
    let times = accepted.lock().unwrap().clone();
    match &got {
        // The usual end: the next delay would pass the deadline.
        Err(TransportError::Unreachable { reason, .. }) => {
            assert!(
                reason.contains("handshake failed"),
                "{reason} (seed {})",
                sim.seed()
            );
            assert!(sim.now() - started < timeout, "waited the timeout out");
        }
        // Or one more attempt was due before the deadline (at most the
        // largest delay and its jitter after the last connect) and the
        // deadline cut it short.
        Err(TransportError::Timeout { .. }) => {
            let last = *times.last().unwrap();
            let due = last + max + max / 2 + hops;
            assert!(
                due >= started + timeout,
                "timed out, the last attempt at {last:?} (seed {})",
                sim.seed()
            );
        }
        _ => panic!("expected unreachable, got {got:?} (seed {})", sim.seed()),
    }

    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let mut backoff = min;
    let mut jittered = 0;
    for (i, gap) in gaps.iter().enumerate() {
        assert!(
            *gap >= backoff && *gap <= backoff + backoff / 2 + hops,
            "attempt {} came {gap:?} after the one before; the delay was {backoff:?} plus up to half (seed {})",
            i + 2,
            sim.seed()
        );
        if *gap > backoff + hops {
            jittered += 1;
        }
        backoff = (backoff * 2).min(max);
    }
    // 100+200+400+800+800+800+800 ms (and their jitter) fit in 6 s.
    assert!(
        gaps.len() >= 5,
        "{} attempts in {timeout:?} (seed {})",
        times.len(),
        sim.seed()
    );
    assert!(
        jittered > 0,
        "no delay was jittered: {gaps:?} (seed {})",
        sim.seed()
    );

    // After a failed connect the next attempt is at least 800 ms away: a
    // request that must end sooner fails at once. (Not after a connect
    // cut short by the deadline: that one set no next attempt.)
    if matches!(got, Err(TransportError::Unreachable { .. })) {
        let asked = sim.now();
        let soon = a
            .request(to, b"hi".to_vec(), Duration::from_millis(50))
            .await;
        let Err(TransportError::Unreachable { reason, .. }) = &soon else {
            panic!("expected unreachable, got {soon:?} (seed {})", sim.seed());
        };
        assert!(reason.contains("backing off"), "{reason}");
        assert_eq!(sim.now(), asked, "it waited before failing");
    }
}
