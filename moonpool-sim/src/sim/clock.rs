//! Per-process clocks: each simulated machine's clock runs at its own rate
//! and its wall clock is off by its own amount, stepping now and then (an
//! NTP correction). The simulation's own time (what the scheduler, the
//! network and the test body see) is the truth they disagree about.
//!
//! ```text
//!  true time g ──▶ monotonic: origin + g·(1 + ppm/10⁶)     (now, sleep, timeouts)
//!              └─▶ wall:      epoch + g + offset(g)        (wall_now)
//!                  offset(g): the last step's offset, drifting at ppm since,
//!                             held within ±max_wall_offset (as NTP slews)
//! ```
//!
//! A process's `Instant`s are monotonic and count from its own origin (as a
//! machine's monotonic clock counts from its boot), so instants of two
//! processes are not comparable. Its wall clock may step backwards. The
//! offset at true time `g` is a function of the seed, the process and `g`
//! only: when the clock is read does not change what it reads.

use std::time::Duration;

use crate::providers::random::DeterministicRng;

/// RNG stream for clock draws (mixed with the process number), apart from
/// every other stream: turning clocks on reshuffles nothing else.
const STREAM_CLOCKS: u64 = 0xC10C_5EED;

/// How far apart the simulated machines' clocks may be when the
/// `clock_skew` fault family is on (see
/// [`FaultConfig::clock_skew`](crate::chaos::FaultConfig::clock_skew)).
///
/// Each process draws, per seed, a rate within `±max_drift_ppm` of true
/// time (applied to its `now()`, sleeps and timeouts) and a wall-clock
/// offset within `±max_wall_offset` (applied to `wall_now()` only). The
/// offset drifts at the process's rate but never leaves the bound; every
/// so often (a gap drawn up to `max_step_interval`) the wall clock steps
/// to a new offset within the bound, backwards as often as forwards.
///
/// A wall clock is therefore always within `max_wall_offset` of true
/// time; two machines' wall clocks may disagree by up to twice that, and a
/// duration measured on one may be longer or shorter than on another by
/// twice `max_drift_ppm` parts per million.
/// Code that compares times taken on different machines needs a margin
/// larger than that; code that measures durations on one machine's
/// monotonic clock (leases, timeouts) needs one larger than
/// `2 · max_drift_ppm · 10⁻⁶ · duration`.
///
/// # Example
///
/// ```
/// use moonpool::{ClockConfig, SimConfig};
/// use std::time::Duration;
///
/// // Machines kept within 50 ms of each other by NTP, stepping every minute or so.
/// let config = SimConfig {
///     clocks: ClockConfig {
///         max_wall_offset: Duration::from_millis(25),
///         max_step_interval: Duration::from_secs(60),
///         ..ClockConfig::default()
///     },
///     ..SimConfig::default()
/// };
/// # let _ = config;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockConfig {
    /// Largest offset of a wall clock from true time, either way.
    /// Default: 250 ms.
    pub max_wall_offset: Duration,
    /// Largest rate error, in parts per million, either way. Default: 100
    /// (a cheap crystal; NTP-disciplined machines do better).
    pub max_drift_ppm: u32,
    /// Largest gap between two steps of a wall clock. Default: 60 s.
    pub max_step_interval: Duration,
}

impl Default for ClockConfig {
    fn default() -> Self {
        Self {
            max_wall_offset: Duration::from_millis(250),
            max_drift_ppm: 100,
            max_step_interval: Duration::from_secs(60),
        }
    }
}

/// Where one process's clock stood when a run ended: reported beside a
/// failure when the `clock_skew` family was on.
///
/// # Example
///
/// ```
/// use moonpool::ClockReading;
///
/// let reading = ClockReading {
///     process: "node-2".into(),
///     wall_offset_nanos: -80_250_000,
///     drift_ppm: 37,
/// };
/// assert_eq!(reading.to_string(), "node-2 wall -80.250ms, rate +37ppm");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockReading {
    /// The process's name.
    pub process: String,
    /// How far its wall clock was ahead of true time (negative: behind),
    /// in nanoseconds.
    pub wall_offset_nanos: i64,
    /// How fast its clocks ran, in parts per million off true time.
    pub drift_ppm: i64,
}

