//! The node's door to its transport. The transport is bound first (it
//! gives the node its id), then the node is built around it, then the door
//! opens ([`Gate::open`]); a request arriving in between is refused as
//! "starting" (nobody routes to a node that has not joined yet; a peer
//! that asks anyway retries).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use crate::transport::{Inbound, NodeId, Responder};

/// Forwards peers' requests to the node once it is open.
#[derive(Default)]
pub(crate) struct Gate {
    inner: OnceLock<Arc<dyn Inbound>>,
}

impl Gate {
    /// Starts forwarding to `inbound` (once; later calls are ignored).
    pub(crate) fn open(&self, inbound: Arc<dyn Inbound>) {
        let _ = self.inner.set(inbound);
    }
}

const STARTING: &str = "the node is starting";

impl Inbound for Gate {
    fn dispatch(
        &self,
        from: NodeId,
        payload: Vec<u8>,
        responder: Responder,
    ) -> Result<(), (Vec<u8>, Responder)> {
        match self.inner.get() {
            Some(inbound) => inbound.dispatch(from, payload, responder),
            None => {
                responder.send(Err(STARTING.to_string()));
                Ok(())
            }
        }
    }

    fn handle(
        &self,
        from: NodeId,
        payload: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send>> {
        match self.inner.get() {
            Some(inbound) => inbound.handle(from, payload),
            None => Box::pin(async { Err(STARTING.to_string()) }),
        }
    }
}
