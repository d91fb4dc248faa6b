//! The nodes of a cluster must share one state storage: an actor's state
//! follows it from node to node only if every node reads and writes the
//! same records. Two nodes with stores of their own would each activate
//! the actor from its own copy, and the copies would fork (money in a bank
//! is created or lost).
//!
//! So a store carries an identity: a random number written once, under a
//! reserved record per cluster, by the first node that finds none. Each
//! hosting node reads it at start-up and publishes it in its membership
//! row; a node whose store has another identity than the hosts already in
//! the cluster refuses to join.

use std::time::Duration;

use moonpool_sim::Providers;

use super::membership::Member;
use crate::actor::ActorId;
use crate::state::{StateStorage, StorageError};

/// The reserved record type under which a store keeps its identity.
const MARKER_TYPE: &str = "moonpool.cluster";

/// Reads of the marker before a storage error is final.
const ATTEMPTS: u32 = 5;

/// The identity of `storage` for `cluster`, written now if it has none.
pub(crate) async fn storage_identity(
    storage: &dyn StateStorage,
    cluster: &str,
    providers: &Providers,
) -> Result<u64, StorageError> {
    let marker = ActorId {
        type_name: MARKER_TYPE.into(),
        key: cluster.into(),
    };
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            providers.sleep(Duration::from_millis(100 << attempt)).await;
        }
        let found = match storage.read(&marker).await {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the storage's identity yet");
                last = Some(e);
                continue;
            }
        };
        if let Some((bytes, _)) = found {
            return postcard::from_bytes(&bytes).map_err(|e| StorageError::Corrupt {
                actor: marker.to_string(),
                reason: format!("the storage identity cannot be decoded: {e}"),
            });
        }
        // None yet: write one. Losing the race to another node is fine (its
        // identity is read on the next attempt); a write whose outcome is
        // unknown is read back too.
        let identity = providers.random_u64();
        let bytes = postcard::to_allocvec(&identity).map_err(|e| StorageError::Corrupt {
            actor: marker.to_string(),
            reason: format!("the storage identity cannot be encoded: {e}"),
        })?;
        match storage.write(&marker, bytes, None).await {
            Ok(_) => return Ok(identity),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(StorageError::NotConfigured))
}

/// A hosting member in service whose store is not `ours`, if any.
pub(crate) fn foreign_store(members: &[Member], me: &Member, ours: u64) -> Option<(Member, u64)> {
    members.iter().find_map(|m| {
        let theirs = m.storage?;
        (m.id != me.id && m.status.in_service() && !m.hosts.is_empty() && theirs != ours)
            .then(|| (m.clone(), theirs))
    })
}
