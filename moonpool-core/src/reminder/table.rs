//! The reminder table contract: rows keyed by actor and name, each with
//! its schedule and how far it has been delivered, read by actor or by a
//! range of the hash ring, changed only with the etag last read.

use std::fmt;
use std::time::Duration;

use moonpool_sim::{BoxFuture, WallTime};
use serde::{Deserialize, Serialize};

use super::error::ReminderError;
use crate::id::ActorId;
use crate::state::ETag;

/// One reminder as the table stores it: whose, which, its schedule, and
/// the last due time whose tick was delivered.
///
/// The due times are `first_due`, `first_due + period`, … ; the next one
/// to deliver is the first after `delivered_through` (or `first_due` when
/// nothing was delivered yet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderEntry {
    /// The actor the reminder wakes.
    pub actor: ActorId,
    /// Its name, unique per actor.
    pub name: String,
    /// The first due time.
    pub first_due: WallTime,
    /// The time between due times.
    pub period: Duration,
    /// The last due time whose tick was delivered (`None`: none yet).
    pub delivered_through: Option<WallTime>,
}

impl ReminderEntry {
    /// The next due time to deliver.
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool_core::reminder::ReminderEntry;
    /// use moonpool_core::{ActorId, WallTime};
    /// use std::time::Duration;
    ///
    /// let start = WallTime::from_unix_millis(1_000);
    /// let mut r = ReminderEntry {
    ///     actor: ActorId { type_name: "Loan".into(), key: "7".into() },
    ///     name: "interest".into(),
    ///     first_due: start,
    ///     period: Duration::from_secs(60),
    ///     delivered_through: None,
    /// };
    /// assert_eq!(r.next_due(), start);
    /// r.delivered_through = Some(start);
    /// assert_eq!(r.next_due(), start + Duration::from_secs(60));
    /// ```
    pub fn next_due(&self) -> WallTime {
        match self.delivered_through {
            None => self.first_due,
            Some(last) => last + self.period,
        }
    }

    /// Whether `other` has the same schedule (actor, name, first due time
    /// and period), whatever either has delivered.
    pub fn same_schedule(&self, other: &ReminderEntry) -> bool {
        self.actor == other.actor
            && self.name == other.name
            && self.first_due == other.first_due
            && self.period == other.period
    }
}

/// A row read from a [`ReminderTable`]: the entry and its version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReminder {
    /// The row.
    pub entry: ReminderEntry,
    /// Its version: what a change of this row must name.
    pub etag: ETag,
}

/// A range of the hash ring: positions `p` with `after < p <= through`,
/// wrapping past `u64::MAX` when `after >= through` (`after == through`
/// is the whole ring). A node's slice of the ring is a few such ranges.
///
/// # Example
///
/// ```
/// use moonpool_core::reminder::RingRange;
///
/// let r = RingRange { after: 10, through: 20 };
/// assert!(!r.contains(10) && r.contains(11) && r.contains(20) && !r.contains(21));
/// let wrapping = RingRange { after: u64::MAX - 1, through: 1 };
/// assert!(wrapping.contains(u64::MAX) && wrapping.contains(0) && !wrapping.contains(2));
/// assert!(RingRange::WHOLE.contains(12345));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RingRange {
    /// The position before the range.
    pub after: u64,
    /// The last position in the range.
    pub through: u64,
}

impl RingRange {
    /// The whole ring.
    pub const WHOLE: RingRange = RingRange {
        after: 0,
        through: 0,
    };

    /// The range as inclusive, non-wrapping segments `(lowest, highest)`,
    /// in ascending order (one, or two when it wraps).
    pub fn segments(&self) -> Vec<(u64, u64)> {
        if self.after < self.through {
            return vec![(self.after + 1, self.through)];
        }
        let mut parts = vec![(0, self.through)];
        if self.after < u64::MAX {
            parts.push((self.after + 1, u64::MAX));
        }
        parts
    }

    /// Whether position `p` is in the range.
    pub fn contains(&self, p: u64) -> bool {
        if self.after < self.through {
            self.after < p && p <= self.through
        } else {
            // Wraps (or is the whole ring).
            p > self.after || p <= self.through
        }
    }
}

