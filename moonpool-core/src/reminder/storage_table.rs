//! Reminders on any [`StateStorage`]: the ring cut into fixed buckets,
//! each one record holding its rows, changed by read-modify-write under
//! the record's etag.

use std::collections::BTreeSet;
use std::sync::Arc;

use moonpool_sim::BoxFuture;
use serde::{Deserialize, Serialize};

use super::error::ReminderError;
use super::table::{ReminderEntry, ReminderTable, RingRange, StoredReminder, sorted};
use crate::id::ActorId;
use crate::state::{ETag, StateStorage, StorageError};

/// Bits of the ring position that pick a bucket (64 buckets: a node's
/// slice is a few dozen records to read, a bucket of a few thousand
/// reminders some kilobytes to write).
const BUCKET_BITS: u32 = 6;

/// The actor type the bucket records are stored under.
pub const BUCKET_TYPE: &str = "moonpool.reminders";

/// Tries of one change before reporting contention (each lost try means
/// another writer changed the bucket: someone progressed).
const ATTEMPTS: usize = 64;

/// One bucket's record.
#[derive(Default, Serialize, Deserialize)]
struct Bucket {
    /// The last row etag handed out in this bucket (buckets are never
    /// deleted, so a row's etag is never handed out twice).
    last_etag: u64,
    /// Ordered by actor and name.
    rows: Vec<StoredReminder>,
}

/// Reminders in a [`StateStorage`]: a
/// [`DiskStorage`](crate::state::DiskStorage) makes them durable in one
/// process's files, a [`RemoteStorage`](crate::state::RemoteStorage)
/// shares a storage server's among the nodes of several processes.
///
/// The ring is cut into 64 buckets by the top bits of the position;
/// each bucket is one record (actor type [`BUCKET_TYPE`]) holding its
/// rows. A change reads the bucket, checks the row's etag and writes the
/// bucket back under the record's etag, trying again when another row of
/// the bucket changed in between: a row changes only through its own
/// etag, and two writers of one row never both succeed.
///
/// Good for thousands of reminders; for more, or many nodes, use the
/// PostgreSQL table.
///
/// # Example
///
/// ```
/// use moonpool_core::reminder::{ReminderEntry, ReminderTable, StorageReminderTable};
/// use moonpool_core::state::InMemoryStorage;
/// use moonpool_core::{ActorId, WallTime};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// # moonpool_sim::Simulation::new(1).run(|_| async {
/// let table = StorageReminderTable::new(Arc::new(InMemoryStorage::new()));
/// let entry = ReminderEntry {
///     actor: ActorId { type_name: "Loan".into(), key: "7".into() },
///     name: "interest".into(),
///     first_due: WallTime::from_unix_millis(60_000),
///     period: Duration::from_secs(60),
///     delivered_through: None,
/// };
/// let etag = table.upsert(&entry, None).await.unwrap();
/// let read = table.read(&entry.actor, "interest").await.unwrap().unwrap();
/// assert_eq!((read.entry, read.etag), (entry, etag));
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct StorageReminderTable {
    store: Arc<dyn StateStorage>,
}

impl StorageReminderTable {
    /// Reminders kept in `store`.
    pub fn new(store: Arc<dyn StateStorage>) -> Self {
        Self { store }
    }

    /// Reads a bucket: its record etag and contents.
    async fn load(&self, bucket: u64) -> Result<(Option<ETag>, Bucket), ReminderError> {
        let id = bucket_id(bucket);
        match self.store.read(&id).await {
            Ok(None) => Ok((None, Bucket::default())),
            Ok(Some((bytes, etag))) => {
                let b: Bucket =
                    postcard::from_bytes(&bytes).map_err(|e| ReminderError::Corrupt {
                        reason: format!("bucket {bucket} cannot be decoded: {e}"),
                    })?;
                Ok((Some(etag), b))
            }
            Err(e) => Err(from_storage("reading reminders", e)),
        }
    }

    /// Applies `change` to the bucket of `actor` until it lands or the row
    /// check inside `change` refuses.
    async fn change<T>(
        &self,
        actor: &ActorId,
        name: &str,
        mut change: impl FnMut(&mut Bucket) -> Result<T, ReminderError>,
    ) -> Result<T, ReminderError> {
        let bucket = bucket_of(actor.ring_position());
        for _ in 0..ATTEMPTS {
            let (record_etag, mut b) = self.load(bucket).await?;
            let out = change(&mut b)?;
            let bytes = postcard::to_allocvec(&b).map_err(|e| ReminderError::Corrupt {
                reason: format!("bucket {bucket} cannot be encoded: {e}"),
            })?;
            match self
                .store
                .write(&bucket_id(bucket), bytes, record_etag)
                .await
            {
                Ok(_) => return Ok(out),
                // Another row of the bucket changed: read again.
                Err(StorageError::Conflict { .. }) => {}
                Err(e) => return Err(from_storage("writing a reminder", e)),
            }
        }
        Err(ReminderError::unavailable(
            format!("writing reminder `{name}` of `{actor}`"),
            format!("the bucket kept changing under {ATTEMPTS} tries"),
        ))
    }
}

