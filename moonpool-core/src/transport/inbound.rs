//! What the transport does with requests from peers: the [`Inbound`]
//! handler a node gives it, and the [`Responder`] that answers one request.

use std::sync::Arc;

use super::payload::{Outgoing, Payload};
use super::wire::NodeId;

/// What the transport does with requests from peers.
pub trait Inbound: Send + Sync + 'static {
    /// Takes `request` from `from`, straight from the connection's reader:
    /// answer it through `responder`, now or later. Work that waits (on
    /// storage, on another node) belongs in a task of its own, so the
    /// connection's next frames are not held up. A one-way message
    /// ([`Transport::send`](super::Transport::send)) comes with a
    /// responder whose answer goes nowhere.
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool_core::transport::{Inbound, NodeId, Payload, Responder, Transport, TransportConfig};
    /// use moonpool_sim::{Providers, Simulation};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// /// Answers short requests on the spot, long ones in a task after a pause.
    /// struct Upper(Providers);
    /// impl Inbound for Upper {
    ///     fn dispatch(&self, _from: NodeId, request: Payload, responder: Responder) {
    ///         if request.len() <= 16 {
    ///             return responder.reply(request.to_ascii_uppercase());
    ///         }
    ///         let p = self.0.clone();
    ///         self.0.spawn_detached("upper", async move {
    ///             p.sleep(Duration::from_millis(5)).await;
    ///             responder.reply(request.to_ascii_uppercase());
    ///         });
    ///     }
    /// }
    ///
    /// Simulation::new(1).faults(moonpool_sim::chaos::FaultConfig::calm()).run(|sim| async move {
    ///     let (a, b) = (sim.add_process("a"), sim.add_process("b"));
    ///     let (pa, pb) = (sim.providers_for(a), sim.providers_for(b));
    ///     let config = TransportConfig::new("demo");
    ///     let ta = Transport::start(pa.clone(), "10.0.0.2:5000".parse().unwrap(), config.clone(), Arc::new(Upper(pa))).await.unwrap();
    ///     let _tb = Transport::start(pb.clone(), "10.0.0.3:5000".parse().unwrap(), config, Arc::new(Upper(pb))).await.unwrap();
    ///     let to = "10.0.0.3:5000".parse().unwrap();
    ///     let short = ta.request(to, &b"hi"[..], Duration::from_secs(1)).await;
    ///     assert_eq!(short.unwrap(), b"HI");
    ///     let long = ta.request(to, vec![b'a'; 20], Duration::from_secs(1)).await;
    ///     assert_eq!(long.unwrap(), vec![b'A'; 20]);
    /// }).unwrap();
    /// ```
    fn dispatch(&self, from: NodeId, request: Payload, responder: Responder);
}

/// Sends the answer to one request back on the connection it came in on.
/// Dropped without an answer, it fails the request with an error saying so.
/// Handed to [`Inbound::dispatch`] (see its example).
pub struct Responder {
    conn: Option<Arc<dyn Respond>>,
    id: u64,
}

/// Where a [`Responder`] sends its answer: the connection the request
/// came in on.
pub(crate) trait Respond: Send + Sync {
    /// Sends the answer to request `id`.
    fn respond(&self, id: u64, answer: Result<Outgoing, String>);
}

impl Responder {
    /// The responder of request `id` that arrived on `conn`.
    pub(crate) fn new(conn: Arc<dyn Respond>, id: u64) -> Self {
        Self {
            conn: Some(conn),
            id,
        }
    }

    /// The responder of a one-way message: its answer goes nowhere.
    pub(crate) fn nowhere() -> Self {
        Self { conn: None, id: 0 }
    }

    /// Answers the request.
    pub fn reply(self, answer: impl Into<Outgoing>) {
        self.send(Ok(answer.into()));
    }

    /// Fails the request: the caller gets
    /// [`TransportError::Remote`](super::TransportError::Remote) with
    /// `message`.
    pub fn fail(self, message: impl Into<String>) {
        self.send(Err(message.into()));
    }

    /// Answers the request: the answer, or the error text.
    pub fn send(mut self, answer: Result<Outgoing, String>) {
        if let Some(conn) = self.conn.take() {
            conn.respond(self.id, answer);
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.respond(
                self.id,
                Err("the request was dropped without an answer".to_string()),
            );
        }
    }
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Responder(request {})", self.id)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use crate::transport::inbound::{Respond, Responder};
    use crate::transport::payload::Outgoing;

    /// One answer a connection was asked to send: (request, answer).
    type Answer = (u64, Result<Vec<u8>, String>);

    /// The answers a connection was asked to send.
    #[derive(Default)]
    struct Sent(Mutex<Vec<Answer>>);

    impl Respond for Sent {
        fn respond(&self, id: u64, answer: Result<Outgoing, String>) {
            let answer = answer.map(|o| o.payload().to_vec());
            self.0.lock().unwrap().push((id, answer));
        }
    }

    fn responder(id: u64) -> (Arc<Sent>, Responder) {
        let sent = Arc::new(Sent::default());
        let conn: Arc<dyn Respond> = sent.clone();
        (sent, Responder::new(conn, id))
    }

    fn answers(sent: &Sent) -> Vec<Answer> {
        sent.0.lock().unwrap().clone()
    }

    #[test]
    fn a_reply_or_a_failure_is_sent_once() {
        let (sent, r) = responder(7);
        r.reply(&b"pong"[..]);
        assert_eq!(answers(&sent), vec![(7, Ok(b"pong".to_vec()))]);

        let (sent, r) = responder(8);
        r.fail("no such actor");
        assert_eq!(answers(&sent), vec![(8, Err("no such actor".to_string()))]);
    }

    #[test]
    fn a_responder_dropped_unanswered_fails_the_request() {
        let (sent, r) = responder(9);
        drop(r);
        let got = answers(&sent);
        assert_eq!(got.len(), 1, "the requester must not wait for its timeout");
        assert_eq!(got[0].0, 9);
        assert!(
            matches!(&got[0].1, Err(m) if m.contains("dropped without an answer")),
            "{got:?}"
        );
    }

    #[test]
    fn a_responder_shows_its_request() {
        let (_sent, r) = responder(42);
        assert_eq!(format!("{r:?}"), "Responder(request 42)");
        r.reply(Outgoing::new());
    }
}
