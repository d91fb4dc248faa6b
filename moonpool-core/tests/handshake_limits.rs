//! A node's defences before the handshake: a stranger's frames are small,
//! strangers wait in a bounded number of places, and neither oversized
//! hellos nor silent connections take its memory — on the simulated
//! network and on real loopback TCP.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use moonpool_core::transport::{
    Inbound, MAX_CLUSTER_ID_BYTES, NodeId, Payload, Responder, Transport, TransportConfig,
    TransportError,
};
use moonpool_sim::{NetStream, Providers, SimContext};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Echo;

impl Inbound for Echo {
    fn dispatch(&self, _from: NodeId, request: Payload, responder: Responder) {
        responder.reply(&request[..]);
    }
}

/// The header of a frame announcing `len` body bytes.
fn header(len: u32) -> [u8; 8] {
    let mut h = [0u8; 8];
    h[..4].copy_from_slice(&len.to_be_bytes());
    h
}

/// Reads until the peer closes; true if it did within `within`.
async fn closed_within(p: &Providers, stream: &mut NetStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    let read_to_end = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    p.timeout(within, read_to_end).await.is_ok()
}

async fn server(sim: &SimContext, config: TransportConfig) -> (Transport, SocketAddr) {
    let pid = sim.add_process("server");
    let p = sim.providers_for(pid);
    let listen = SocketAddr::new(sim.ip_of(pid), 7000);
    let t = Transport::start(p, listen, config, Arc::new(Echo))
        .await
        .unwrap();
    (t, listen)
}

#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn an_oversized_hello_is_refused_before_its_body_is_read(sim: SimContext) {
    let (_server, addr) = server(&sim, TransportConfig::new("c")).await;
    let p = sim.providers();
    let mut strangers = Vec::new();
    for _ in 0..40 {
        let mut s = p.connect(addr).await.unwrap();
        // 16 MiB announced, a few bytes sent: the old node waited for the
        // rest with a 16 MiB buffer until the handshake timed out.
        s.write_all(&header(16 * 1024 * 1024)).await.unwrap();
        s.write_all(&[0u8; 64]).await.unwrap();
        strangers.push(s);
    }
    for s in &mut strangers {
        assert!(
            closed_within(&p, s, Duration::from_millis(200)).await,
            "an oversized hello was not refused at once"
        );
    }
}

#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn strangers_wait_in_a_bounded_number_of_places_and_peers_still_get_in(sim: SimContext) {
    let config = TransportConfig {
        max_pending_handshakes: 8,
        ..TransportConfig::new("c")
    };
    let timeout = config.handshake_timeout;
    let (server, addr) = server(&sim, config.clone()).await;
    let p = sim.providers();
    let mut silent = Vec::new();
    for _ in 0..30 {
        silent.push(p.connect(addr).await.unwrap());
    }
    sim.sleep(Duration::from_millis(50)).await;
    assert_eq!(server.pending_handshakes(), 8);
    // Those beyond the limit were closed as they arrived; the first eight
    // wait for the handshake deadline.
    let mut closed_at_once = 0;
    for s in &mut silent {
        if closed_within(&p, s, Duration::from_millis(10)).await {
            closed_at_once += 1;
        }
    }
    assert_eq!(closed_at_once, 22);

    // A real peer gets in despite the flood (its dialer retries), and
    // once the silent ones time out the places are free again.
    let client_pid = sim.add_process("client");
    let client = Transport::start(
        sim.providers_for(client_pid),
        SocketAddr::new(sim.ip_of(client_pid), 7000),
        config,
        Arc::new(Echo),
    )
    .await
    .unwrap();
    let reply = client
        .request(addr, b"hello".to_vec(), timeout * 3)
        .await
        .unwrap();
    assert_eq!(reply, b"hello");
    sim.sleep(timeout).await;
    assert_eq!(server.pending_handshakes(), 0);
}

#[moonpool::sim_test(seeds = 3, faults = "calm")]
async fn a_configuration_that_cannot_work_is_refused(sim: SimContext) {
    let p = sim.providers();
    let at = |port| SocketAddr::new(sim.ip_of(moonpool_sim::ProcessId::MAIN), port);
    let long = TransportConfig::new("c".repeat(2_000));
    let err = Transport::start(p.clone(), at(7001), long, Arc::new(Echo))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, TransportError::InvalidConfig { reason } if reason.contains("2000 bytes")),
        "{err}"
    );
    let tiny = TransportConfig {
        max_handshake_bytes: 16,
        ..TransportConfig::new("c")
    };
    assert!(matches!(
        Transport::start(p.clone(), at(7002), tiny, Arc::new(Echo)).await,
        Err(TransportError::InvalidConfig { .. })
    ));
    let none = TransportConfig {
        max_pending_handshakes: 0,
        ..TransportConfig::new("c")
    };
    assert!(matches!(
        Transport::start(p, at(7003), none, Arc::new(Echo)).await,
        Err(TransportError::InvalidConfig { .. })
    ));
}