fn bucket_of(position: u64) -> u64 {
    position >> (64 - BUCKET_BITS)
}

fn bucket_id(bucket: u64) -> ActorId {
    ActorId {
        type_name: BUCKET_TYPE.into(),
        key: format!("{bucket:02x}").into(),
    }
}

fn from_storage(what: &str, e: StorageError) -> ReminderError {
    match e {
        StorageError::Corrupt { reason, .. } => ReminderError::Corrupt { reason },
        other => ReminderError::unavailable(what, other),
    }
}

/// Where the row of `actor`/`name` is (or would go) in a bucket.
fn find(b: &Bucket, actor: &ActorId, name: &str) -> Result<usize, usize> {
    b.rows
        .binary_search_by(|r| (&r.entry.actor, r.entry.name.as_str()).cmp(&(actor, name)))
}

impl ReminderTable for StorageReminderTable {
    fn read(
        &self,
        actor: &ActorId,
        name: &str,
    ) -> BoxFuture<'static, Result<Option<StoredReminder>, ReminderError>> {
        let (this, actor, name) = (self.clone(), actor.clone(), name.to_string());
        Box::pin(async move {
            let (_, b) = this.load(bucket_of(actor.ring_position())).await?;
            Ok(find(&b, &actor, &name).ok().map(|i| b.rows[i].clone()))
        })
    }

    fn read_actor(
        &self,
        actor: &ActorId,
    ) -> BoxFuture<'static, Result<Vec<StoredReminder>, ReminderError>> {
        let (this, actor) = (self.clone(), actor.clone());
        Box::pin(async move {
            let (_, b) = this.load(bucket_of(actor.ring_position())).await?;
            Ok(b.rows
                .into_iter()
                .filter(|r| r.entry.actor == actor)
                .collect())
        })
    }

    fn read_range(
        &self,
        range: RingRange,
    ) -> BoxFuture<'static, Result<Vec<StoredReminder>, ReminderError>> {
        self.read_ranges(&[range])
    }

    /// Reads each bucket the ranges touch once.
    fn read_ranges(
        &self,
        ranges: &[RingRange],
    ) -> BoxFuture<'static, Result<Vec<StoredReminder>, ReminderError>> {
        let (this, ranges) = (self.clone(), ranges.to_vec());
        Box::pin(async move {
            let buckets: BTreeSet<u64> = ranges
                .iter()
                .flat_map(RingRange::segments)
                .flat_map(|(lo, hi)| bucket_of(lo)..=bucket_of(hi))
                .collect();
            let mut rows = Vec::new();
            for bucket in buckets {
                let (_, b) = this.load(bucket).await?;
                rows.extend(b.rows.into_iter().filter(|r| {
                    let p = r.entry.actor.ring_position();
                    ranges.iter().any(|range| range.contains(p))
                }));
            }
            Ok(sorted(rows))
        })
    }

    fn upsert(
        &self,
        entry: &ReminderEntry,
        expected: Option<ETag>,
    ) -> BoxFuture<'static, Result<ETag, ReminderError>> {
        let (this, entry) = (self.clone(), entry.clone());
        Box::pin(async move {
            this.change(&entry.actor, &entry.name, |b| {
                let at = find(b, &entry.actor, &entry.name);
                let actual = at.ok().map(|i| b.rows[i].etag);
                if actual != expected {
                    return Err(ReminderError::conflict(
                        &entry.actor,
                        &entry.name,
                        expected,
                        actual,
                    ));
                }
                b.last_etag += 1;
                let row = StoredReminder {
                    entry: entry.clone(),
                    etag: ETag(b.last_etag),
                };
                match at {
                    Ok(i) => b.rows[i] = row,
                    Err(i) => b.rows.insert(i, row),
                }
                Ok(ETag(b.last_etag))
            })
            .await
        })
    }

    fn delete(
        &self,
        actor: &ActorId,
        name: &str,
        expected: ETag,
    ) -> BoxFuture<'static, Result<(), ReminderError>> {
        let (this, actor, name) = (self.clone(), actor.clone(), name.to_string());
        Box::pin(async move {
            this.change(&actor, &name, |b| {
                let at = find(b, &actor, &name);
                let actual = at.ok().map(|i| b.rows[i].etag);
                match at {
                    Ok(i) if actual == Some(expected) => {
                        b.rows.remove(i);
                        Ok(())
                    }
                    _ => Err(ReminderError::conflict(
                        &actor,
                        &name,
                        Some(expected),
                        actual,
                    )),
                }
            })
            .await
        })
    }
}
