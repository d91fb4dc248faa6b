//! Requests to peer nodes: one request, tagged with the service it is
//! for (a call's message after it, as the caller encoded it), and its
//! answer.

use std::time::Duration;

use super::protocol::{RequestRef, ServiceRequest};
use crate::actor::{CallAnswer, CallHeadRef};
use crate::transport::{NodeId, Outgoing, Payload, Transport, TransportError};

/// Bytes a call's request starts with room for: its header and a small
/// message, without growing the buffer.
const CALL_ROOM: usize = 128;

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
        let reply = self.exchange(to, &req.tagged(), timeout).await?;
        postcard::from_bytes(&reply).map_err(|e| undecodable(to, &e))
    }

    /// The request of a call with header `head`: tagged for the call
    /// service, with room for the message the caller encodes after it.
    pub(crate) fn call_request(head: CallHeadRef<'_>) -> Result<Outgoing, TransportError> {
        let mut out = Outgoing::with_capacity(CALL_ROOM);
        out.encode(&RequestRef::Call(head))
            .map_err(|e| TransportError::Encode(e.to_string()))?;
        Ok(out)
    }

    /// Sends a call's request (from [`Net::call_request`], its message
    /// after it) to `to` and decodes the answer.
    pub(crate) async fn call(
        &self,
        to: NodeId,
        request: Outgoing,
        timeout: Duration,
    ) -> Result<CallAnswer, TransportError> {
        let reply = self.transport.request(to.addr, request, timeout).await?;
        CallAnswer::decode(reply).map_err(|e| undecodable(to, &e))
    }

    /// Sends one request, tagged with its service.
    async fn exchange(
        &self,
        to: NodeId,
        req: &RequestRef<'_>,
        timeout: Duration,
    ) -> Result<Payload, TransportError> {
        let mut out = Outgoing::with_capacity(64);
        out.encode(req)
            .map_err(|e| TransportError::Encode(e.to_string()))?;
        self.transport.request(to.addr, out, timeout).await
    }
}

/// The error of an answer that is not what the request asked for.
fn undecodable(from: NodeId, e: &postcard::Error) -> TransportError {
    TransportError::Remote {
        message: format!("undecodable answer from {from}: {e}"),
    }
}
