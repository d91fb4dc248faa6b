//! The transport's messages, postcard-encoded inside frames.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The protocol version: the frames and everything nodes say inside them
/// (bumped whenever either changes); a peer with another version is
/// refused.
pub const PROTOCOL_VERSION: u32 = 3;

/// A node's identity: where it listens, and which life of that address it
/// is (a restarted node gets a new incarnation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId {
    /// The address the node listens on.
    pub addr: SocketAddr,
    /// Random per start of the node.
    pub incarnation: u64,
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{:04x}", self.addr, self.incarnation & 0xffff)
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Wire {
    /// First frame from the dialer.
    Hello {
        cluster: String,
        version: u32,
        from: NodeId,
    },
    /// The acceptor's answer to a good `Hello`.
    Welcome { from: NodeId },
    /// The acceptor's answer to a bad `Hello`; the connection then closes.
    Refused { reason: String },
    /// A request expecting a response with the same id.
    Request { id: u64, payload: Vec<u8> },
    /// A message expecting no response.
    OneWay { payload: Vec<u8> },
    /// The response to request `id`: the handler's bytes, or its error.
    Response {
        id: u64,
        result: Result<Vec<u8>, String>,
    },
    /// The sender superseded this connection by another to the same peer:
    /// it sends no more requests here, but still answers those it got.
    /// (Last, so the earlier variants keep their encoding.)
    Retire,
}

pub(crate) fn encode(msg: &Wire) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(msg)
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Wire, postcard::Error> {
    postcard::from_bytes(bytes)
}
