//! The simulated network's latency model and fault rates.

use std::time::Duration;

/// How the simulated network behaves. Fault rates apply only when the
/// seed's [`FaultConfig`](crate::chaos::FaultConfig) switches the family on.
///
/// # Example
///
/// ```
/// use moonpool_sim::{NetConfig, SimConfig};
/// use std::time::Duration;
///
/// let lan = NetConfig {
///     latency_min: Duration::from_micros(50),
///     latency_max: Duration::from_micros(200),
///     ..NetConfig::default()
/// };
/// let config = SimConfig { net: lan, ..SimConfig::default() };
/// # let _ = config;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    /// Smallest one-way latency of a segment.
    pub latency_min: Duration,
    /// Largest one-way latency of a segment (uniform in between). Bytes of
    /// one connection arrive in order; different connections reorder freely.
    pub latency_max: Duration,
    /// Bytes one direction of a connection holds (in flight plus unread)
    /// before the writer blocks, as a TCP window would make it.
    pub buffer_bytes: usize,
    /// How long a connect to a partitioned address waits before failing
    /// with `TimedOut`.
    pub connect_timeout: Duration,
    /// Chance that a connect is refused (`connect_failures` family).
    pub connect_failure_probability: f64,
    /// Chance, per delivered segment, that the connection is reset
    /// (`random_close` family). Both ends then see `ConnectionReset`.
    pub random_close_probability: f64,
    /// Chance, per written segment, that its link clogs (`clogging`
    /// family): traffic on that link waits until the clog clears.
    pub clog_probability: f64,
    /// Longest clog.
    pub clog_max: Duration,
    /// Chance, per delivered segment, that one bit is flipped (`bit_flips`
    /// family, off unless asked for: framing must detect it).
    pub bit_flip_probability: f64,
    /// Chance, per connection of a killed process, that its peer is not
    /// told (`half_open` family): the peer's reads hang and its writes
    /// vanish until a keep-alive-like timeout resets the connection.
    pub half_open_probability: f64,
    /// Longest time a half-open connection lingers before the reset.
    pub half_open_timeout_max: Duration,
    /// Largest extra delay a timer may fire late by (`clock_drift` family).
    pub clock_drift_max: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            latency_min: Duration::from_micros(100),
            latency_max: Duration::from_millis(2),
            buffer_bytes: 256 * 1024,
            connect_timeout: Duration::from_secs(2),
            connect_failure_probability: 0.05,
            random_close_probability: 0.0005,
            clog_probability: 0.005,
            clog_max: Duration::from_secs(2),
            bit_flip_probability: 0.01,
            half_open_probability: 0.5,
            half_open_timeout_max: Duration::from_secs(30),
            clock_drift_max: Duration::from_millis(50),
        }
    }
}
