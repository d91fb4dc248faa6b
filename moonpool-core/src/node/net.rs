//! Requests to peer nodes: one request, tagged with the service it is
//! for, and its answer.

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::protocol::{RequestRef, ServiceRequest};
use crate::transport::{NodeId, Transport, TransportError};

/// This node's side of the wire: its transport and its id.
#[derive(Clone)]
pub(crate) struct Net {
    transport: Transport,
    me: NodeId,
}

impl Net {
    /// The wire of the node the transport was bound for.
    pub(crate) fn new(transport: Transport) -> Self {
        let me = transport.local();
        Self { transport, me }
    }

    /// This node's id.
    pub(crate) fn me(&self) -> NodeId {
        self.me
    }

    /// The transport.
    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Sends a request to one of `to`'s services and decodes its answer.
    pub(crate) async fn request<Q: ServiceRequest>(
        &self,
        to: NodeId,
        req: &Q,
        timeout: Duration,
    ) -> Result<Q::Response, TransportError> {
        self.exchange(to, &req.tagged(), timeout).await
    }

    /// Sends one request, tagged with its service, and decodes the answer.
    pub(crate) async fn exchange<R: DeserializeOwned>(
        &self,
        to: NodeId,
        req: &RequestRef<'_>,
        timeout: Duration,
    ) -> Result<R, TransportError> {
        let bytes =
            postcard::to_allocvec(req).map_err(|e| TransportError::Encode(e.to_string()))?;
        let reply = self.transport.request(to.addr, bytes, timeout).await?;
        postcard::from_bytes(&reply).map_err(|e| TransportError::Remote {
            message: format!("undecodable answer from {to}: {e}"),
        })
    }
}
