//! Persisted actor state: a [`StateStorage`] with optimistic concurrency
//! (every write names the etag it expects; a mismatch is an error, never a
//! silent overwrite), and [`Persisted`], the handle an actor keeps, which
//! never serves a state it cannot vouch for.

pub mod conformance;
mod disk;
mod memory;
mod persisted;
#[cfg(feature = "postgres")]
mod postgres;
mod record;
mod remote;
mod storage;

pub use disk::{DiskStorage, LOCK_FILE};
pub use memory::{CHANGES_REMEMBERED, InMemoryStorage};
pub(crate) use persisted::StateOwner;
pub use persisted::{Persisted, RESYNC_ATTEMPTS, RESYNC_BACKOFF, StateStatus};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStorage;
pub use remote::{RemoteStorage, StorageServer};
pub use storage::{ETag, Record, StateStorage, StorageError};
