//! State in memory, shared by the nodes of one OS process.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use moonpool_sim::BoxFuture;

use super::storage::{ETag, Record, StateStorage, StorageError};
use crate::id::ActorId;
use crate::sync::lock;

/// How many of the latest changes [`InMemoryStorage::changes_since`]
/// remembers.
pub const CHANGES_REMEMBERED: usize = 1024;

/// State kept in memory (lost with the process). Clones share the data.
#[derive(Clone, Default)]
pub struct InMemoryStorage {
    records: Arc<Mutex<Records>>,
    /// Bumped by every write and delete that changes a record (under the
    /// records' lock, so it numbers the journal's entries).
    changes: Arc<AtomicU64>,
    /// The next etag to hand out.
    etags: Arc<AtomicU64>,
}

/// The records and the ids of the latest changes.
#[derive(Default)]
struct Records {
    map: BTreeMap<ActorId, Record>,
    /// The id changed by each of the latest changes, oldest first: entry
    /// `k` is change number `journal_base + k + 1`.
    journal: VecDeque<ActorId>,
    /// The version before the journal's first entry.
    journal_base: u64,
}

impl Records {
    /// Notes that `id` changed, as change number `changes + 1`.
    fn changed(&mut self, id: &ActorId, changes: &AtomicU64) {
        if self.journal.len() == CHANGES_REMEMBERED {
            self.journal.pop_front();
            self.journal_base += 1;
        }
        self.journal.push_back(id.clone());
        changes.fetch_add(1, Ordering::Release);
    }
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
            .map
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The records changed (written or deleted) since the store was at
    /// `version`, each once in key order with what it holds now (`None`:
    /// deleted). `None` when the store no longer remembers back that far
    /// (more than [`CHANGES_REMEMBERED`] changes ago) or was never at
    /// `version`: then read every record ([`snapshot`](Self::snapshot)).
    /// An invariant over a large store reads [`version`](Self::version)
    /// before looking, and next time asks only for what changed since.
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool_core::state::{InMemoryStorage, StateStorage};
    /// use moonpool_core::ActorId;
    ///
    /// # moonpool_sim::Simulation::new(1).run(|_| async {
    /// let store = InMemoryStorage::new();
    /// let id = |key: &str| ActorId { type_name: "A".into(), key: key.into() };
    /// store.write(&id("a"), b"1".to_vec(), None).await.unwrap();
    /// let seen = store.version();
    /// let b = store.write(&id("b"), b"2".to_vec(), None).await.unwrap();
    ///
    /// let changed = store.changes_since(seen).unwrap();
    /// assert_eq!(changed, [(id("b"), Some((b"2".to_vec(), b)))]);
    /// assert_eq!(store.changes_since(store.version()).unwrap(), []);
    /// # }).unwrap();
    /// ```
    pub fn changes_since(&self, version: u64) -> Option<Vec<(ActorId, Option<Record>)>> {
        let records = lock(&self.records);
        let now = self.changes.load(Ordering::Acquire);
        if version < records.journal_base || version > now {
            return None;
        }
        let skip = usize::try_from(version - records.journal_base).ok()?;
        let ids: BTreeSet<&ActorId> = records.journal.iter().skip(skip).collect();
        Some(
            ids.into_iter()
                .map(|id| (id.clone(), records.map.get(id).cloned()))
                .collect(),
        )
    }
}

impl StateStorage for InMemoryStorage {
    fn read(&self, id: &ActorId) -> BoxFuture<'static, Result<Option<Record>, StorageError>> {
        let found = lock(&self.records).map.get(id).cloned();
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
            let actual = records.map.get(id).map(|(_, e)| *e);
            if actual == expected {
                // From one counter for the whole store: an etag is never
                // handed out twice, even to a record cleared and created
                // again (a writer still holding an old one must conflict).
                let next = ETag(self.etags.fetch_add(1, Ordering::Relaxed));
                records.map.insert(id.clone(), (data, next));
                records.changed(id, &self.changes);
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
            let actual = records.map.get(id).map(|(_, e)| *e);
            if actual == expected {
                if records.map.remove(id).is_some() {
                    records.changed(id, &self.changes);
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
    use crate::state::memory::{CHANGES_REMEMBERED, InMemoryStorage};
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

    /// `changes_since` names each record changed since a version once,
    /// with what it holds now (`None` once deleted), and nothing a refused
    /// write or an idle delete touched; it answers `None` for a version
    /// the store never had or no longer remembers, and remembers exactly
    /// the last `CHANGES_REMEMBERED` changes.
    #[test]
    fn changes_since_names_what_changed_since_a_version() {
        Simulation::new(1)
            .run(|_| async {
                let store = InMemoryStorage::new();
                assert_eq!(store.changes_since(0), Some(vec![]));
                assert_eq!(store.changes_since(1), None, "a version never reached");
                let a1 = store.write(&id("a"), b"1".to_vec(), None).await.unwrap();
                let after_a = store.version();
                let b1 = store.write(&id("b"), b"2".to_vec(), None).await.unwrap();
                let a2 = store
                    .write(&id("a"), b"3".to_vec(), Some(a1))
                    .await
                    .unwrap();
                assert_eq!(
                    store.changes_since(0),
                    Some(vec![
                        (id("a"), Some((b"3".to_vec(), a2))),
                        (id("b"), Some((b"2".to_vec(), b1)))
                    ]),
                    "each record once, as it is now"
                );
                assert_eq!(
                    store.changes_since(after_a).map(|c| c.len()),
                    Some(2),
                    "b, then a again"
                );

                let before = store.version();
                assert!(store.write(&id("a"), b"x".to_vec(), None).await.is_err());
                store.clear(&id("nobody"), None).await.unwrap();
                assert_eq!(store.changes_since(before), Some(vec![]));
                store.clear(&id("b"), Some(b1)).await.unwrap();
                assert_eq!(store.changes_since(before), Some(vec![(id("b"), None)]));

                // The journal's edge: the oldest version still answered is
                // exactly CHANGES_REMEMBERED changes back. Changes 1 and 2
                // are to "first" and "second", the rest to "k".
                let fresh = InMemoryStorage::new();
                fresh.write(&id("first"), vec![], None).await.unwrap();
                fresh.write(&id("second"), vec![], None).await.unwrap();
                let mut etag = None;
                for _ in 2..CHANGES_REMEMBERED {
                    etag = Some(fresh.write(&id("k"), vec![], etag).await.unwrap());
                }
                assert_eq!(fresh.changes_since(0).map(|c| c.len()), Some(3));
                fresh.write(&id("k"), vec![], etag).await.unwrap();
                assert_eq!(fresh.changes_since(0), None, "change 1 is forgotten");
                let keys = |since| {
                    fresh.changes_since(since).map(|c| {
                        c.into_iter()
                            .map(|(id, _)| id.key.to_string())
                            .collect::<Vec<_>>()
                    })
                };
                assert_eq!(keys(1), Some(vec!["k".to_string(), "second".to_string()]));
                assert_eq!(keys(2), Some(vec!["k".to_string()]));
            })
            .unwrap();
    }
}
