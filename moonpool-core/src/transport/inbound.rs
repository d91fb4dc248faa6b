//! What the transport does with requests from peers: the [`Inbound`]
//! handler a node gives it, and the [`Responder`] that answers one request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::wire::NodeId;

/// What the transport does with requests from peers.
pub trait Inbound: Send + Sync + 'static {
    /// Handles `payload` from `from`; the `Ok` bytes (or the error text) go
    /// back to the caller. Runs in a task of its own.
    fn handle(
        &self,
        from: NodeId,
        payload: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send>>;

    /// Takes a request without a task of its own, when it can be answered
    /// later through `responder` without waiting here (say, by handing it
    /// to a queue whose consumer answers it). Otherwise gives both back and
    /// the transport runs [`Inbound::handle`] in a new task. The default
    /// always gives them back.
    ///
    /// # Errors
    ///
    /// The request and the responder, when this request needs
    /// [`Inbound::handle`].
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool_core::transport::{Inbound, NodeId, Responder, Transport, TransportConfig};
    /// use moonpool_sim::Simulation;
    /// use std::{future::Future, pin::Pin, sync::Arc, time::Duration};
    ///
    /// /// Answers short requests on the spot, long ones in a task.
    /// struct Upper;
    /// impl Inbound for Upper {
    ///     fn handle(&self, _from: NodeId, p: Vec<u8>)
    ///         -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send>> {
    ///         Box::pin(async move { Ok(p.to_ascii_uppercase()) })
    ///     }
    ///     fn dispatch(&self, _from: NodeId, p: Vec<u8>, responder: Responder)
    ///         -> Result<(), (Vec<u8>, Responder)> {
    ///         if p.len() > 16 {
    ///             return Err((p, responder));
    ///         }
    ///         responder.send(Ok(p.to_ascii_uppercase()));
    ///         Ok(())
    ///     }
    /// }
    ///
    /// Simulation::new(1).faults(moonpool_sim::chaos::FaultConfig::calm()).run(|sim| async move {
    ///     let (a, b) = (sim.add_process("a"), sim.add_process("b"));
    ///     let config = TransportConfig::new("demo");
    ///     let ta = Transport::start(sim.providers_for(a), "10.0.0.2:5000".parse().unwrap(), config.clone(), Arc::new(Upper)).await.unwrap();
    ///     let _tb = Transport::start(sim.providers_for(b), "10.0.0.3:5000".parse().unwrap(), config, Arc::new(Upper)).await.unwrap();
    ///     let to = "10.0.0.3:5000".parse().unwrap();
    ///     let short = ta.request(to, b"hi".to_vec(), Duration::from_secs(1)).await;
    ///     assert_eq!(short.unwrap(), b"HI");
    ///     let long = ta.request(to, vec![b'a'; 20], Duration::from_secs(1)).await;
    ///     assert_eq!(long.unwrap(), vec![b'A'; 20]);
    /// }).unwrap();
    /// ```
    fn dispatch(
        &self,
        _from: NodeId,
        payload: Vec<u8>,
        responder: Responder,
    ) -> Result<(), (Vec<u8>, Responder)> {
        Err((payload, responder))
    }
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
    fn respond(&self, id: u64, result: Result<Vec<u8>, String>);
}

impl Responder {
    pub(crate) fn new(conn: Arc<dyn Respond>, id: u64) -> Self {
        Self {
            conn: Some(conn),
            id,
        }
    }

    /// Answers the request: the `Ok` bytes, or the error text.
    pub fn send(mut self, result: Result<Vec<u8>, String>) {
        if let Some(conn) = self.conn.take() {
            conn.respond(self.id, result);
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
