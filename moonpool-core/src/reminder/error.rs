//! Why a reminder operation failed, and the limits a reminder must keep.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::id::ActorId;
use crate::state::ETag;

/// The longest reminder name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;

/// The shortest period: a tick is a call and a table write, so a reminder
/// is for work on a human scale (use a timer for anything faster).
pub const MIN_PERIOD: Duration = Duration::from_secs(1);

/// The longest period, and the furthest first due time: a year.
pub const MAX_PERIOD: Duration = Duration::from_secs(366 * 86_400);

/// A version in words: its etag, or "no reminder".
fn version_words(etag: &Option<ETag>) -> String {
    etag.map_or_else(|| "no reminder".to_string(), |e| e.to_string())
}

/// Why a reminder operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ReminderError {
    /// The row changed since it was read: nothing was written.
    #[error(
        "reminder `{name}` of `{actor}` changed concurrently: expected {}, found {}",
        version_words(expected),
        version_words(actual)
    )]
    Conflict {
        /// The actor.
        actor: String,
        /// The reminder.
        name: String,
        /// The etag the writer expected (`None`: no row).
        expected: Option<ETag>,
        /// The etag found.
        actual: Option<ETag>,
    },
    /// The table could not be read or written: a write may or may not
    /// have happened, and may still happen (it was on its way). Reading
    /// the table tells what it holds; registering and unregistering again
    /// are safe (both are idempotent).
    #[error("reminder table unavailable while {what}: {reason}")]
    Unavailable {
        /// What was being done.
        what: String,
        /// Why.
        reason: String,
    },
    /// A stored row could not be decoded.
    #[error("a stored reminder is corrupt: {reason}")]
    Corrupt {
        /// What was wrong.
        reason: String,
    },
    /// The name is empty, too long or holds control characters.
    #[error("invalid reminder name {name:?}: {reason}")]
    InvalidName {
        /// The name (cut to its first 64 characters).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The period is too short or too long.
    #[error("invalid reminder period {period:?}: {reason}")]
    InvalidPeriod {
        /// The period asked for.
        period: Duration,
        /// The limit it broke.
        reason: String,
    },
    /// The first due time is too far away.
    #[error("invalid first due time of a reminder, {due:?} from now: it must be within {max:?}")]
    InvalidDue {
        /// The delay asked for.
        due: Duration,
        /// The limit.
        max: Duration,
    },
    /// The node has no reminder table (see `NodeBuilder::reminders`).
    #[error(
        "this node has no reminder table: build it with NodeBuilder::reminders(...) to use reminders"
    )]
    NotConfigured,
    /// The node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
}

impl ReminderError {
    /// The conflict of a change to `name` of `actor` that expected
    /// `expected` and found `actual`.
    pub(crate) fn conflict(
        actor: &ActorId,
        name: &str,
        expected: Option<ETag>,
        actual: Option<ETag>,
    ) -> Self {
        Self::Conflict {
            actor: actor.to_string(),
            name: name.to_string(),
            expected,
            actual,
        }
    }

    /// The table failed while doing `what`.
    pub(crate) fn unavailable(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Unavailable {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    /// Whether the operation may be retried as it is (the table was
    /// unreachable).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// Checks a reminder's name: not empty, at most [`MAX_NAME_BYTES`], no
/// control characters.
///
/// # Errors
///
/// [`ReminderError::InvalidName`] saying what is wrong.
pub fn check_name(name: &str) -> Result<(), ReminderError> {
    let reason = if name.is_empty() {
        Some("it is empty".to_string())
    } else if name.len() > MAX_NAME_BYTES {
        Some(format!(
            "it is {} bytes long; the limit is {MAX_NAME_BYTES}",
            name.len()
        ))
    } else if name.chars().any(char::is_control) {
        Some("it holds control characters".to_string())
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(ReminderError::InvalidName {
            name: name.chars().take(64).collect(),
            reason,
        }),
    }
}

/// Checks a schedule: the period within [`MIN_PERIOD`]..=[`MAX_PERIOD`],
/// the first due time at most [`MAX_PERIOD`] away.
///
/// # Errors
///
/// [`ReminderError::InvalidPeriod`] or [`ReminderError::InvalidDue`].
pub fn check_schedule(due: Duration, period: Duration) -> Result<(), ReminderError> {
    if period < MIN_PERIOD {
        return Err(ReminderError::InvalidPeriod {
            period,
            reason: format!("it must be at least {MIN_PERIOD:?} (use a timer for faster ticks)"),
        });
    }
    if period > MAX_PERIOD {
        return Err(ReminderError::InvalidPeriod {
            period,
            reason: format!("it must be at most {MAX_PERIOD:?}"),
        });
    }
    if due > MAX_PERIOD {
        return Err(ReminderError::InvalidDue {
            due,
            max: MAX_PERIOD,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_schedules_are_checked_in_words() {
        assert!(check_name("sweep").is_ok());
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        for (bad, words) in [
            ("", "empty"),
            (long.as_str(), "201 bytes"),
            ("a\nb", "control"),
        ] {
            let e = check_name(bad).unwrap_err();
            assert!(e.to_string().contains(words), "{e}");
        }
        assert!(check_schedule(Duration::ZERO, MIN_PERIOD).is_ok());
        let e = check_schedule(Duration::ZERO, Duration::ZERO).unwrap_err();
        assert!(e.to_string().contains("at least 1s"), "{e}");
        let e = check_schedule(Duration::ZERO, Duration::MAX).unwrap_err();
        assert!(e.to_string().contains("at most"), "{e}");
        let e = check_schedule(MAX_PERIOD * 2, MIN_PERIOD).unwrap_err();
        assert!(matches!(e, ReminderError::InvalidDue { .. }), "{e}");
    }
}
