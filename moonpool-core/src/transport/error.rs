//! Why a transport operation failed.

use std::net::SocketAddr;
use std::time::Duration;

/// Why a transport operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No response within the call's time limit.
    #[error("no response from {peer} within {after:?}")]
    Timeout {
        /// The peer.
        peer: SocketAddr,
        /// The limit.
        after: Duration,
    },
    /// The peer could not be reached before the deadline.
    #[error("cannot reach {peer}: {reason}")]
    Unreachable {
        /// The peer.
        peer: SocketAddr,
        /// The last connect error.
        reason: String,
    },
    /// The peer refused the handshake (wrong cluster or protocol version).
    #[error("{peer} refused the connection: {reason}")]
    Refused {
        /// The peer.
        peer: SocketAddr,
        /// Its reason.
        reason: String,
    },
    /// The connection broke while the request was in flight: the peer may
    /// or may not have handled it.
    #[error("connection to {peer} was lost with the request in flight")]
    ConnectionLost {
        /// The peer.
        peer: SocketAddr,
    },
    /// The connection closed before the request could be sent: the peer
    /// never saw it, and sending it again is safe.
    #[error("connection to {peer} closed before the request was sent")]
    ConnectionClosed {
        /// The peer.
        peer: SocketAddr,
    },
    /// The message is larger than a frame may be: it was not sent (and
    /// the connection, with the other requests on it, is unharmed).
    #[error("a message of {bytes} bytes to {peer} exceeds the frame limit of {max} bytes")]
    TooLarge {
        /// The peer.
        peer: SocketAddr,
        /// The message's size on the wire.
        bytes: usize,
        /// The limit ([`TransportConfig::max_frame_bytes`](super::TransportConfig::max_frame_bytes)).
        max: usize,
    },
    /// The peer's handler returned an error.
    #[error("the peer failed to handle the request: {message}")]
    Remote {
        /// Its error text.
        message: String,
    },
    /// A message could not be encoded.
    #[error("cannot encode a message: {0}")]
    Encode(String),
    /// The configuration cannot work (see [`TransportConfig`](super::TransportConfig)).
    #[error("invalid transport configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// The local listener could not be opened.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        reason: String,
    },
}