impl fmt::Display for RingRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:#018x}, {:#018x}]", self.after, self.through)
    }
}

/// `rows` ordered by actor and name.
pub(crate) fn sorted(mut rows: Vec<StoredReminder>) -> Vec<StoredReminder> {
    rows.sort_by(|a, b| (&a.entry.actor, &a.entry.name).cmp(&(&b.entry.actor, &b.entry.name)));
    rows
}

/// Where reminders live: the truth about which reminders exist and how
/// far each was delivered (no node's memory is). Every change names the
/// etag it expects; a mismatch is a [`ReminderError::Conflict`], never an
/// overwrite.
///
/// Backends: [`InMemoryReminderTable`](super::InMemoryReminderTable) (one
/// process), [`StorageReminderTable`](super::StorageReminderTable) (on
/// any [`StateStorage`](crate::state::StateStorage): files, a storage
/// server), and `PostgresReminderTable` (feature `postgres`). Check your
/// own with [`check_reminder_table`](super::conformance::check_reminder_table).
///
/// # Example
///
/// ```
/// use moonpool_core::reminder::{InMemoryReminderTable, ReminderEntry, ReminderTable, RingRange};
/// use moonpool_core::{ActorId, WallTime};
/// use std::time::Duration;
///
/// # moonpool_sim::Simulation::new(1).run(|_| async {
/// let table = InMemoryReminderTable::new();
/// let actor = ActorId { type_name: "Loan".into(), key: "7".into() };
/// let entry = ReminderEntry {
///     actor: actor.clone(),
///     name: "interest".into(),
///     first_due: WallTime::from_unix_millis(60_000),
///     period: Duration::from_secs(60),
///     delivered_through: None,
/// };
/// let etag = table.upsert(&entry, None).await.unwrap();
/// assert!(table.upsert(&entry, None).await.is_err()); // it exists: conflict
/// assert_eq!(table.read_actor(&actor).await.unwrap().len(), 1);
/// assert_eq!(table.read_range(RingRange::WHOLE).await.unwrap()[0].etag, etag);
/// table.delete(&actor, "interest", etag).await.unwrap();
/// # }).unwrap();
/// ```
pub trait ReminderTable: Send + Sync + 'static {
    /// The reminder `name` of `actor`, if it exists.
    fn read(
        &self,
        actor: &ActorId,
        name: &str,
    ) -> BoxFuture<'static, Result<Option<StoredReminder>, ReminderError>>;

    /// Every reminder of `actor`, by name.
    fn read_actor(
        &self,
        actor: &ActorId,
    ) -> BoxFuture<'static, Result<Vec<StoredReminder>, ReminderError>>;

    /// Every reminder whose actor's [`ring_position`](ActorId::ring_position)
    /// is in `range`, ordered by actor and name.
    fn read_range(
        &self,
        range: RingRange,
    ) -> BoxFuture<'static, Result<Vec<StoredReminder>, ReminderError>>;

    /// Every reminder in any of `ranges` (which do not overlap), ordered
    /// by actor and name: a node's whole slice of the ring at once.
    /// Default: [`read_range`](Self::read_range) for each; backends that
    /// can read them in one go override it.
    fn read_ranges(
        &self,
        ranges: &[RingRange],
    ) -> BoxFuture<'static, Result<Vec<StoredReminder>, ReminderError>> {
        let reads: Vec<_> = ranges.iter().map(|r| self.read_range(*r)).collect();
        Box::pin(async move {
            let mut rows = Vec::new();
            for read in reads {
                rows.extend(read.await?);
            }
            Ok(sorted(rows))
        })
    }

    /// Writes `entry` if its row's etag is `expected` (`None`: there must
    /// be no row); returns the new etag. An etag is never handed out
    /// twice for a row, even one deleted and created again.
    fn upsert(
        &self,
        entry: &ReminderEntry,
        expected: Option<ETag>,
    ) -> BoxFuture<'static, Result<ETag, ReminderError>>;

    /// Deletes the row if its etag is `expected`.
    fn delete(
        &self,
        actor: &ActorId,
        name: &str,
        expected: ETag,
    ) -> BoxFuture<'static, Result<(), ReminderError>>;
}
