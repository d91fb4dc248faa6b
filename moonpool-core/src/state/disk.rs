//! State in files through the storage provider: one file per actor,
//! replaced atomically (temp file, sync, rename, directory sync), so it is
//! crash-tested in the simulator.

use std::sync::Arc;

use moonpool_sim::{BoxFuture, Providers, StorageLock};

use super::record;
use super::storage::{ETag, Record, StateStorage, StorageError};
use crate::id::ActorId;

/// The lock file that keeps a second process out of a state directory.
pub const LOCK_FILE: &str = ".moonpool.lock";

/// What an interrupted atomic write leaves behind.
const TEMP_SUFFIX: &str = ".tmp-moonpool";

/// State in files under a directory of a node's storage provider.
///
/// - **Atomic, durable writes.** Each write checks the etag of the file on
///   disk and replaces the file atomically, so a crash leaves the previous
///   version or the new one, never a mix, and a write whose `save`
///   returned `Ok` survives the crash. After a failed write or delete the
///   directory may show a change a crash would undo (the rename happened,
///   its directory sync did not): the next operation syncs the directory
///   first, and fails rather than serve a record that is not yet durable.
/// - **One process per directory.** [`DiskStorage::open`] takes an
///   exclusive lock on the directory (the file [`LOCK_FILE`] in it): two
///   processes writing one directory could both pass an etag check and
///   overwrite each other, so the second is refused. Nodes of one process
///   share a store by cloning it; nodes of several processes share state
///   through a [`StorageServer`](super::StorageServer) (or a database).
/// - **Any key.** A record's file is named after the hex of its actor's
///   type and key, or, for ids too long for a file name, after their
///   SHA-256; the record names its actor, and a read checks it.
/// - **A clean start.** Opening makes the directory durable in its parent
///   (and so on up to the root: a directory created by the first write
///   would otherwise vanish in a crash, with every record in it), and
///   removes temporary files that interrupted writes left behind.
///
/// Operations on one store (and its clones) are serialised.
///
/// # Example
///
/// ```
/// use moonpool_core::state::{DiskStorage, StateStorage};
/// use moonpool_core::ActorId;
///
/// # moonpool_sim::Simulation::new(1).run(|sim| async move {
/// let store = DiskStorage::open(sim.providers(), "state").await?;
/// let id = ActorId { type_name: "Account".into(), key: "alice".into() };
/// let v1 = store.write(&id, b"10".to_vec(), None).await?;
/// assert_eq!(store.read(&id).await?, Some((b"10".to_vec(), v1)));
/// // A second store on the same directory is refused.
/// assert!(DiskStorage::open(sim.providers(), "state").await.is_err());
/// # Ok::<(), moonpool_core::state::StorageError>(())
/// # }).unwrap().output.unwrap();
/// ```
#[derive(Clone)]
pub struct DiskStorage {
    shared: Arc<Shared>,
}

struct Shared {
    providers: Providers,
    dir: String,
    /// Serialises operations; holds whether the directory may show a
    /// change that is not yet durable.
    gate: tokio::sync::Mutex<bool>,
    /// Held for as long as any clone lives.
    _lock: StorageLock,
}

