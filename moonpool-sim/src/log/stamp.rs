//! How a log line is stamped.

/// Simulated nanoseconds as a log stamp: seconds with microseconds,
/// right-aligned (`    2.104311s`).
pub(crate) fn format_nanos(nanos: u64) -> String {
    let secs = nanos / 1_000_000_000;
    let micros = (nanos / 1_000) % 1_000_000;
    format!("{secs:>5}.{micros:06}s")
}
