//! The storage contract: records with etags, optimistic concurrency, and
//! the errors a backend reports.

use std::fmt;

use moonpool_sim::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::id::ActorId;

/// A version of a stored record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ETag(pub u64);

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "etag:{}", self.0)
    }
}

/// A record's version in words: its etag, or "no record".
fn version_words(etag: &Option<ETag>) -> String {
    etag.map_or_else(|| "no record".to_string(), |e| e.to_string())
}

/// A stored record: the bytes and their version.
pub type Record = (Vec<u8>, ETag);

/// Why a state operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum StorageError {
    /// The record changed since it was read (another activation or writer):
    /// nothing was written.
    #[error(
        "state of `{actor}` changed concurrently: expected {}, found {}",
        version_words(expected),
        version_words(actual)
    )]
    Conflict {
        /// The actor.
        actor: String,
        /// The etag the writer expected (`None`: no record).
        expected: Option<ETag>,
        /// The etag found.
        actual: Option<ETag>,
    },
    /// The storage could not be read or written. A write or delete that
    /// fails so may have landed, or may still land later (it was on its
    /// way when the failure was reported); only a write that moves the
    /// record's etag on makes sure it never will ([`crate::state::Persisted`]
    /// does this for you).
    #[error("state storage I/O error for `{actor}`: {reason}")]
    Io {
        /// The actor.
        actor: String,
        /// The error.
        reason: String,
    },
    /// A stored record failed its checksum or could not be decoded.
    #[error("stored state of `{actor}` is corrupt: {reason}")]
    Corrupt {
        /// The actor.
        actor: String,
        /// What was wrong.
        reason: String,
    },
    /// No storage was configured on the node.
    #[error("no state storage is configured on this node")]
    NotConfigured,
    /// A state store could not be opened (its directory cannot be created,
    /// made durable or read).
    #[error("cannot open the state directory {dir:?}: {reason}")]
    Open {
        /// The directory.
        dir: String,
        /// The I/O error.
        reason: String,
    },
    /// The state directory is in use by another process (or another store
    /// in this one): nothing was opened.
    #[error("the state directory {dir:?} is in use: {reason}")]
    Locked {
        /// The directory.
        dir: String,
        /// Who holds it, as far as is known.
        reason: String,
    },
}

impl StorageError {
    /// The conflict of a write to `id` that expected `expected` and found
    /// `actual`.
    pub(crate) fn conflict(id: &ActorId, expected: Option<ETag>, actual: Option<ETag>) -> Self {
        Self::Conflict {
            actor: id.to_string(),
            expected,
            actual,
        }
    }

    /// The I/O failure of an operation on `id`.
    pub(crate) fn io(id: &ActorId, reason: impl fmt::Display) -> Self {
        Self::Io {
            actor: id.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Where actor state lives.
///
/// # Example
///
/// ```
/// use moonpool_core::state::{InMemoryStorage, StateStorage};
/// use moonpool_core::ActorId;
///
/// # moonpool_sim::Simulation::new(1).run(|_| async {
/// let store = InMemoryStorage::new();
/// let id = ActorId { type_name: "Account".into(), key: "alice".into() };
/// let v1 = store.write(&id, b"10".to_vec(), None).await.unwrap();
/// assert!(store.write(&id, b"20".to_vec(), None).await.is_err()); // stale etag
/// store.write(&id, b"20".to_vec(), Some(v1)).await.unwrap();
/// # }).unwrap();
/// ```
pub trait StateStorage: Send + Sync + 'static {
    /// The record of `id` and its etag, if any.
    fn read(&self, id: &ActorId) -> BoxFuture<'static, Result<Option<Record>, StorageError>>;
    /// Replaces the record if its etag is `expected` (`None`: there must be
    /// no record); returns the new etag.
    fn write(
        &self,
        id: &ActorId,
        data: Vec<u8>,
        expected: Option<ETag>,
    ) -> BoxFuture<'static, Result<ETag, StorageError>>;
    /// Deletes the record if its etag is `expected`.
    fn clear(
        &self,
        id: &ActorId,
        expected: Option<ETag>,
    ) -> BoxFuture<'static, Result<(), StorageError>>;
}

#[cfg(test)]
mod tests {
    use crate::id::ActorId;
    use crate::state::storage::{ETag, StorageError};

    /// A conflict says in words which versions the writer expected and
    /// found.
    #[test]
    fn a_conflict_names_both_versions() {
        let id = ActorId {
            type_name: "Account".into(),
            key: "alice".into(),
        };
        let created = StorageError::conflict(&id, None, Some(ETag(3)));
        assert_eq!(
            created.to_string(),
            "state of `Account/alice` changed concurrently: expected no record, found etag:3"
        );
        let gone = StorageError::conflict(&id, Some(ETag(2)), None);
        assert!(
            gone.to_string()
                .ends_with("expected etag:2, found no record"),
            "{gone}"
        );
    }
}