impl DiskStorage {
    /// Opens (creating if needed) the state directory `dir` (relative to
    /// the providers' storage root, e.g. `"state"`; `""` is the root
    /// itself), for this process alone.
    ///
    /// # Errors
    ///
    /// [`StorageError::Locked`] when another process (or another store in
    /// this one) has the directory open; [`StorageError::Open`] when it
    /// cannot be created, made durable or cleaned.
    pub async fn open(providers: Providers, dir: impl Into<String>) -> Result<Self, StorageError> {
        let dir = dir.into().trim_matches('/').to_string();
        let io = |e: std::io::Error| StorageError::Open {
            dir: dir.clone(),
            reason: e.to_string(),
        };
        let lock_path = join(&dir, LOCK_FILE);
        let lock = match providers.storage().lock(&lock_path).await {
            Ok(lock) => lock,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(StorageError::Locked {
                    dir: dir.clone(),
                    reason: format!(
                        "its lock file {lock_path} is held by another process or store; \
                         one process at a time may use a state directory"
                    ),
                });
            }
            Err(e) => return Err(io(e)),
        };
        // The directory and each one above it, made durable in its parent.
        let storage = providers.storage();
        let mut at = dir.as_str();
        loop {
            storage.sync_dir(at).await.map_err(io)?;
            if at.is_empty() {
                break;
            }
            at = at.rsplit_once('/').map_or("", |(parent, _)| parent);
        }
        // Interrupted atomic writes: their temporary files hold nothing
        // anyone acknowledged.
        let names = storage.list(&dir).await.map_err(io)?;
        let leftovers: Vec<String> = names
            .into_iter()
            .filter(|name| name.ends_with(TEMP_SUFFIX))
            .collect();
        for name in &leftovers {
            storage.remove(&join(&dir, name)).await.map_err(io)?;
        }
        if !leftovers.is_empty() {
            // Made durable, so that a crash does not bring them back.
            storage.sync_dir(&dir).await.map_err(io)?;
            let removed = leftovers.len();
            tracing::info!(dir = %dir, removed, "removed temporary files of interrupted writes");
        }
        Ok(Self {
            shared: Arc::new(Shared {
                providers,
                dir,
                gate: tokio::sync::Mutex::new(false),
                _lock: lock,
            }),
        })
    }

    /// The directory this store keeps its records in.
    pub fn dir(&self) -> &str {
        &self.shared.dir
    }

    fn path(&self, id: &ActorId) -> String {
        join(&self.shared.dir, &record::file_name(id))
    }

    /// Makes the directory durable if a failed operation may have left it
    /// otherwise; `unsynced` is the gate's flag.
    async fn settle(&self, unsynced: &mut bool, id: &ActorId) -> Result<(), StorageError> {
        if *unsynced {
            self.shared
                .providers
                .storage()
                .sync_dir(&self.shared.dir)
                .await
                .map_err(|e| io(id, e))?;
            *unsynced = false;
        }
        Ok(())
    }

    async fn read_record(&self, path: &str, id: &ActorId) -> Result<Option<Record>, StorageError> {
        let bytes = match self.shared.providers.read_file(path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(id, e)),
        };
        record::decode(id, &bytes).map(Some)
    }

    /// The etag on disk, if it is `expected`; a conflict otherwise.
    async fn check_etag(
        &self,
        path: &str,
        id: &ActorId,
        expected: Option<ETag>,
    ) -> Result<Option<ETag>, StorageError> {
        let actual = self.read_record(path, id).await?.map(|(_, e)| e);
        if actual != expected {
            return Err(StorageError::conflict(id, expected, actual));
        }
        Ok(actual)
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn io(id: &ActorId, e: std::io::Error) -> StorageError {
    StorageError::io(id, e)
}

impl StateStorage for DiskStorage {
    fn read(&self, id: &ActorId) -> BoxFuture<'static, Result<Option<Record>, StorageError>> {
        let (this, id) = (self.clone(), id.clone());
        Box::pin(async move {
            let mut unsynced = this.shared.gate.lock().await;
            this.settle(&mut unsynced, &id).await?;
            this.read_record(&this.path(&id), &id).await
        })
    }

    fn write(
        &self,
        id: &ActorId,
        data: Vec<u8>,
        expected: Option<ETag>,
    ) -> BoxFuture<'static, Result<ETag, StorageError>> {
        let (this, id) = (self.clone(), id.clone());
        Box::pin(async move {
            let mut unsynced = this.shared.gate.lock().await;
            this.settle(&mut unsynced, &id).await?;
            let path = this.path(&id);
            let actual = this.check_etag(&path, &id, expected).await?;
            // A record's first etag is drawn at random, so one cleared and
            // created again never hands out an etag of its earlier life (a
            // writer still holding one must conflict, not overwrite).
            let next = match actual {
                Some(e) => ETag(e.0.wrapping_add(1)),
                None => ETag(this.shared.providers.random_u64()),
            };
            let bytes = record::encode(&id, next, &data)?;
            if let Err(e) = this.shared.providers.write_atomically(&path, &bytes).await {
                *unsynced = true;
                return Err(io(&id, e));
            }
            Ok(next)
        })
    }

    fn clear(
        &self,
        id: &ActorId,
        expected: Option<ETag>,
    ) -> BoxFuture<'static, Result<(), StorageError>> {
        let (this, id) = (self.clone(), id.clone());
        Box::pin(async move {
            let mut unsynced = this.shared.gate.lock().await;
            this.settle(&mut unsynced, &id).await?;
            let path = this.path(&id);
            let actual = this.check_etag(&path, &id, expected).await?;
            if actual.is_none() {
                return Ok(());
            }
            let storage = this.shared.providers.storage();
            *unsynced = true;
            storage.remove(&path).await.map_err(|e| io(&id, e))?;
            storage
                .sync_dir(&this.shared.dir)
                .await
                .map_err(|e| io(&id, e))?;
            *unsynced = false;
            Ok(())
        })
    }
}
