//! Reminders in memory, shared by the nodes of one OS process.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use moonpool_sim::BoxFuture;

use super::error::ReminderError;
use super::table::{ReminderEntry, ReminderTable, RingRange, StoredReminder, sorted};
use crate::id::ActorId;
use crate::state::ETag;
use crate::sync::lock;

/// Rows keyed by ring position first, so a range is one scan.
type Key = (u64, ActorId, String);

/// Reminders kept in memory (lost with the process): for tests, the
/// simulator and single-process clusters. Clones share the rows.
#[derive(Clone, Default)]
pub struct InMemoryReminderTable {
    rows: Arc<Mutex<BTreeMap<Key, StoredReminder>>>,
    /// The last etag handed out (one counter for the table: an etag is
    /// never reused, even by a row deleted and created again).
    etags: Arc<AtomicU64>,
}

impl InMemoryReminderTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every row (for checks in tests).
    pub fn snapshot(&self) -> Vec<StoredReminder> {
        lock(&self.rows).values().cloned().collect()
    }

    fn key(actor: &ActorId, name: &str) -> Key {
        (actor.ring_position(), actor.clone(), name.to_string())
    }
}

impl ReminderTable for InMemoryReminderTable {
    fn read(
        &self,
        actor: &ActorId,
        name: &str,
    ) -> BoxFuture<'static, Result<Option<StoredReminder>, ReminderError>> {
        let found = lock(&self.rows).get(&Self::key(actor, name)).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn read_actor(
        &self,
        actor: &ActorId,
    ) -> BoxFuture<'static, Result<Vec<StoredReminder>, ReminderError>> {
        let p = actor.ring_position();
        let rows: Vec<_> = lock(&self.rows)
            .range((p, actor.clone(), String::new())..)
            .take_while(|((q, a, _), _)| *q == p && a == actor)
            .map(|(_, r)| r.clone())
            .collect();
        Box::pin(async move { Ok(rows) })
    }

    fn read_range(
        &self,
        range: RingRange,
    ) -> BoxFuture<'static, Result<Vec<StoredReminder>, ReminderError>> {
        let lowest = || ActorId {
            type_name: "".into(),
            key: "".into(),
        };
        let rows = {
            let table = lock(&self.rows);
            let mut rows = Vec::new();
            for (lo, hi) in range.segments() {
                let from = Bound::Included((lo, lowest(), String::new()));
                let to = match hi.checked_add(1) {
                    Some(next) => Bound::Excluded((next, lowest(), String::new())),
                    None => Bound::Unbounded,
                };
                rows.extend(table.range((from, to)).map(|(_, r)| r.clone()));
            }
            rows
        };
        let rows = sorted(rows);
        Box::pin(async move { Ok(rows) })
    }

    fn upsert(
        &self,
        entry: &ReminderEntry,
        expected: Option<ETag>,
    ) -> BoxFuture<'static, Result<ETag, ReminderError>> {
        let result = {
            let mut rows = lock(&self.rows);
            let key = Self::key(&entry.actor, &entry.name);
            let actual = rows.get(&key).map(|r| r.etag);
            if actual == expected {
                let etag = ETag(self.etags.fetch_add(1, Ordering::Relaxed) + 1);
                rows.insert(
                    key,
                    StoredReminder {
                        entry: entry.clone(),
                        etag,
                    },
                );
                Ok(etag)
            } else {
                Err(ReminderError::conflict(
                    &entry.actor,
                    &entry.name,
                    expected,
                    actual,
                ))
            }
        };
        Box::pin(async move { result })
    }

    fn delete(
        &self,
        actor: &ActorId,
        name: &str,
        expected: ETag,
    ) -> BoxFuture<'static, Result<(), ReminderError>> {
        let result = {
            let mut rows = lock(&self.rows);
            let key = Self::key(actor, name);
            let actual = rows.get(&key).map(|r| r.etag);
            if actual == Some(expected) {
                rows.remove(&key);
                Ok(())
            } else {
                Err(ReminderError::conflict(actor, name, Some(expected), actual))
            }
        };
        Box::pin(async move { result })
    }
}