/// The longest cluster ids fit the smallest handshake limit the
/// configuration check accepts: nodes with such ids connect, and a node of
/// another cluster is refused by name (the refusal names both ids) rather
/// than cut off by the frame limit. One byte less of limit, or one byte
/// more of cluster id, is refused by the check.
#[moonpool::sim_test(seeds = 3, faults = "calm")]
async fn the_longest_cluster_ids_fit_the_smallest_handshake_limit(sim: SimContext) {
    let longest = |c: &str| c.repeat(MAX_CLUSTER_ID_BYTES);
    let config = |cluster: String, max_handshake_bytes| TransportConfig {
        max_handshake_bytes,
        ..TransportConfig::new(cluster)
    };
    let node = |name: &str, config: TransportConfig| {
        let pid = sim.add_process(name);
        let listen = SocketAddr::new(sim.ip_of(pid), 7000);
        Transport::start(sim.providers_for(pid), listen, config, Arc::new(Echo))
    };
    // The smallest limit, as the check states it.
    let probe = node("probe", config(longest("a"), 16)).await;
    let Err(TransportError::InvalidConfig { reason }) = probe else {
        panic!("a 16-byte handshake limit was accepted");
    };
    let needed: usize = reason.rsplit(' ').next().unwrap().parse().unwrap();
    let below = node("below", config(longest("a"), needed - 1)).await;
    assert!(matches!(below, Err(TransportError::InvalidConfig { .. })));
    let too_long = node("too-long", config(format!("{}a", longest("a")), needed)).await;
    assert!(matches!(
        too_long,
        Err(TransportError::InvalidConfig { .. })
    ));

    let a = node("a", config(longest("a"), needed)).await.unwrap();
    let b = node("b", config(longest("a"), needed)).await.unwrap();
    let stranger = node("c", config(longest("b"), needed)).await.unwrap();
    let second = Duration::from_secs(1);
    let to_a = a.local().addr;
    assert_eq!(
        b.request(to_a, b"hi".to_vec(), second).await.unwrap(),
        b"hi"
    );
    let refused = stranger.request(to_a, b"hi".to_vec(), second).await;
    let Err(TransportError::Refused { reason, .. }) = refused else {
        panic!("expected a refusal by name, got {refused:?}");
    };
    assert!(reason.contains(&longest("a")) && reason.contains(&longest("b")));
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Forty connections each streaming a 16 MiB "hello" at a real node: the
/// node's memory stays flat (it was 662 MB before the cap).
#[test]
fn oversized_hellos_on_real_tcp_leave_memory_flat() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let p = Providers::tokio().unwrap();
        let server = Transport::start(
            p.clone(),
            "127.0.0.1:0".parse().unwrap(),
            TransportConfig::new("real"),
            Arc::new(Echo),
        )
        .await
        .unwrap();
        let addr = server.local().addr;
        let before = rss();
        let mut senders = Vec::new();
        for _ in 0..40 {
            let p2 = p.clone();
            senders.push(p.spawn(async move {
                let Ok(mut s) = p2.connect(addr).await else {
                    return 0u64;
                };
                let mut sent = 0u64;
                if s.write_all(&header(16 * 1024 * 1024)).await.is_err() {
                    return sent;
                }
                let chunk = vec![0u8; 64 * 1024];
                while sent < 16 * 1024 * 1024 {
                    if s.write_all(&chunk).await.is_err() {
                        break;
                    }
                    sent += chunk.len() as u64;
                }
                sent
            }));
        }
        let mut refused = 0;
        for s in senders {
            if s.await.unwrap() < 16 * 1024 * 1024 {
                refused += 1;
            }
        }
        let grown = rss().saturating_sub(before);
        assert!(
            grown < 64 * 1024 * 1024,
            "memory grew by {} MiB",
            grown / (1024 * 1024)
        );
        assert!(refused > 30, "only {refused} of 40 senders were cut off");
        // The node still serves its cluster.
        let peer = Transport::start(
            p.clone(),
            "127.0.0.1:0".parse().unwrap(),
            TransportConfig::new("real"),
            Arc::new(Echo),
        )
        .await
        .unwrap();
        let reply = peer
            .request(addr, b"still here".to_vec(), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(reply, b"still here");
    });
}
