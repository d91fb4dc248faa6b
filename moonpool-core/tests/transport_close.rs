//! Connections close when they should: a connection retired after a
//! dialing race closes once drained, even when requests on it timed out
//! (the requester forgets them), and a connection closed with frames still
//! queued is shut down for the peer too.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use moonpool_core::transport::TransportError;
use moonpool_sim::SimContext;

#[path = "common/echo.rs"]
mod echo;
use echo::{addr, requests_across_a_dialing_race, start_node};

/// Both nodes dial each other at once, so one of the two connections is
/// retired; requests sent on it whose answers never come time out. The
/// requester forgets them, so the retired connection has nothing in
/// flight on its side and closes: one connection is left, not two kept
/// open until answers that may never come.
#[moonpool::sim_test(seeds = 40, faults = "calm")]
async fn a_retired_connection_closes_after_its_requests_timed_out(sim: SimContext) {
    // Every fourth request is answered only after an hour.
    let body = |i: u64| {
        if i.is_multiple_of(4) {
            "sleep:3600000".to_string()
        } else {
            format!("sleep:{}", i % 5)
        }
    };
    for (body, got) in requests_across_a_dialing_race(&sim, body, Duration::from_secs(1)).await {
        if body == "sleep:3600000" {
            assert!(
                matches!(got, Err(TransportError::Timeout { .. })),
                "a request answered after an hour ended {got:?} (seed {})",
                sim.seed()
            );
        } else {
            assert!(got.is_ok(), "{got:?} (seed {})", sim.seed());
        }
    }
    sim.sleep(Duration::from_secs(5)).await;
    assert_eq!(
        sim.open_connections(),
        1,
        "the retired connection is still open (seed {})",
        sim.seed()
    );
}

/// A node that closes its connections with frames still queued for the
/// writer (the close comes in the same batch) shuts the stream down, so
/// the peer sees the connection end instead of waiting on it forever.
#[moonpool::sim_test(seeds = 40, faults = "calm")]
async fn closing_with_frames_queued_still_shuts_the_stream(sim: SimContext) {
    let (_, mut a) = start_node(&sim, "a", "c1");
    let (b_pid, _b) = start_node(&sim, "b", "c1");
    let a = a.recv().await.unwrap();
    let to_b = addr(&sim, b_pid);
    a.request(to_b, b"hello".to_vec(), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(sim.open_connections(), 1);
    // Queued with no await in between that lets the writer run: these
    // frames and the close frame go out in one batch.
    let sends: Vec<_> = (0..64)
        .map(|i| {
            a.send(
                to_b,
                format!("one-way {i}").into_bytes(),
                Duration::from_secs(1),
            )
        })
        .collect();
    for s in sends {
        s.await.unwrap();
    }
    a.close_all();
    sim.sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sim.open_connections(),
        0,
        "the peer still holds a connection its other end closed (seed {})",
        sim.seed()
    );
}
