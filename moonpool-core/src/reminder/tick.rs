//! What an actor's reminder handler receives: one due time of one
//! reminder.

use std::time::Duration;

use moonpool_sim::WallTime;
use serde::{Deserialize, Serialize};

use super::table::ReminderEntry;

/// A tick delivered more than this after its due time is marked late.
pub const LATE_AFTER: Duration = Duration::from_secs(1);

/// Whether a tick came on time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TickStatus {
    /// Delivered within [`LATE_AFTER`] of its due time.
    OnTime,
    /// Delivered later: the node owning the reminder was down, busy, or
    /// had to try again. Every due time is still delivered, in order, so a
    /// handler that only cares about the latest may skip late ticks.
    Late {
        /// How long after the due time it was delivered.
        by: Duration,
    },
}

/// One due time of a reminder, as its actor's `on_reminder` hook receives
/// it.
///
/// Delivery is **at least once per due time**: a tick may come again
/// after a crash (the node firing it died before recording that it was
/// delivered), so a handler whose work must not be repeated
/// de-duplicates on [`due`](Self::due), e.g. by storing the last due time
/// it handled in its state.
///
/// # Example
///
/// ```
/// use moonpool_core::reminder::{ReminderTick, TickStatus};
/// use moonpool_core::WallTime;
/// use std::time::Duration;
///
/// let tick = ReminderTick {
///     name: "sweep".into(),
///     due: WallTime::from_unix_millis(5_000),
///     first_due: WallTime::from_unix_millis(5_000),
///     period: Duration::from_secs(60),
///     status: TickStatus::OnTime,
/// };
/// assert!(!tick.is_late());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderTick {
    /// The reminder's name.
    pub name: String,
    /// The due time this tick is for.
    pub due: WallTime,
    /// The schedule's first due time (with the period, what tells a
    /// schedule from the one that replaced it).
    pub first_due: WallTime,
    /// The reminder's period.
    pub period: Duration,
    /// On time, or late (and by how much).
    pub status: TickStatus,
}

impl ReminderTick {
    /// Whether the tick was delivered late.
    pub fn is_late(&self) -> bool {
        matches!(self.status, TickStatus::Late { .. })
    }

    /// The tick of `due` of the schedule of `entry`, delivered at `now`.
    pub(crate) fn at(entry: &ReminderEntry, due: WallTime, now: WallTime) -> Self {
        let by = now.saturating_duration_since(due);
        let status = if by > LATE_AFTER {
            TickStatus::Late { by }
        } else {
            TickStatus::OnTime
        };
        Self {
            name: entry.name.clone(),
            due,
            first_due: entry.first_due,
            period: entry.period,
            status,
        }
    }
}
