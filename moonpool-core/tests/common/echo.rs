//! A transport node answering "echo:<payload>", for the transport tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use moonpool_core::transport::{
    Inbound, NodeId, Payload, Responder, Transport, TransportConfig, TransportError,
};
use moonpool_sim::chaos::FaultConfig;
use moonpool_sim::{ProcessId, Providers, SimContext, Simulation};

/// Answers "echo:<payload>"; "sleep:<ms>" waits first; "fail" errors.
pub struct Echo {
    pub providers: Providers,
}

impl Inbound for Echo {
    fn dispatch(&self, _from: NodeId, request: Payload, responder: Responder) {
        let p = self.providers.clone();
        self.providers.spawn_detached("echo", async move {
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some(ms) = text.strip_prefix("sleep:") {
                p.sleep(Duration::from_millis(ms.parse().unwrap_or(0)))
                    .await;
            }
            if text == "fail" {
                return responder.fail("handler refused");
            }
            responder.reply(format!("echo:{text}").into_bytes());
        });
    }
}

/// Starts an echo transport on `p`, listening on `listen`.
pub async fn start_echo(
    p: Providers,
    listen: SocketAddr,
    config: TransportConfig,
) -> Result<Transport, TransportError> {
    let inbound = Arc::new(Echo {
        providers: p.clone(),
    });
    Transport::start(p, listen, config, inbound).await
}

pub const PORT: u16 = 5000;

pub fn addr(sim: &SimContext, pid: ProcessId) -> SocketAddr {
    SocketAddr::new(sim.ip_of(pid), PORT)
}

/// Starts a node process running a transport in `cluster`; the transport
/// is handed back through the returned channel on every (re)start.
pub fn start_node(
    sim: &SimContext,
    name: &str,
    cluster: &'static str,
) -> (ProcessId, tokio::sync::mpsc::UnboundedReceiver<Transport>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let pid = sim.start_process(name, move |p: Providers| {
        let tx = tx.clone();
        async move {
            let listen = SocketAddr::new([0, 0, 0, 0].into(), PORT);
            let t = start_echo(p, listen, TransportConfig::new(cluster))
                .await
                .unwrap();
            let _ = tx.send(t.clone());
            // The node owns its transport until it dies.
            std::future::pending::<()>().await;
            drop(t);
        }
    });
    (pid, rx)
}

pub fn calm(seed: u64) -> Simulation {
    Simulation::new(seed).faults(FaultConfig::calm())
}

/// Starts two echo nodes and sends 40 requests between them, alternately
/// from each side, 250 µs apart, from the very start: both nodes dial at
/// once, so one of the two connections is retired with requests in
/// flight. Request `i` carries `body(i)` and waits at most `timeout`;
/// returns each body with its result, in order.
pub async fn requests_across_a_dialing_race(
    sim: &SimContext,
    body: fn(u64) -> String,
    timeout: Duration,
) -> Vec<(String, Result<Payload, TransportError>)> {
    let (a_pid, mut a) = start_node(sim, "a", "c1");
    let (b_pid, mut b) = start_node(sim, "b", "c1");
    let (a, b) = (a.recv().await.unwrap(), b.recv().await.unwrap());
    let p = sim.providers();
    let mut calls = Vec::new();
    for i in 0..40u64 {
        let (from, to) = if i % 2 == 0 {
            (a.clone(), addr(sim, b_pid))
        } else {
            (b.clone(), addr(sim, a_pid))
        };
        let p2 = p.clone();
        calls.push(p.spawn(async move {
            p2.sleep(Duration::from_micros(i * 250)).await;
            let body = body(i);
            let got = from.request(to, body.clone().into_bytes(), timeout).await;
            (body, got)
        }));
    }
    let mut results = Vec::new();
    for c in calls {
        results.push(c.await.unwrap());
    }
    results
}
