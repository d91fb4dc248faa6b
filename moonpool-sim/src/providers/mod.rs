//! The providers: the interface runtime code uses to reach the world (time,
//! tasks, randomness, network, storage), bundled as [`Providers`], and its
//! production implementation on tokio. The simulated implementation is in
//! `sim/`; this tree knows nothing of it.

pub(crate) mod net;
pub(crate) mod random;
pub(crate) mod set;
pub(crate) mod storage;
pub(crate) mod task;
pub(crate) mod time;
pub(crate) mod tokio;
pub(crate) mod wall;

pub use net::{AsyncStream, NetListener, NetReadHalf, NetStream, NetWriteHalf, NetworkProvider};
pub use random::{DeterministicRng, RandomProvider, fnv1a, mix64};
pub use set::Providers;
pub use storage::{OpenMode, StorageFile, StorageLock, StorageProvider};
pub use task::{BoxFuture, JoinError, JoinHandle, SpawnSpec, TaskProvider, YieldNow, yield_now};
pub use time::{Elapsed, Instant, TimeProvider, Timeout};
pub use tokio::ProviderError;
pub use wall::WallTime;
