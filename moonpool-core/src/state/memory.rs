//! State in memory, shared by the nodes of one OS process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use moonpool_sim::BoxFuture;

use super::{ETag, Record, StateStorage, StorageError};
use crate::actor::ActorId;
use crate::transport::lock;

/// State kept in memory (lost with the process). Clones share the data.
#[derive(Clone, Default)]
pub struct InMemoryStorage {
    records: Arc<Mutex<BTreeMap<ActorId, Record>>>,
}

impl InMemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every record, read at once (for invariant checks in tests).
    pub fn snapshot(&self) -> Vec<(ActorId, Record)> {
        lock(&self.records)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn conflict(id: &ActorId, expected: Option<ETag>, actual: Option<ETag>) -> StorageError {
    StorageError::Conflict {
        actor: id.to_string(),
        expected,
        actual,
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
                let next = ETag(actual.map_or(1, |e| e.0 + 1));
                records.insert(id.clone(), (data, next));
                Ok(next)
            } else {
                Err(conflict(id, expected, actual))
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
                records.remove(id);
                Ok(())
            } else {
                Err(conflict(id, expected, actual))
            }
        };
        Box::pin(async move { result })
    }
}
