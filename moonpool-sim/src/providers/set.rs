//! [`Providers`]: the one handle through which runtime code reaches time,
//! tasks and randomness, whether it runs on tokio or in the simulator.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use super::net::{NetListener, NetStream, NetworkProvider};
use super::random::{RandomProvider, below_with, chance_from};
use super::storage::{OpenMode, StorageFile, StorageProvider};
use super::task::{JoinHandle, SpawnSpec, TaskProvider, wrap_task};
use super::time::{Instant, TimeProvider, Timeout};
use super::wall::WallTime;

/// The provider set a piece of runtime code runs against.
///
/// It is not generic: the set is chosen once, with [`Providers::tokio`] in
/// production or by the simulation
/// ([`SimContext::providers`](crate::SimContext::providers)) in tests, and
/// the same code runs on either. Cloning is cheap (reference counts).
///
/// # Example
///
/// ```
/// use moonpool_sim::{Providers, Simulation};
/// use std::time::Duration;
///
/// async fn ping_twice(p: Providers) -> u64 {
///     let start = p.now();
///     p.sleep(Duration::from_secs(2)).await;
///     p.sleep(Duration::from_secs(3)).await;
///     (p.now() - start).as_secs()
/// }
///
/// let report = Simulation::new(7)
///     .run(|sim| async move {
///         assert_eq!(ping_twice(sim.providers()).await, 5);
///     })
///     .unwrap();
/// assert_eq!(report.sim_time.since_epoch().as_secs(), 5);
/// ```
#[derive(Clone)]
pub struct Providers {
    time: Arc<dyn TimeProvider>,
    tasks: Arc<dyn TaskProvider>,
    random: Arc<dyn RandomProvider>,
    network: Arc<dyn NetworkProvider>,
    storage: Arc<dyn StorageProvider>,
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Providers")
            .field("now", &self.time.now())
            .finish_non_exhaustive()
    }
}

impl Providers {
    /// Assembles a provider set from its parts.
    pub fn new(
        time: Arc<dyn TimeProvider>,
        tasks: Arc<dyn TaskProvider>,
        random: Arc<dyn RandomProvider>,
        network: Arc<dyn NetworkProvider>,
        storage: Arc<dyn StorageProvider>,
    ) -> Self {
        Self {
            time,
            tasks,
            random,
            network,
            storage,
        }
    }

    /// The storage provider.
    pub fn storage(&self) -> &Arc<dyn StorageProvider> {
        &self.storage
    }

    /// Opens the file at `path`.
    ///
    /// # Errors
    ///
    /// The provider's I/O error (not found, invalid path, injected fault, …).
    pub async fn open(&self, path: &str, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        self.storage.open(path, mode).await
    }

    /// Reads the whole file at `path`.
    ///
    /// # Errors
    ///
    /// The provider's I/O error.
    pub async fn read_file(&self, path: &str) -> io::Result<Vec<u8>> {
        let mut file = self.storage.open(path, OpenMode::Existing).await?;
        let len = file.size().await?;
        let len = usize::try_from(len)
            .map_err(|_| io::Error::other("file too large to read into memory"))?;
        file.read_at(0, len).await
    }

    /// Replaces the file at `path` with `data` atomically and durably: a
    /// crash at any point leaves either the old content or the new, never a
    /// mix. (Writes a temporary file, syncs it, renames it over `path`, and
    /// syncs the directory.)
    ///
    /// # Errors
    ///
    /// The provider's I/O error. On error `path` holds its old content —
    /// except when only the final directory sync failed: then it already
    /// shows the new content, which a crash may undo until the directory is
    /// synced. Sync the directory (or write again) before trusting a read.
    pub async fn write_atomically(&self, path: &str, data: &[u8]) -> io::Result<()> {
        let path = super::storage::check_path(path)?;
        let tmp = format!("{path}.tmp-moonpool");
        let mut file = self.storage.open(&tmp, OpenMode::Truncate).await?;
        file.write_at(0, data).await?;
        file.sync().await?;
        drop(file);
        self.storage.rename(&tmp, &path).await?;
        self.storage
            .sync_dir(super::storage::parent_of(&path))
            .await
    }

    /// The network provider.
    pub fn network(&self) -> &Arc<dyn NetworkProvider> {
        &self.network
    }

    /// Starts listening on `addr` (port 0 picks a free port).
    ///
    /// # Errors
    ///
    /// The provider's I/O error (address in use, not this host's address, …).
    pub async fn bind(&self, addr: SocketAddr) -> io::Result<Box<dyn NetListener>> {
        self.network.bind(addr).await
    }

    /// Opens a connection to `addr`.
    ///
    /// # Errors
    ///
    /// The provider's I/O error (refused, timed out, …).
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<NetStream> {
        self.network.connect(addr).await
    }

    /// The time provider.
    pub fn time(&self) -> &Arc<dyn TimeProvider> {
        &self.time
    }

    /// The task provider.
    pub fn tasks(&self) -> &Arc<dyn TaskProvider> {
        &self.tasks
    }

    /// The random provider.
    pub fn random(&self) -> &Arc<dyn RandomProvider> {
        &self.random
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        self.time.now()
    }

    /// The current calendar time (see [`WallTime`]).
    pub fn wall_now(&self) -> WallTime {
        self.time.wall_now()
    }

