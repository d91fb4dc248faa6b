//! [`SimTime`]: a `tracing-subscriber` timer that reads simulated time.

use std::fmt;

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

use super::stamp::format_nanos;

/// Stamps a `tracing-subscriber` formatter's lines with simulated time and
/// the process name inside a simulation, and with the system clock
/// outside one.
///
/// # Example
///
/// ```
/// use moonpool_sim::log::SimTime;
///
/// let subscriber = tracing_subscriber::fmt()
///     .with_timer(SimTime)
///     .with_test_writer()
///     .finish();
/// tracing::subscriber::with_default(subscriber, || {
///     moonpool_sim::Simulation::new(1)
///         .run(|_sim| async { tracing::info!("stamped with 0.000000s main") })
///         .unwrap();
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SimTime;

impl FormatTime for SimTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        match crate::sim::log_stamp() {
            Some((nanos, process, _)) => write!(
                w,
                "{} {}",
                format_nanos(nanos),
                process.as_deref().unwrap_or("?")
            ),
            None => tracing_subscriber::fmt::time::SystemTime.format_time(w),
        }
    }
}
