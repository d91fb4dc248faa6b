//! Time: the [`TimeProvider`] trait, the provider-neutral [`Instant`], and the
//! [`Timeout`] combinator.

use std::fmt;
use std::future::Future;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::task::BoxFuture;
use super::wall::WallTime;

/// A point in time on a provider's clock, counted in nanoseconds from that
/// clock's epoch (the start of the simulation, or the creation of the tokio
/// time provider).
///
/// Instants from different providers are not comparable in meaning; within
/// one provider they are monotonic.
///
/// Arithmetic reads like `std::time::Instant`'s: `+`/`-` a [`Duration`],
/// `-` another instant, and `checked_*`/`saturating_*` forms. Where std
/// panics (a result outside the clock's range), the operators saturate at
/// [`Instant::ZERO`] or [`Instant::MAX`]; the `checked_*` forms say so
/// with `None`.
///
/// # Example
///
/// ```
/// use moonpool_sim::Instant;
/// use std::time::Duration;
///
/// let start = Instant::ZERO;
/// let later = start + Duration::from_millis(1500);
/// assert_eq!(later - start, Duration::from_millis(1500));
/// assert_eq!(later.to_string(), "1.500s");
///
/// // A lease checked with a margin: `sent + ttl - margin`.
/// let (ttl, margin) = (Duration::from_secs(10), Duration::from_millis(500));
/// let expires = later + ttl - margin;
/// assert_eq!(expires.duration_since(later), Duration::from_millis(9500));
/// assert_eq!(start.checked_sub(Duration::from_nanos(1)), None);
/// assert_eq!(start - Duration::from_secs(1), Instant::ZERO); // saturates
/// assert_eq!(start.checked_duration_since(later), None);
/// ```
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The clock's epoch.
    pub const ZERO: Instant = Instant { nanos: 0 };
    /// The largest representable instant (about 584 years after the epoch).
    pub const MAX: Instant = Instant { nanos: u64::MAX };

    /// An instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Self {
        Self { nanos }
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// Time since the epoch.
    pub const fn since_epoch(self) -> Duration {
        Duration::from_nanos(self.nanos)
    }

    /// `self + d`, saturating at [`Instant::MAX`].
    pub fn saturating_add(self, d: Duration) -> Self {
        let add = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Self {
            nanos: self.nanos.saturating_add(add),
        }
    }

    /// `self + d`, or `None` past [`Instant::MAX`].
    pub fn checked_add(self, d: Duration) -> Option<Self> {
        let add = u64::try_from(d.as_nanos()).ok()?;
        self.nanos.checked_add(add).map(Self::from_nanos)
    }

    /// `self - d`, or `None` before [`Instant::ZERO`] (the clock's epoch).
    pub fn checked_sub(self, d: Duration) -> Option<Self> {
        let sub = u64::try_from(d.as_nanos()).ok()?;
        self.nanos.checked_sub(sub).map(Self::from_nanos)
    }

    /// `self - d`, saturating at [`Instant::ZERO`].
    pub fn saturating_sub(self, d: Duration) -> Self {
        self.checked_sub(d).unwrap_or(Self::ZERO)
    }

    /// How long after `earlier` this instant is; zero if it is not later
    /// (as std's `Instant::duration_since`).
    pub fn duration_since(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }

    /// How long after `earlier` this instant is, or `None` if it is
    /// earlier.
    pub fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        self.nanos
            .checked_sub(earlier.nanos)
            .map(Duration::from_nanos)
    }

    /// How long after `earlier` this instant is; zero if it is not later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturates at [`Instant::ZERO`] instead of going before the epoch.
    fn sub(self, rhs: Duration) -> Instant {
        self.saturating_sub(rhs)
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, rhs: Duration) {
        *self = self.saturating_sub(rhs);
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at [`Instant::MAX`] instead of overflowing.
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = self.saturating_add(rhs);
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero when `rhs` is later.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instant({self})")
    }
}

impl fmt::Display for Instant {
    /// Seconds with millisecond precision, e.g. `3723.004s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.nanos / 1_000_000_000;
        let millis = (self.nanos / 1_000_000) % 1_000;
        write!(f, "{secs}.{millis:03}s")
    }
}