impl std::fmt::Display for ClockReading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.wall_offset_nanos < 0 { '-' } else { '+' };
        let abs = self.wall_offset_nanos.unsigned_abs();
        write!(
            f,
            "{} wall {sign}{}.{:03}ms, rate {:+}ppm",
            self.process,
            abs / 1_000_000,
            (abs / 1_000) % 1_000,
            self.drift_ppm
        )
    }
}

/// One process's clock.
#[derive(Debug)]
pub(crate) struct ProcessClock {
    /// Rate error in parts per million (0: true rate).
    ppm: i64,
    /// Where the monotonic clock stood at true time zero.
    origin: u64,
    /// The wall clock's offset from true time at its last step, in
    /// nanoseconds.
    offset: i64,
    /// True time of the last step.
    stepped_at: u64,
    /// True time of the next wall-clock step (`u64::MAX`: never).
    next_step: u64,
    max_offset: u64,
    max_step_interval: u64,
    rng: Option<DeterministicRng>,
}

/// The clock parameters a process drew, for logs, reports and the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClockDraw {
    pub(crate) ppm: i64,
    pub(crate) origin: u64,
    pub(crate) offset: i64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A uniform draw in `-max..=max`.
fn signed_below(rng: &mut DeterministicRng, max: u64) -> i64 {
    let max = max.min(i64::MAX as u64 / 2);
    let span = max.saturating_mul(2).saturating_add(1);
    rng.below(span) as i64 - max as i64
}

impl ProcessClock {
    /// True time: what the simulation's main process reads.
    pub(crate) const fn truth() -> Self {
        Self {
            ppm: 0,
            origin: 0,
            offset: 0,
            stepped_at: 0,
            next_step: u64::MAX,
            max_offset: 0,
            max_step_interval: 0,
            rng: None,
        }
    }

    /// The clock of process number `process` in a run of `seed`.
    pub(crate) fn drawn(seed: u64, process: u32, config: &ClockConfig) -> Self {
        let mut rng = DeterministicRng::new(seed, STREAM_CLOCKS ^ (u64::from(process) << 32));
        let max_ppm = u64::from(config.max_drift_ppm.min(100_000));
        let ppm = signed_below(&mut rng, max_ppm);
        // A machine booted up to an hour before the run started.
        let origin = rng.below(3_600_000_000_000);
        let max_offset = nanos(config.max_wall_offset);
        let offset = signed_below(&mut rng, max_offset);
        let max_step_interval = nanos(config.max_step_interval).max(1);
        let next_step = rng.below(max_step_interval).saturating_add(1);
        Self {
            ppm,
            origin,
            offset,
            stepped_at: 0,
            next_step,
            max_offset,
            max_step_interval,
            rng: Some(rng),
        }
    }

    /// Whether this clock is true time (the family off, or the main
    /// process).
    pub(crate) fn is_truth(&self) -> bool {
        self.rng.is_none()
    }

    /// The clock's reading at true time `g`, for a report.
    pub(crate) fn reading(&mut self, process: &str, g: u64) -> ClockReading {
        self.wall(g);
        ClockReading {
            process: process.to_string(),
            wall_offset_nanos: self.offset_at(g),
            drift_ppm: self.ppm,
        }
    }

    /// The wall clock's offset at true time `g` (no later than the next
    /// step): the last step's, drifted at the rate, held within the bound.
    fn offset_at(&self, g: u64) -> i64 {
        let since = i128::from(g.saturating_sub(self.stepped_at));
        let drifted = i128::from(self.offset) + since * i128::from(self.ppm) / 1_000_000;
        let max = i128::from(self.max_offset.min(i64::MAX as u64));
        drifted.clamp(-max, max) as i64
    }

    pub(crate) fn draw(&self) -> ClockDraw {
        ClockDraw {
            ppm: self.ppm,
            origin: self.origin,
            offset: self.offset,
        }
    }

    /// How far the clock has run at true time `g`.
    fn elapsed(&self, g: u64) -> u64 {
        let scaled = u128::from(g) * (1_000_000 + self.ppm) as u128 / 1_000_000;
        u64::try_from(scaled).unwrap_or(u64::MAX)
    }

    /// The monotonic clock at true time `g`.
    pub(crate) fn monotonic(&self, g: u64) -> u64 {
        self.origin.saturating_add(self.elapsed(g))
    }

