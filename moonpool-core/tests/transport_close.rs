//! Connections and listeners close when they should: a connection retired
//! after a dialing race closes once drained, even when requests on it
//! timed out (the requester forgets them); a connection closed with frames
//! still queued is shut down for the peer too; a connection closed as
//! half-open is not used again; a transport's port is free once it is
//! dropped or shut down.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::transport::{Transport, TransportConfig, TransportError};
use moonpool_sim::SimContext;

#[path = "common/echo.rs"]
mod echo;
use echo::{addr, requests_across_a_dialing_race, start_echo, start_node};

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
/// writer (the close queued behind them) shuts the stream down, so the
/// peer sees the connection end instead of waiting on it forever.
#[moonpool::sim_test(seeds = 40, faults = "calm")]
async fn closing_with_frames_queued_still_shuts_the_stream(sim: SimContext) {
    close_with_frames_queued(&sim, false).await;
}

/// The same when the connection is busy (its last writes carried many
/// frames), when the writer lets other tasks queue more before writing.
#[moonpool::sim_test(seeds = 40, faults = "calm")]
async fn closing_a_busy_connection_with_frames_queued_still_shuts_the_stream(sim: SimContext) {
    close_with_frames_queued(&sim, true).await;
}

/// Sends 64 one-way messages of 8 KiB: twice what the simulated socket
/// buffer holds (256 KiB). Each send finishes without waiting (the
/// connection is up), so no other task runs in between: the sender writes
/// the first ones itself until the buffer is full, and the rest queue for
/// the writer task.
async fn burst(a: &Transport, to: SocketAddr) {
    for i in 0..64 {
        let mut message = format!("one-way {i} ").into_bytes();
        message.resize(8 * 1024, b'.');
        a.send(to, message, Duration::from_secs(1)).await.unwrap();
    }
}

async fn close_with_frames_queued(sim: &SimContext, busy: bool) {
    let (_, mut a) = start_node(sim, "a", "c1");
    let (b_pid, _b) = start_node(sim, "b", "c1");
    let a = a.recv().await.unwrap();
    let to_b = addr(sim, b_pid);
    a.request(to_b, b"hello".to_vec(), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(sim.open_connections(), 1);
    if busy {
        burst(&a, to_b).await;
        sim.sleep(Duration::from_millis(1)).await;
    }
    // Half of these frames wait in the queue, and the close behind them.
    burst(&a, to_b).await;
    a.close_all();
    sim.sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sim.open_connections(),
        0,
        "the peer still holds a connection its other end closed (seed {})",
        sim.seed()
    );
}

/// A request that hears nothing from the peer for its whole timeout
/// closes its connection as half-open; the next request, at once, dials
/// a new one rather than trying the closed one.
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_connection_closed_as_half_open_is_not_used_again(sim: SimContext) {
    let (_, mut a) = start_node(&sim, "a", "c1");
    let (b_pid, _b) = start_node(&sim, "b", "c1");
    let a = a.recv().await.unwrap();
    let to_b = addr(&sim, b_pid);
    let silent = a
        .request(to_b, b"sleep:3600000".to_vec(), Duration::from_secs(1))
        .await;
    assert!(
        matches!(silent, Err(TransportError::Timeout { .. })),
        "{silent:?}"
    );
    assert!(
        a.connected_peers().is_empty(),
        "a closed connection still counts as connected (seed {})",
        sim.seed()
    );
    let next = a
        .request(to_b, b"again".to_vec(), Duration::from_secs(1))
        .await;
    assert_eq!(next.unwrap(), b"echo:again", "seed {}", sim.seed());
}

/// Dropping every handle of a transport closes its listener: the port
/// can be bound again.
#[moonpool::sim_test(seeds = 5, faults = "calm")]
async fn a_transport_dropped_frees_its_port(sim: SimContext) {
    let listen: SocketAddr = "10.0.0.1:6100".parse().unwrap();
    let start = || start_echo(sim.providers(), listen, TransportConfig::new("c1"));
    let first = start().await.unwrap();
    drop(first);
    sim.sleep(Duration::from_millis(1)).await;
    let again = start().await;
    assert!(again.is_ok(), "{:?} (seed {})", again.err(), sim.seed());
}

/// After `shutdown`, `listener_closed` returns only once the port can be
/// bound again: a restart in place right after it succeeds.
#[moonpool::sim_test(seeds = 5, faults = "calm")]
async fn listener_closed_returns_once_the_port_is_free(sim: SimContext) {
    let listen: SocketAddr = "10.0.0.1:6200".parse().unwrap();
    let start = || start_echo(sim.providers(), listen, TransportConfig::new("c1"));
    let first = start().await.unwrap();
    first.shutdown();
    first.listener_closed().await;
    let again = start().await;
    assert!(again.is_ok(), "{:?} (seed {})", again.err(), sim.seed());
}
