//! State in memory, shared by the nodes of one OS process.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use moonpool_sim::BoxFuture;

use super::storage::{ETag, Record, StateStorage, StorageError};
use crate::id::ActorId;
use crate::sync::lock;

/// State kept in memory (lost with the process). Clones share the data.
#[derive(Clone, Default)]
pub struct InMemoryStorage {
    records: Arc<Mutex<BTreeMap<ActorId, Record>>>,
    /// Bumped by every write and delete that changes a record.
    changes: Arc<AtomicU64>,
    /// The next etag to hand out.
    etags: Arc<AtomicU64>,
}

impl InMemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A number that changes whenever a record does: an invariant over the
    /// records need not look again while it stays the same.
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool_core::state::{InMemoryStorage, StateStorage};
    /// use moonpool_core::ActorId;
    ///
    /// # moonpool_sim::Simulation::new(1).run(|_| async {
    /// let store = InMemoryStorage::new();
    /// let before = store.version();
    /// let id = ActorId { type_name: "A".into(), key: "k".into() };
    /// store.write(&id, b"x".to_vec(), None).await.unwrap();
    /// assert_ne!(store.version(), before);
    /// # }).unwrap();
    /// ```
    pub fn version(&self) -> u64 {
        // Acquire: pairs with the Release of a write, so a reader that sees
        // the new number sees the records it counts.
        self.changes.load(Ordering::Acquire)
    }

    /// Every record, read at once (for invariant checks in tests).
    pub fn snapshot(&self) -> Vec<(ActorId, Record)> {
        lock(&self.records)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl StateStorage for InMemoryStorage {
    fn read(&self, id: &ActorId) -> BoxFuture<'static, Result<Option<Record>, StorageError>> {
        let found = lock(&self.records).get(id).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn write(
        &self,
        id: &ActorId,
        data: Vec<u8>,
        expected: Option<ETag>,
    ) -> BoxFuture<'static, Result<ETag, StorageError>> {
        let result = {
            let mut records = lock(&self.records);
            let actual = records.get(id).map(|(_, e)| *e);
            if actual == expected {
                // From one counter for the whole store: an etag is never
                // handed out twice, even to a record cleared and created
                // again (a writer still holding an old one must conflict).
                let next = ETag(self.etags.fetch_add(1, Ordering::Relaxed));
                records.insert(id.clone(), (data, next));
                self.changes.fetch_add(1, Ordering::Release);
                Ok(next)
            } else {
                Err(StorageError::conflict(id, expected, actual))
            }
        };
        Box::pin(async move { result })
    }

    fn clear(
        &self,
        id: &ActorId,
        expected: Option<ETag>,
    ) -> BoxFuture<'static, Result<(), StorageError>> {
        let result = {
            let mut records = lock(&self.records);
            let actual = records.get(id).map(|(_, e)| *e);
            if actual == expected {
                if records.remove(id).is_some() {
                    self.changes.fetch_add(1, Ordering::Release);
                }
                Ok(())
            } else {
                Err(StorageError::conflict(id, expected, actual))
            }
        };
        Box::pin(async move { result })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use moonpool_sim::Simulation;

    use crate::id::ActorId;
    use crate::state::memory::InMemoryStorage;
    use crate::state::storage::StateStorage;

    fn id(key: &str) -> ActorId {
        ActorId {
            type_name: "Account".into(),
            key: key.into(),
        }
    }

    /// The version moves with every write and delete that changes a
    /// record, and only then; the snapshot is every record with its etag.
    #[test]
    fn the_version_and_snapshot_follow_the_records() {
        Simulation::new(1)
            .run(|_| async {
                let store = InMemoryStorage::new();
                let v0 = store.version();
                assert!(store.snapshot().is_empty());
                let a1 = store.write(&id("a"), b"1".to_vec(), None).await.unwrap();
                let v1 = store.version();
                assert_ne!(v1, v0, "a write");
                let b1 = store.write(&id("b"), b"2".to_vec(), None).await.unwrap();
                let v2 = store.version();
                assert!(![v0, v1].contains(&v2), "a second write");
                assert_eq!(
                    store.snapshot(),
                    vec![
                        (id("a"), (b"1".to_vec(), a1)),
                        (id("b"), (b"2".to_vec(), b1))
                    ]
                );

                store.read(&id("a")).await.unwrap();
                assert!(store.write(&id("a"), b"x".to_vec(), None).await.is_err());
                store.clear(&id("nobody"), None).await.unwrap();
                assert_eq!(store.version(), v2, "nothing changed");

                store.clear(&id("a"), Some(a1)).await.unwrap();
                let v3 = store.version();
                assert!(![v0, v1, v2].contains(&v3), "a delete");
                assert_eq!(store.snapshot(), vec![(id("b"), (b"2".to_vec(), b1))]);
            })
            .unwrap();
    }
}