    /// Completes after `duration` has passed.
    pub fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        self.time.sleep_until(self.time.now() + duration)
    }

    /// Completes once the clock reaches `deadline`.
    pub fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static {
        self.time.sleep_until(deadline)
    }

    /// Runs `future` for at most `duration`; [`Elapsed`](crate::Elapsed) if
    /// it has not finished by then.
    pub fn timeout<F: Future>(&self, duration: Duration, future: F) -> Timeout<F> {
        let deadline = self.time.now() + duration;
        Timeout::new(future, Arc::clone(&self.time), deadline, Some(duration))
    }

    /// Runs `future` until `deadline` at the latest; [`Elapsed`](crate::Elapsed)
    /// (reporting the time that was left when it started waiting) if it has
    /// not finished by then. Reads no clock unless the future has to wait.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// moonpool_sim::Simulation::new(1).run(|sim| async move {
    ///     let p = sim.providers();
    ///     let deadline = p.now() + Duration::from_secs(1);
    ///     assert_eq!(p.timeout_at(deadline, async { 7 }).await, Ok(7));
    ///     let late = p.timeout_at(deadline, std::future::pending::<()>()).await;
    ///     assert!(late.is_err());
    ///     assert!(p.now() >= deadline); // timers may fire late, never early
    /// }).unwrap();
    /// ```
    pub fn timeout_at<F: Future>(&self, deadline: Instant, future: F) -> Timeout<F> {
        Timeout::new(future, Arc::clone(&self.time), deadline, None)
    }

    /// Spawns `future` as a new task named after its spawn location.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let location = Location::caller();
        let name = if self.tasks.reads_names() {
            format!("task@{}:{}", location.file(), location.line()).into()
        } else {
            Cow::Borrowed("task")
        };
        self.spawn_at(name, location, future)
    }

    /// Spawns `future` as a new task with a name for reports.
    #[track_caller]
    pub fn spawn_named<F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        future: F,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_at(name.into(), Location::caller(), future)
    }

    /// Spawns `future` with a name for reports and no join handle: no join
    /// state is kept, which suits long-lived tasks nobody awaits (one per
    /// actor activation, say). A panic is still reported by the simulator;
    /// under tokio it ends the task, as in any tokio task.
    ///
    /// # Example
    ///
    /// ```
    /// moonpool_sim::Simulation::new(1).run(|sim| async move {
    ///     let p = sim.providers();
    ///     let (tx, rx) = tokio::sync::oneshot::channel();
    ///     p.spawn_detached("worker", async move {
    ///         let _ = tx.send(42);
    ///     });
    ///     assert_eq!(rx.await, Ok(42));
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn spawn_detached<F>(&self, name: impl Into<Cow<'static, str>>, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let spec = SpawnSpec {
            name: name.into(),
            location: Location::caller(),
        };
        self.tasks.spawn_erased(spec, Box::pin(future));
    }

    /// [`spawn_detached`](Self::spawn_detached) for a hot path: the task
    /// is named `kind:detail` where names are read (the simulator's
    /// reports), and `kind` alone where nothing reads them (tokio without
    /// its trace log), sparing the formatting.
    ///
    /// # Example
    ///
    /// ```
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// let p = moonpool_sim::Providers::tokio().unwrap();
    /// let (tx, rx) = tokio::sync::oneshot::channel();
    /// p.spawn_detached_as("greet", "alice", async move {
    ///     let _ = tx.send("hello");
    /// });
    /// assert_eq!(rx.await.unwrap(), "hello");
    /// # });
    /// ```
    #[track_caller]
    pub fn spawn_detached_as<F>(&self, kind: &'static str, detail: impl fmt::Display, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let name = if self.tasks.reads_names() {
            Cow::Owned(format!("{kind}:{detail}"))
        } else {
            Cow::Borrowed(kind)
        };
        // Both track the caller: the task's location is our caller's.
        self.spawn_detached(name, future);
    }

    fn spawn_at<F>(
        &self,
        name: Cow<'static, str>,
        location: &'static Location<'static>,
        future: F,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (erased, handle) = wrap_task(name.clone(), future);
        self.tasks
            .spawn_erased(SpawnSpec { name, location }, erased);
        handle
    }

    /// 64 uniformly random bits.
    pub fn random_u64(&self) -> u64 {
        self.random.next_u64()
    }

    /// A uniform integer in `0..n` (0 when `n` is 0).
    pub fn random_below(&self, n: u64) -> u64 {
        below_with(n, || self.random.next_u64())
    }

    /// A uniform integer in `range` (its start when the range is empty).
    pub fn random_range(&self, range: std::ops::Range<u64>) -> u64 {
        let span = range.end.saturating_sub(range.start);
        range.start + self.random_below(span)
    }

    /// `true` with probability `p` (clamped to `[0, 1]`).
    pub fn random_bool(&self, p: f64) -> bool {
        chance_from(p, self.random.next_u64())
    }

    /// A duration drawn uniformly from `low..=high` (nanosecond grain).
    pub fn random_duration(&self, low: Duration, high: Duration) -> Duration {
        let lo = u64::try_from(low.as_nanos()).unwrap_or(u64::MAX);
        let hi = u64::try_from(high.as_nanos()).unwrap_or(u64::MAX);
        if hi <= lo {
            return low;
        }
        Duration::from_nanos(lo + self.random_below(hi - lo + 1))
    }
}
