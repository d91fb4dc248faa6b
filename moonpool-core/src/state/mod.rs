//! Persisted actor state: a [`StateStorage`] with optimistic concurrency
//! (every write names the etag it expects; a mismatch is an error, never a
//! silent overwrite), and [`Persisted`], the handle an actor keeps.

mod disk;
mod memory;
mod remote;

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use moonpool_sim::BoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use disk::DiskStorage;
pub use memory::InMemoryStorage;
pub use remote::{RemoteStorage, StorageServer};

use crate::actor::{ActorContext, ActorId};

/// A version of a stored record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ETag(pub u64);

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "etag:{}", self.0)
    }
}

/// A stored record: the bytes and their version.
pub type Record = (Vec<u8>, ETag);

/// Why a state operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum StorageError {
    /// The record changed since it was read (another activation or writer):
    /// nothing was written.
    #[error("state of `{actor}` changed concurrently: expected {expected:?}, found {actual:?}")]
    Conflict {
        /// The actor.
        actor: String,
        /// The etag the writer expected (`None`: no record).
        expected: Option<ETag>,
        /// The etag found.
        actual: Option<ETag>,
    },
    /// The storage could not be read or written.
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

/// An actor's persisted state: load it in `activate`, change it through
/// `DerefMut`, and [`save`](Persisted::save) explicitly.
///
/// # Example
///
/// ```ignore
/// async fn activate(ctx: &ActorContext) -> Result<Self, String> {
///     let balance = Persisted::<u64>::load(ctx).await.map_err(|e| e.to_string())?;
///     Ok(Self { balance })
/// }
/// // in a handler:
/// *self.balance += amount;
/// self.balance.save().await?;
/// ```
pub struct Persisted<S> {
    value: S,
    etag: Option<ETag>,
    id: ActorId,
    storage: Option<Arc<dyn StateStorage>>,
}

impl<S: Serialize + DeserializeOwned + Default> Persisted<S> {
    /// Re-reads the stored record, dropping unsaved changes (after a failed
    /// save, to resynchronise with what is stored).
    ///
    /// # Errors
    ///
    /// As [`Persisted::load_from`].
    pub async fn reload(&mut self) -> Result<(), StorageError> {
        let storage = self.storage.clone().ok_or(StorageError::NotConfigured)?;
        let fresh = Self::load_from(self.id.clone(), storage).await?;
        self.value = fresh.value;
        self.etag = fresh.etag;
        Ok(())
    }

    /// Loads the activation's state (the default when nothing is stored).
    ///
    /// # Errors
    ///
    /// [`StorageError::NotConfigured`] without storage; the storage's error
    /// otherwise.
    pub async fn load(ctx: &ActorContext) -> Result<Self, StorageError> {
        let storage = ctx
            .node()
            .and_then(|n| n.inner.storage.clone())
            .ok_or(StorageError::NotConfigured)?;
        Self::load_from(ctx.id().clone(), storage).await
    }

    /// Loads the state of `id` from `storage`.
    ///
    /// # Errors
    ///
    /// The storage's error, or [`StorageError::Corrupt`].
    pub async fn load_from(
        id: ActorId,
        storage: Arc<dyn StateStorage>,
    ) -> Result<Self, StorageError> {
        let (value, etag) = match storage.read(&id).await? {
            None => (S::default(), None),
            Some((bytes, etag)) => {
                let value = postcard::from_bytes(&bytes).map_err(|e| StorageError::Corrupt {
                    actor: id.to_string(),
                    reason: e.to_string(),
                })?;
                (value, Some(etag))
            }
        };
        Ok(Self {
            value,
            etag,
            id,
            storage: Some(storage),
        })
    }

    /// Writes the current value, expecting the version last loaded or saved.
    ///
    /// # Errors
    ///
    /// [`StorageError::Conflict`] if the record changed meanwhile; the
    /// storage's error otherwise. The stored record is unchanged on error.
    pub async fn save(&mut self) -> Result<(), StorageError> {
        let storage = self.storage.clone().ok_or(StorageError::NotConfigured)?;
        let bytes = postcard::to_allocvec(&self.value).map_err(|e| StorageError::Io {
            actor: self.id.to_string(),
            reason: format!("cannot encode the state: {e}"),
        })?;
        self.etag = Some(storage.write(&self.id, bytes, self.etag).await?);
        Ok(())
    }

    /// Changes the value with `change` and saves it, as one step: when the
    /// save fails, the in-memory value is resynchronised with storage (or,
    /// if storage cannot be read either, put back as it was), so memory never
    /// holds a change that storage may lack.
    ///
    /// # Errors
    ///
    /// As [`Persisted::save`]; the change is then not applied in memory
    /// (it may or may not be in storage: reloading tells).
    pub async fn update<R>(&mut self, change: impl FnOnce(&mut S) -> R) -> Result<R, StorageError>
    where
        S: Clone,
    {
        let before = self.value.clone();
        let out = change(&mut self.value);
        match self.save().await {
            Ok(()) => Ok(out),
            Err(e) => {
                if self.reload().await.is_err() {
                    self.value = before;
                }
                Err(e)
            }
        }
    }

    /// Deletes the stored record and resets the value to the default.
    ///
    /// # Errors
    ///
    /// As [`Persisted::save`].
    pub async fn clear(&mut self) -> Result<(), StorageError> {
        let storage = self.storage.clone().ok_or(StorageError::NotConfigured)?;
        if self.etag.is_some() {
            storage.clear(&self.id, self.etag).await?;
        }
        self.etag = None;
        self.value = S::default();
        Ok(())
    }

    /// The version last loaded or saved.
    pub fn etag(&self) -> Option<ETag> {
        self.etag
    }
}

impl<S> Deref for Persisted<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.value
    }
}

impl<S> DerefMut for Persisted<S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.value
    }
}
