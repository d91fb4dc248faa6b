//! Transport settings.

use std::time::Duration;

/// Transport settings.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// Only peers presenting this cluster id are accepted.
    pub cluster_id: String,
    /// Largest frame body accepted; larger frames close the connection.
    pub max_frame_bytes: usize,
    /// Largest frame accepted before the handshake is done (from a peer
    /// nobody knows yet): a handshake needs a few hundred bytes.
    pub max_handshake_bytes: usize,
    /// How long a handshake may take.
    pub handshake_timeout: Duration,
    /// How many accepted connections may wait for their handshake at once;
    /// more are closed as they arrive (their dialers retry).
    pub max_pending_handshakes: usize,
    /// First reconnect delay after a failed connect.
    pub backoff_min: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
    /// The span the transport's tasks (accepting, handshakes, each
    /// connection's reader and writer) run in: a node passes its own, so
    /// what its connections log says which node they belong to. None by
    /// default.
    pub span: tracing::Span,
}

impl TransportConfig {
    /// Defaults for `cluster_id`: 16 MiB frames (4 KiB before the
    /// handshake), 2 s handshakes, at most 64 connections waiting for
    /// theirs, backoff from 20 ms doubling to 2 s (each delay jittered by
    /// up to half).
    pub fn new(cluster_id: impl Into<String>) -> Self {
        Self {
            cluster_id: cluster_id.into(),
            max_frame_bytes: 16 * 1024 * 1024,
            max_handshake_bytes: 4 * 1024,
            handshake_timeout: Duration::from_secs(2),
            max_pending_handshakes: 64,
            backoff_min: Duration::from_millis(20),
            backoff_max: Duration::from_secs(2),
            span: tracing::Span::none(),
        }
    }
}