    /// The earliest true time at which the monotonic clock reads at least
    /// `local`.
    pub(crate) fn true_time_of(&self, local: u64) -> u64 {
        let Some(run) = local.checked_sub(self.origin) else {
            return 0;
        };
        let rate = (1_000_000 + self.ppm) as u128;
        let g = (u128::from(run) * 1_000_000).div_ceil(rate);
        u64::try_from(g).unwrap_or(u64::MAX)
    }

    /// The wall clock at true time `g`, in nanoseconds since the
    /// simulation's wall epoch (saturating at zero). Steps the clock first
    /// if a step came due.
    pub(crate) fn wall(&mut self, g: u64) -> u64 {
        while g >= self.next_step {
            let Some(rng) = self.rng.as_mut() else { break };
            self.offset = signed_below(rng, self.max_offset);
            self.stepped_at = self.next_step;
            let gap = rng.below(self.max_step_interval).saturating_add(1);
            self.next_step = self.next_step.saturating_add(gap);
        }
        let offset = self.offset_at(g);
        if offset >= 0 {
            g.saturating_add(offset as u64)
        } else {
            g.saturating_sub(offset.unsigned_abs())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truth_reads_true_time() {
        let mut c = ProcessClock::truth();
        for g in [0, 1, 999, 1_000_000_007, u64::MAX / 2] {
            assert_eq!(c.monotonic(g), g);
            assert_eq!(c.true_time_of(g), g);
            assert_eq!(c.wall(g), g);
        }
    }

    #[test]
    fn draws_stay_within_their_bounds_and_differ_by_process() {
        let config = ClockConfig::default();
        let draws: Vec<ClockDraw> = (1..200)
            .map(|p| ProcessClock::drawn(7, p, &config).draw())
            .collect();
        assert!(draws.iter().all(|d| d.ppm.abs() <= 100));
        assert!(draws.iter().all(|d| d.offset.abs() <= 250_000_000));
        assert!(draws.iter().any(|d| d.ppm > 50) && draws.iter().any(|d| d.ppm < -50));
        assert!(draws.windows(2).any(|w| w[0] != w[1]));
        // A function of the seed and the process.
        assert_eq!(ProcessClock::drawn(7, 3, &config).draw(), draws[2]);
    }

    #[test]
    fn a_sleep_converted_to_true_time_never_wakes_early() {
        let config = ClockConfig {
            max_drift_ppm: 100_000,
            ..ClockConfig::default()
        };
        for p in 1..50 {
            let c = ProcessClock::drawn(11, p, &config);
            for local in [0, 1, c.origin, c.origin + 1, c.origin + 999_999_937] {
                let g = c.true_time_of(local);
                assert!(c.monotonic(g) >= local, "process {p}: {local}");
                if g > 0 {
                    assert!(c.monotonic(g - 1) < local, "process {p}: not the earliest");
                }
            }
        }
    }

    #[test]
    fn the_wall_clock_steps_the_same_however_often_it_is_read() {
        let config = ClockConfig {
            max_step_interval: Duration::from_secs(5),
            ..ClockConfig::default()
        };
        let mut often = ProcessClock::drawn(3, 1, &config);
        let mut rarely = ProcessClock::drawn(3, 1, &config);
        let second = 1_000_000_000;
        let mut offsets = Vec::new();
        for s in 0..120 {
            let w = often.wall(s * second);
            offsets.push(w as i128 - i128::from(s * second));
        }
        assert_eq!(often.wall(120 * second), rarely.wall(120 * second));
        // It stepped, and stayed in bounds.
        assert!(offsets.iter().all(|o| o.abs() <= 250_000_000));
        // It stepped (a jump larger than a second's drift), more than once.
        let steps = offsets
            .windows(2)
            .filter(|w| (w[1] - w[0]).abs() > 1_000)
            .count();
        assert!(steps > 5, "{offsets:?}");
    }

    #[test]
    fn the_wall_clock_drifts_but_never_leaves_its_bound() {
        let config = ClockConfig {
            max_drift_ppm: 100_000,
            max_step_interval: Duration::from_secs(1_000_000),
            ..ClockConfig::default()
        };
        for p in 1..20 {
            let mut c = ProcessClock::drawn(5, p, &config);
            let first = c.wall(0) as i128;
            let later = c.wall(10_000_000_000) as i128 - 10_000_000_000;
            // 10 s at up to 10 % drifts to the bound, where it is held.
            assert!(later.abs() <= 250_000_000, "{later}");
            if c.ppm.abs() > 1_000 {
                assert_ne!(first, later, "process {p} did not drift");
            }
        }
    }
}
