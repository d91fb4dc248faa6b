//! Wall-clock time: [`WallTime`], a point on the calendar that means the
//! same on every machine (unlike [`Instant`](super::Instant), which counts
//! from each provider's own start). What durable schedules (reminders) are
//! written in.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A point in calendar time: milliseconds since the Unix epoch
/// (1970-01-01T00:00:00Z), read from a provider's wall clock
/// ([`Providers::wall_now`](crate::Providers::wall_now)).
///
/// The tokio providers read the system clock; a simulation's wall clock
/// starts at [`WallTime::SIMULATION_EPOCH`] and moves with simulated time.
/// Wall clocks of different machines disagree a little and may step:
/// compare wall times taken on different nodes with that in mind.
///
/// # Example
///
/// ```
/// use moonpool_sim::WallTime;
/// use std::time::Duration;
///
/// let t = WallTime::from_unix_millis(1_767_225_600_000);
/// assert_eq!(t.to_string(), "2026-01-01T00:00:00.000Z");
/// let later = t + Duration::from_millis(90_061_001);
/// assert_eq!(later.to_string(), "2026-01-02T01:01:01.001Z");
/// assert_eq!(later - t, Duration::from_millis(90_061_001));
/// assert_eq!(t - later, Duration::ZERO); // saturates
/// ```
#[derive(
    Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct WallTime {
    millis: u64,
}

impl WallTime {
    /// The Unix epoch.
    pub const UNIX_EPOCH: WallTime = WallTime { millis: 0 };

    /// Where a simulation's wall clock starts: 2026-01-01T00:00:00Z.
    pub const SIMULATION_EPOCH: WallTime = WallTime {
        millis: 1_767_225_600_000,
    };

    /// The latest representable wall time.
    pub const MAX: WallTime = WallTime { millis: u64::MAX };

    /// `millis` milliseconds after the Unix epoch.
    pub const fn from_unix_millis(millis: u64) -> Self {
        Self { millis }
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> u64 {
        self.millis
    }

    /// `self + d` (whole milliseconds of `d`), saturating at
    /// [`WallTime::MAX`].
    pub fn saturating_add(self, d: Duration) -> Self {
        let add = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            millis: self.millis.saturating_add(add),
        }
    }

    /// `self - d`, saturating at the Unix epoch.
    pub fn saturating_sub(self, d: Duration) -> Self {
        let sub = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            millis: self.millis.saturating_sub(sub),
        }
    }

    /// How long after `earlier` this is; zero if it is not later.
    pub fn saturating_duration_since(self, earlier: WallTime) -> Duration {
        Duration::from_millis(self.millis.saturating_sub(earlier.millis))
    }
}

impl Add<Duration> for WallTime {
    type Output = WallTime;
    /// Saturates at [`WallTime::MAX`].
    fn add(self, rhs: Duration) -> WallTime {
        self.saturating_add(rhs)
    }
}

impl Sub<Duration> for WallTime {
    type Output = WallTime;
    /// Saturates at the Unix epoch.
    fn sub(self, rhs: Duration) -> WallTime {
        self.saturating_sub(rhs)
    }
}

impl Sub<WallTime> for WallTime {
    type Output = Duration;
    /// Saturates at zero when `rhs` is later.
    fn sub(self, rhs: WallTime) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

/// The civil date (year, month, day) of a count of days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are small and positive by construction.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

impl fmt::Display for WallTime {
    /// RFC 3339 in UTC with milliseconds, e.g. `2026-01-01T00:00:00.000Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.millis / 1_000;
        let millis = self.millis % 1_000;
        let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
        let (year, month, day) = civil_from_days(days);
        let rem = secs % 86_400;
        let (h, m, s) = (rem / 3_600, (rem / 60) % 60, rem % 60);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{millis:03}Z"
        )
    }
}

impl fmt::Debug for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WallTime({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_calendar_dates() {
        assert_eq!(WallTime::UNIX_EPOCH.to_string(), "1970-01-01T00:00:00.000Z");
        // A leap day, and the day after.
        let leap = WallTime::from_unix_millis(951_782_400_000);
        assert_eq!(leap.to_string(), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            (leap + Duration::from_secs(86_400)).to_string(),
            "2000-03-01T00:00:00.000Z"
        );
        assert_eq!(
            WallTime::from_unix_millis(1_798_761_599_999).to_string(),
            "2026-12-31T23:59:59.999Z"
        );
        // The largest value still prints a date, without panicking.
        assert!(WallTime::MAX.to_string().ends_with('Z'));
    }

    #[test]
    fn arithmetic_saturates() {
        let t = WallTime::from_unix_millis(10);
        assert_eq!(t - Duration::from_secs(1), WallTime::UNIX_EPOCH);
        assert_eq!(WallTime::MAX + Duration::from_secs(1), WallTime::MAX);
        assert_eq!(t + Duration::MAX, WallTime::MAX);
        assert_eq!(t - WallTime::MAX, Duration::ZERO);
    }
}
