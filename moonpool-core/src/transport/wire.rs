//! What frames carry: the handshake's messages, and after it the kind and
//! request id in front of each payload.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The protocol version: the frames and everything nodes say inside them
/// (bumped whenever either changes); a peer with another version is
/// refused.
pub const PROTOCOL_VERSION: u32 = 5;

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

/// The handshake's messages: a frame body of its own each, postcard-
/// encoded. (Their first byte, the variant, is 0, 1 or 2: never a
/// [`Kind`], so a handshake frame is never mistaken for a message.)
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Handshake {
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
}

pub(crate) fn encode(msg: &Handshake) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_allocvec(msg)
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Handshake, postcard::Error> {
    postcard::from_bytes(bytes)
}

/// What a frame after the handshake carries: the first byte of its body.
/// Then comes the request id (8 bytes, little-endian; 0 where there is
/// none) and the payload, raw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A request expecting a response with the same id.
    Request = 3,
    /// A message expecting no response.
    OneWay = 4,
    /// The handler's answer to request `id`.
    Response = 5,
    /// The handler failed request `id`; the payload is its error text.
    Failure = 6,
    /// The sender superseded this connection by another to the same peer:
    /// it sends no more requests here, but still answers those it got.
    Retire = 7,
}

impl Kind {
    /// The kind and request id at the front of a frame's `body`, if it
    /// has them.
    pub(crate) fn parse(body: &[u8]) -> Option<(Kind, u64)> {
        let kind = match body.first()? {
            3 => Kind::Request,
            4 => Kind::OneWay,
            5 => Kind::Response,
            6 => Kind::Failure,
            7 => Kind::Retire,
            _ => return None,
        };
        let id: [u8; 8] = body.get(1..9)?.try_into().ok()?;
        Some((kind, u64::from_le_bytes(id)))
    }
}

#[cfg(test)]
impl NodeId {
    /// A node for unit tests: `10.0.0.1:port`, first incarnation.
    pub(crate) fn test(port: u16) -> Self {
        Self {
            addr: ([10, 0, 0, 1], port).into(),
            incarnation: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_shows_its_address_and_the_end_of_its_incarnation() {
        let node = NodeId {
            addr: ([10, 0, 0, 7], 5000).into(),
            incarnation: 0x1234_5678_9abc_00ef,
        };
        // Enough to tell two lives of one address apart in a log line.
        assert_eq!(node.to_string(), "10.0.0.7:5000#00ef");
    }
}
