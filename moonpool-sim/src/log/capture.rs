//! [`capture`]: keeps the events logged while a closure runs on this
//! thread — the last few in memory, all of them in a file if asked.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};

use super::layer::SimLogLayer;
use super::sink::{ACTIVE, SINK, Sink};

/// How many of the last events a failure report prints by default.
pub const DEFAULT_LOG_LINES: usize = 40;

/// What to keep of a run's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Which events: a `tracing` filter (`info`, `debug`,
    /// `warn,moonpool_core::node=debug`, `off`).
    pub filter: String,
    /// How many of the last events to keep in memory.
    pub lines: usize,
    /// Where to write every event, if anywhere.
    pub file: Option<PathBuf>,
}

impl Default for LogConfig {
    /// Info and above; the last [`DEFAULT_LOG_LINES`]; no file.
    fn default() -> Self {
        Self {
            filter: "info".to_string(),
            lines: DEFAULT_LOG_LINES,
            file: None,
        }
    }
}

impl LogConfig {
    /// Whether this keeps anything at all.
    pub fn is_off(&self) -> bool {
        self.filter.trim().eq_ignore_ascii_case("off") || (self.lines == 0 && self.file.is_none())
    }

    /// Checks the filter's syntax.
    ///
    /// # Errors
    ///
    /// [`LogError::Filter`] naming what is wrong.
    pub fn check(&self) -> Result<(), LogError> {
        parse_filter(&self.filter).map(|_| ())
    }
}

/// Why a log could not be kept as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The filter is not a `tracing` filter.
    #[error(
        "{filter:?} is not a tracing filter (try `info`, `debug`, or `warn,my_crate=debug`): {reason}"
    )]
    Filter {
        /// The filter given.
        filter: String,
        /// What the parser said.
        reason: String,
    },
}

/// What [`capture`] kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CapturedLog {
    /// The seed the lines belong to (as given to [`capture`]).
    pub seed: u64,
    /// The filter used.
    pub filter: String,
    /// Events kept in all.
    pub total: u64,
    /// The last ones, oldest first (at most [`LogConfig::lines`]).
    pub last: Vec<String>,
    /// The file every event was written to, or why it could not be.
    pub file: Option<Result<PathBuf, String>>,
}

fn parse_filter(filter: &str) -> Result<EnvFilter, LogError> {
    EnvFilter::builder()
        .parse(filter.trim())
        .map_err(|e| LogError::Filter {
            filter: filter.to_string(),
            reason: e.to_string(),
        })
}

/// Runs `run` with this thread's `tracing` events kept as `config` says,
/// and returns its output with what was kept. Meant around one run of a
/// [`Simulation`](crate::Simulation) (`seed` names it in the log and the
/// file's first line); it installs its own subscriber on this thread for
/// the time of `run`, and changes nothing in the simulation.
///
/// # Errors
///
/// [`LogError::Filter`] when the filter cannot be parsed (nothing runs).
/// A file that cannot be written is no error: the lines are still kept in
/// memory and [`CapturedLog::file`] says why.
///
/// # Example
///
/// ```
/// use moonpool_sim::log::{LogConfig, capture};
///
/// let (report, log) = capture(3, &LogConfig::default(), || {
///     moonpool_sim::Simulation::new(3).run(|sim| async move {
///         sim.sleep(std::time::Duration::from_millis(1500)).await;
///         tracing::info!(attempt = 2, "retrying");
///     })
/// })
/// .unwrap();
/// assert!(report.is_ok());
/// assert_eq!(log.total, 1);
/// assert!(log.last[0].starts_with("    1.500000s main [main]  INFO"));
/// assert!(log.last[0].ends_with("retrying attempt=2"));
/// ```
pub fn capture<R>(
    seed: u64,
    config: &LogConfig,
    run: impl FnOnce() -> R,
) -> Result<(R, CapturedLog), LogError> {
    let filter = parse_filter(&config.filter)?;
    let mut file_error = None;
    let file = config.file.as_ref().and_then(|path| {
        let opened = File::create(path).and_then(|f| {
            let mut f = BufWriter::new(f);
            writeln!(
                f,
                "# moonpool: events of seed {seed:#x} (filter {:?}): simulated time, process [task], level, target: message fields, in spans",
                config.filter
            )?;
            Ok(f)
        });
        match opened {
            Ok(f) => Some((path.clone(), f)),
            Err(e) => {
                file_error = Some((path.clone(), e.to_string()));
                None
            }
        }
    });
    let previous = SINK.with(|sink| {
        sink.borrow_mut().replace(Sink {
            keep: config.lines,
            last: VecDeque::with_capacity(config.lines.min(4096)),
            total: 0,
            file,
            file_error,
        })
    });
    // tracing-core computes a callsite's interest from the calling
    // thread's default alone while it believes one subscriber exists: a
    // callsite first reached on another thread (another test, with no
    // subscriber) during this capture would be cached as never wanted,
    // and this capture would lose its events. A second subscriber that
    // lives for the whole process keeps it asking every subscriber.
    static SECOND: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    SECOND.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    let was_active = ACTIVE.with(|a| a.replace(true));
    let subscriber = tracing_subscriber::registry().with(SimLogLayer::new().with_filter(filter));
    let output = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tracing::subscriber::with_default(subscriber, run)
    }));
    ACTIVE.with(|a| a.set(was_active));
    let sink = SINK.with(|sink| std::mem::replace(&mut *sink.borrow_mut(), previous));
    let output = output.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let Some(mut sink) = sink else {
        return Ok((output, CapturedLog::default()));
    };
    let file = match (sink.file.take(), sink.file_error.take()) {
        (_, Some((path, e))) => Some(Err(format!("{}: {e}", path.display()))),
        (Some((path, mut f)), None) => Some(match f.flush() {
            Ok(()) => Ok(path),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }),
        (None, None) => None,
    };
    Ok((
        output,
        CapturedLog {
            seed,
            filter: config.filter.clone(),
            total: sink.total,
            last: sink.last.into(),
            file,
        },
    ))
}