/// A clock and timers, as the runtime sees them.
///
/// Use it through [`Providers`](crate::Providers) (`now`, `sleep`, `timeout`).
/// The tokio implementation reads the monotonic clock; the simulated one
/// reads logical time, which jumps forward whenever no task can run.
///
/// # Example
///
/// ```
/// use moonpool_sim::{Instant, TimeProvider, BoxFuture, WallTime};
///
/// /// A clock frozen at the epoch whose timers never fire.
/// struct Frozen;
/// impl TimeProvider for Frozen {
///     fn now(&self) -> Instant { Instant::ZERO }
///     fn wall_now(&self) -> WallTime { WallTime::UNIX_EPOCH }
///     fn sleep_until(&self, _deadline: Instant) -> BoxFuture<'static, ()> {
///         Box::pin(std::future::pending())
///     }
/// }
/// assert_eq!(Frozen.now(), Instant::ZERO);
/// ```
pub trait TimeProvider: Send + Sync + 'static {
    /// The current time on this clock.
    fn now(&self) -> Instant;
    /// The current calendar time: what durable schedules are written in,
    /// comparable across machines (up to their clocks' disagreement).
    fn wall_now(&self) -> WallTime;
    /// A future that completes once the clock reaches `deadline`
    /// (immediately if it already has).
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()>;
}

/// The error of a [`Timeout`] whose deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("operation timed out after {after:?}")]
pub struct Elapsed {
    /// The time limit that was exceeded.
    pub after: Duration,
}

pin_project_lite::pin_project! {
    /// Runs a future with a time limit; built by
    /// [`Providers::timeout`](crate::Providers::timeout) or
    /// [`Providers::timeout_at`](crate::Providers::timeout_at).
    ///
    /// The inner future is polled before the timer, so a future that is ready
    /// at the deadline still wins. The timer is only armed the first time
    /// the inner future is not ready, so a future that completes at once
    /// costs no timer at all.
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        time: Arc<dyn TimeProvider>,
        deadline: Instant,
        after: Option<Duration>,
        sleep: Option<BoxFuture<'static, ()>>,
    }
}

impl<F> Timeout<F> {
    /// `future` limited to `deadline` on `time`'s clock; `after` is the
    /// limit to report (the time left when the timer is armed, if `None`).
    pub(crate) fn new(
        future: F,
        time: Arc<dyn TimeProvider>,
        deadline: Instant,
        after: Option<Duration>,
    ) -> Self {
        Self {
            future,
            time,
            deadline,
            after,
            sleep: None,
        }
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        let deadline = *this.deadline;
        let time = this.time;
        let after = this.after;
        let sleep = this.sleep.get_or_insert_with(|| {
            if after.is_none() {
                *after = Some(deadline.saturating_duration_since(time.now()));
            }
            time.sleep_until(deadline)
        });
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed {
                after: after.unwrap_or_default(),
            })),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_arithmetic_saturates() {
        let a = Instant::from_nanos(10);
        assert_eq!(Instant::ZERO - a, Duration::ZERO);
        assert_eq!(a - Instant::ZERO, Duration::from_nanos(10));
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(a + Duration::MAX, Instant::MAX);
        let mut b = a;
        b += Duration::from_nanos(5);
        assert_eq!(b.as_nanos(), 15);
        b -= Duration::from_nanos(7);
        assert_eq!(b.as_nanos(), 8);
        assert_eq!(a - Duration::from_nanos(11), Instant::ZERO);
        assert_eq!(a - Duration::from_nanos(4), Instant::from_nanos(6));
    }

    #[test]
    fn checked_forms_say_when_the_clock_s_range_is_left() {
        let a = Instant::from_nanos(10);
        assert_eq!(a.checked_sub(Duration::from_nanos(10)), Some(Instant::ZERO));
        assert_eq!(a.checked_sub(Duration::from_nanos(11)), None);
        assert_eq!(a.checked_sub(Duration::MAX), None);
        assert_eq!(
            a.checked_add(Duration::from_nanos(1)),
            Some(Instant::from_nanos(11))
        );
        assert_eq!(Instant::MAX.checked_add(Duration::from_nanos(1)), None);
        assert_eq!(a.checked_add(Duration::MAX), None);
        assert_eq!(
            a.checked_duration_since(Instant::from_nanos(4)),
            Some(Duration::from_nanos(6))
        );
        assert_eq!(Instant::from_nanos(4).checked_duration_since(a), None);
        assert_eq!(Instant::from_nanos(4).duration_since(a), Duration::ZERO);
        assert_eq!(a.saturating_sub(Duration::from_secs(1)), Instant::ZERO);
    }

    #[test]
    fn instant_displays_seconds_and_millis() {
        let t = Instant::from_nanos(3_723_004_999_999);
        assert_eq!(t.to_string(), "3723.004s");
        assert_eq!(format!("{t:?}"), "Instant(3723.004s)");
    }
}
