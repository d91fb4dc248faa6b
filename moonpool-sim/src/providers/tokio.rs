//! The production providers: tokio's clock and scheduler, and an OS-seeded
//! random generator.
//!
//! This is the one place outside the runner allowed to call tokio's timers
//! and spawner directly; the determinism lints are relaxed here on purpose.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::sync::{Arc, Mutex};

use super::random::{DeterministicRng, RandomProvider, mix64};
use super::set::Providers;
use super::task::{BoxFuture, SpawnSpec, TaskProvider};
use super::time::{Instant, TimeProvider};
use super::wall::WallTime;

/// Why the tokio providers could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// [`Providers::tokio`] was called outside a tokio runtime.
    #[error(
        "Providers::tokio() must be called from inside a tokio runtime \
         (for example in #[tokio::main] or Runtime::block_on)"
    )]
    NoTokioRuntime,
}

struct TokioTime {
    epoch: tokio::time::Instant,
}

impl TimeProvider for TokioTime {
    fn now(&self) -> Instant {
        let nanos = self.epoch.elapsed().as_nanos();
        Instant::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn wall_now(&self) -> WallTime {
        // A clock set before 1970 reads as the epoch.
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        WallTime::from_unix_millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        let at = self
            .epoch
            .checked_add(deadline.since_epoch())
            .unwrap_or_else(|| self.epoch + std::time::Duration::from_secs(86_400 * 365 * 30));
        Box::pin(tokio::time::sleep_until(at))
    }
}

struct TokioTasks {
    handle: tokio::runtime::Handle,
}

impl TaskProvider for TokioTasks {
    fn spawn_erased(&self, spec: SpawnSpec, future: BoxFuture<'static, ()>) {
        tracing::trace!(task = %spec.name, at = %spec.location, "spawn");
        drop(self.handle.spawn(future));
    }

    fn reads_names(&self) -> bool {
        // The trace line above is the only reader.
        tracing::enabled!(tracing::Level::TRACE)
    }

    fn poll_budget(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        tokio::task::coop::poll_proceed(cx).map(|spent| spent.made_progress())
    }
}

struct OsRandom {
    rng: Mutex<DeterministicRng>,
}

impl RandomProvider for OsRandom {
    fn next_u64(&self) -> u64 {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        rng.next_u64()
    }
}

fn os_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS's entropy source: exactly what a
    // production RNG wants, and exactly why simulated code must not use it.
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u64(0x6D6F_6F6E_706F_6F6C);
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    mix64(h.finish() ^ wall)
}

impl Providers {
    /// Production providers on the current tokio runtime: tokio's monotonic
    /// clock (its epoch is this call), tokio's scheduler, a PCG generator
    /// seeded from the operating system, real TCP, and files under the
    /// current directory.
    ///
    /// # Errors
    ///
    /// [`ProviderError::NoTokioRuntime`] when called outside a runtime.
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool_sim::Providers;
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// # rt.block_on(async {
    /// let p = Providers::tokio()?;
    /// let answer = p.spawn(async { 42 }).await;
    /// assert_eq!(answer, Ok(42));
    /// # Ok::<(), moonpool_sim::ProviderError>(())
    /// # }).unwrap();
    /// assert!(Providers::tokio().is_err()); // no runtime here
    /// ```
    pub fn tokio() -> Result<Providers, ProviderError> {
        Self::tokio_with_storage_root(".")
    }

    /// [`Providers::tokio`] with files kept under `root` instead of the
    /// current directory.
    ///
    /// # Errors
    ///
    /// [`ProviderError::NoTokioRuntime`] when called outside a runtime.
    pub fn tokio_with_storage_root(
        root: impl Into<std::path::PathBuf>,
    ) -> Result<Providers, ProviderError> {
        let handle =
            tokio::runtime::Handle::try_current().map_err(|_| ProviderError::NoTokioRuntime)?;
        Ok(Providers::new(
            Arc::new(TokioTime {
                epoch: tokio::time::Instant::now(),
            }),
            Arc::new(TokioTasks { handle }),
            Arc::new(OsRandom {
                rng: Mutex::new(DeterministicRng::new(os_seed(), 0)),
            }),
            Arc::new(super::net::tokio_net::TokioNetwork),
            Arc::new(super::storage::tokio_fs::TokioStorage { root: root.into() }),
        ))
    }
}
