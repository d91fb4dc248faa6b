//! Messages the transport must carry or refuse without harming the
//! connection: requests and answers over the frame limit, one-way
//! messages, payloads read in layers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use moonpool_core::transport::{
    Inbound, NodeId, Outgoing, Payload, Responder, Transport, TransportConfig, TransportError,
};
use moonpool_sim::chaos::FaultConfig;
use moonpool_sim::{SimContext, Simulation};
use tokio::sync::mpsc;

/// "big:<n>" answers n bytes; anything else is echoed, and one-way
/// messages are reported on `seen`.
struct Sized {
    seen: mpsc::UnboundedSender<Vec<u8>>,
}

impl Inbound for Sized {
    fn dispatch(&self, _from: NodeId, request: Payload, responder: Responder) {
        let _ = self.seen.send(request.to_vec());
        let text = String::from_utf8_lossy(&request).to_string();
        match text.strip_prefix("big:").map(str::parse::<usize>) {
            Some(Ok(n)) => responder.reply(vec![7u8; n]),
            _ => responder.reply(&request[..]),
        }
    }
}

const LIMIT: usize = 1024;

/// Two transports with a frame limit of [`LIMIT`] bytes: the client, and
/// the server's address and what its handler saw.
async fn pair(sim: &SimContext) -> (Transport, SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let (a, b) = (sim.add_process("a"), sim.add_process("b"));
    let mut config = TransportConfig::new("limits");
    config.max_frame_bytes = LIMIT;
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let (quiet_tx, _) = mpsc::unbounded_channel();
    let to: SocketAddr = "10.0.0.3:5000".parse().unwrap();
    let client = Transport::start(
        sim.providers_for(a),
        "10.0.0.2:5000".parse().unwrap(),
        config.clone(),
        Arc::new(Sized { seen: quiet_tx }),
    )
    .await
    .unwrap();
    let server = Transport::start(
        sim.providers_for(b),
        to,
        config,
        Arc::new(Sized { seen: seen_tx }),
    )
    .await
    .unwrap();
    // The server lives as long as the simulation.
    std::mem::forget(server);
    (client, to, seen)
}

#[test]
fn a_request_over_the_frame_limit_is_refused_before_it_is_sent() {
    Simulation::new(1)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let (client, to, mut seen) = pair(&sim).await;
            let second = Duration::from_secs(1);
            assert_eq!(
                client.request(to, &b"warm"[..], second).await.unwrap(),
                b"warm"
            );
            assert_eq!(seen.recv().await.unwrap(), b"warm");
            let err = client
                .request(to, vec![1u8; LIMIT + 1], second)
                .await
                .unwrap_err();
            let TransportError::TooLarge { bytes, max, peer } = err else {
                panic!("expected TooLarge, got {err}");
            };
            assert_eq!((max, peer), (LIMIT, to));
            assert!(bytes > LIMIT, "{bytes}");
            assert!(err.to_string().contains("exceeds the frame limit"), "{err}");
            // Not sent, and the connection still serves.
            assert_eq!(
                client.request(to, &b"after"[..], second).await.unwrap(),
                b"after"
            );
            assert_eq!(seen.recv().await.unwrap(), b"after");
            assert_eq!(sim.open_connections(), 1);
        })
        .unwrap();
}

#[test]
fn an_answer_over_the_frame_limit_fails_that_request_only() {
    Simulation::new(2)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let (client, to, _seen) = pair(&sim).await;
            let second = Duration::from_secs(1);
            let fits = client.request(to, &b"big:1000"[..], second).await.unwrap();
            assert_eq!(fits.len(), 1000);
            let err = client
                .request(to, &b"big:5000"[..], second)
                .await
                .unwrap_err();
            let TransportError::Remote { message } = &err else {
                panic!("expected the peer's failure, got {err}");
            };
            assert!(
                message.contains("exceeds the frame limit of 1024 bytes"),
                "{message}"
            );
            assert_eq!(
                client.request(to, &b"still"[..], second).await.unwrap(),
                b"still"
            );
            assert_eq!(sim.open_connections(), 1);
        })
        .unwrap();
}

/// A frame's body is the payload after 9 bytes of kind and request id;
/// the limit applies to the body.
const LARGEST_PAYLOAD: usize = LIMIT - 9;

#[test]
fn a_message_exactly_at_the_frame_limit_is_carried_and_one_byte_more_is_not() {
    Simulation::new(4)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let (client, to, mut seen) = pair(&sim).await;
            let second = Duration::from_secs(1);
            // Echoed: the answer is exactly at the limit too.
            let largest = vec![5u8; LARGEST_PAYLOAD];
            let echoed = client.request(to, largest.clone(), second).await;
            assert_eq!(echoed.unwrap(), largest);
            client.send(to, largest.clone(), second).await.unwrap();
            assert_eq!(seen.recv().await.unwrap(), largest);
            assert_eq!(seen.recv().await.unwrap(), largest);
            for over in [
                client
                    .request(to, vec![5u8; LARGEST_PAYLOAD + 1], second)
                    .await
                    .err(),
                client
                    .send(to, vec![5u8; LARGEST_PAYLOAD + 1], second)
                    .await
                    .err(),
            ] {
                let Some(TransportError::TooLarge { bytes, max, .. }) = over else {
                    panic!("expected TooLarge, got {over:?}");
                };
                assert_eq!((bytes, max), (LIMIT + 1, LIMIT));
            }
        })
        .unwrap();
}

#[test]
fn one_way_messages_reach_the_handler_in_order() {
    Simulation::new(3)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let (client, to, mut seen) = pair(&sim).await;
            for i in 0..5u8 {
                let mut out = Outgoing::new();
                out.encode(&("note", i)).unwrap();
                client.send(to, out, Duration::from_secs(1)).await.unwrap();
            }
            for i in 0..5u8 {
                let mut got = Payload::from(seen.recv().await.unwrap());
                assert_eq!(got.take::<(String, u8)>().unwrap(), ("note".to_string(), i));
                assert!(got.is_empty());
            }
            let err = client
                .send(to, vec![0u8; LIMIT * 2], Duration::from_secs(1))
                .await;
            assert!(
                matches!(err, Err(TransportError::TooLarge { .. })),
                "{err:?}"
            );
        })
        .unwrap();
}
