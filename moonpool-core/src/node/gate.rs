//! The node's door to its transport. The transport is bound first (it
//! gives the node its id), then the node is built around it, then the door
//! opens ([`Gate::open`]); a request arriving in between is refused as
//! "starting" (nobody routes to a node that has not joined yet; a peer
//! that asks anyway retries).

use std::sync::{Arc, OnceLock};

use crate::transport::{Inbound, NodeId, Payload, Responder};

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

impl Inbound for Gate {
    fn dispatch(&self, from: NodeId, request: Payload, responder: Responder) {
        match self.inner.get() {
            Some(inbound) => inbound.dispatch(from, request, responder),
            None => responder.fail("the node is starting"),
        }
    }
}
