//! The handshake, both sides: the dialer says who it is (`Hello`), the
//! acceptor welcomes or refuses it. Until then a connection is a stranger,
//! and a stranger gets little: frames no larger than a handshake needs,
//! a deadline, and one of a bounded number of places to wait in — so
//! connections that never handshake, or announce huge frames, cannot take
//! a node's memory or tasks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use moonpool_sim::{NetStream, Providers};

use super::config::TransportConfig;
use super::error::TransportError;
use super::frame::{read_frame, write_frame};
use super::wire::{self, Handshake};
use super::wire::{NodeId, PROTOCOL_VERSION};

/// The longest cluster id: its handshake must fit in
/// [`TransportConfig::max_handshake_bytes`] with room to spare.
pub const MAX_CLUSTER_ID_BYTES: usize = 1024;

/// Checks what the handshake must carry.
pub(super) fn check_config(config: &TransportConfig) -> Result<(), TransportError> {
    let invalid = |reason: String| Err(TransportError::InvalidConfig { reason });
    if config.cluster_id.len() > MAX_CLUSTER_ID_BYTES {
        return invalid(format!(
            "the cluster id is {} bytes long; at most {MAX_CLUSTER_ID_BYTES}",
            config.cluster_id.len()
        ));
    }
    // A `Hello` is the cluster id plus an address, a version and an
    // incarnation; a `Refused` names both sides' ids.
    let needed = 2 * MAX_CLUSTER_ID_BYTES + 256;
    if config.max_handshake_bytes < needed {
        return invalid(format!(
            "max_handshake_bytes is {}; a handshake needs up to {needed}",
            config.max_handshake_bytes
        ));
    }
    if config.max_pending_handshakes == 0 {
        return invalid("max_pending_handshakes is 0: no peer could ever connect".into());
    }
    Ok(())
}

/// The places where accepted connections wait for their handshake.
#[derive(Default)]
pub(super) struct PendingHandshakes {
    count: AtomicUsize,
}

/// One connection's place; given back when dropped.
pub(super) struct Slot {
    pending: Arc<PendingHandshakes>,
}

impl PendingHandshakes {
    /// A place for one more connection, if fewer than `limit` wait.
    pub(super) fn take(self: &Arc<Self>, limit: usize) -> Option<Slot> {
        // Relaxed: a counter; nothing else is published through it.
        self.count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot {
                pending: Arc::clone(self),
            })
    }

    /// How many connections wait for their handshake.
    pub(super) fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pending.count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Connects to `to` and handshakes as the dialer: the stream and the
/// peer's identity.
pub(super) async fn dial(
    p: &Providers,
    cfg: &TransportConfig,
    local: NodeId,
    to: SocketAddr,
) -> Result<(NetStream, NodeId), TransportError> {
    let unreachable = |reason: String| TransportError::Unreachable { peer: to, reason };
    let handshake = async {
        let mut stream = p
            .connect(to)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let hello = Handshake::Hello {
            cluster: cfg.cluster_id.clone(),
            version: PROTOCOL_VERSION,
            from: local,
        };
        let body = wire::encode(&hello).map_err(|e| TransportError::Encode(e.to_string()))?;
        write_frame(&mut stream, &body)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        // The acceptor is a stranger too until it welcomes us.
        let reply = read_frame(&mut stream, cfg.max_handshake_bytes)
            .await
            .map_err(|e| unreachable(format!("handshake failed: {e}")))?;
        match wire::decode(&reply) {
            Ok(Handshake::Welcome { from }) => Ok((stream, from)),
            Ok(Handshake::Refused { reason }) => Err(TransportError::Refused { peer: to, reason }),
            Ok(_) | Err(_) => Err(unreachable(
                "handshake failed: unexpected reply".to_string(),
            )),
        }
    };
    match p.timeout(cfg.handshake_timeout, handshake).await {
        Ok(r) => r,
        Err(_) => Err(TransportError::Timeout {
            peer: to,
            after: cfg.handshake_timeout,
        }),
    }
}

/// Handshakes a connection accepted from `from`: the stream and the peer's
/// identity, or `None` when the connection was refused or dropped (and
/// logged).
pub(super) async fn accept(
    p: &Providers,
    cfg: &TransportConfig,
    local: NodeId,
    mut stream: NetStream,
    from: SocketAddr,
) -> Option<(NetStream, NodeId)> {
    let hello = p
        .timeout(
            cfg.handshake_timeout,
            read_frame(&mut stream, cfg.max_handshake_bytes),
        )
        .await;
    let body = match hello {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            tracing::warn!(%from, error = %e, "dropping connection: bad handshake frame");
            return None;
        }
        Err(_) => {
            tracing::warn!(%from, "dropping connection: no handshake in time");
            return None;
        }
    };
    let verdict = match wire::decode(&body) {
        Ok(Handshake::Hello {
            cluster,
            version,
            from: peer,
        }) => {
            if cluster != cfg.cluster_id {
                Err(format!(
                    "cluster id mismatch: this node is in cluster `{}`, the peer in `{cluster}`",
                    cfg.cluster_id
                ))
            } else if version != PROTOCOL_VERSION {
                Err(format!(
                    "protocol version mismatch: this node speaks {PROTOCOL_VERSION}, the peer {version}"
                ))
            } else {
                Ok(peer)
            }
        }
        Ok(_) => Err("the first message was not a handshake".to_string()),
        Err(e) => Err(format!("undecodable handshake: {e}")),
    };
    let peer = match verdict {
        Ok(peer) => peer,
        Err(reason) => {
            tracing::error!(%from, %reason, "refusing connection");
            if let Ok(frame) = frame_of(&Handshake::Refused { reason }) {
                let _ = tokio::io::AsyncWriteExt::write_all(&mut stream, &frame).await;
            }
            return None;
        }
    };
    let welcome = frame_of(&Handshake::Welcome { from: local }).ok()?;
    tokio::io::AsyncWriteExt::write_all(&mut stream, &welcome)
        .await
        .ok()?;
    Some((stream, peer))
}

/// The frame of a handshake message.
fn frame_of(msg: &Handshake) -> Result<Vec<u8>, postcard::Error> {
    Ok(super::frame::encode(&wire::encode(msg)?))
}
