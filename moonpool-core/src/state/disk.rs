//! State in files through the storage provider: one file per actor,
//! replaced atomically (temp file, sync, rename, directory sync), so it is
//! crash-tested in the simulator.

use std::sync::Arc;

use moonpool_sim::{BoxFuture, Providers};

use super::{ETag, Record, StateStorage, StorageError};
use crate::actor::ActorId;

/// Record layout: etag (8 bytes), CRC-32 of the data (4 bytes), data.
const HEADER: usize = 12;

/// State in files under `dir` of a node's storage provider.
///
/// Each write checks the etag of the file on disk and replaces it
/// atomically, so a crash leaves the previous version or the new one, never
/// a mix, and a write whose `save` returned `Ok` survives the crash.
/// Operations on one store are serialised. After a failed write or delete
/// the directory may show a change a crash would undo (the rename happened,
/// its directory sync did not): the next operation syncs the directory
/// first, and fails rather than serve a record that is not yet durable.
#[derive(Clone)]
pub struct DiskStorage {
    providers: Providers,
    dir: String,
    /// Serialises operations; holds whether the directory may show a
    /// change that is not yet durable.
    gate: Arc<tokio::sync::Mutex<bool>>,
}

impl DiskStorage {
    /// State files under `dir` (e.g. `"state"`).
    pub fn new(providers: Providers, dir: impl Into<String>) -> Self {
        Self {
            providers,
            dir: dir.into(),
            gate: Arc::new(tokio::sync::Mutex::new(false)),
        }
    }

    fn path(&self, id: &ActorId) -> String {
        // Keys may contain anything: hex-encode both parts for a safe name.
        let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        format!("{}/{}.{}", self.dir, hex(&id.type_name), hex(&id.key))
    }
}

impl DiskStorage {
    /// Makes the directory durable if a failed operation may have left it
    /// otherwise; `unsynced` is the gate's flag.
    async fn settle(&self, unsynced: &mut bool, id: &ActorId) -> Result<(), StorageError> {
        if *unsynced {
            self.providers
                .storage()
                .sync_dir(&self.dir)
                .await
                .map_err(|e| io(id, e))?;
            *unsynced = false;
        }
        Ok(())
    }
}

fn io(id: &ActorId, e: std::io::Error) -> StorageError {
    StorageError::Io {
        actor: id.to_string(),
        reason: e.to_string(),
    }
}

/// The etag on disk, if it is `expected`; a conflict otherwise.
async fn check_etag(
    p: &Providers,
    path: &str,
    id: &ActorId,
    expected: Option<ETag>,
) -> Result<Option<ETag>, StorageError> {
    let actual = read_record(p, path, id).await?.map(|(_, e)| e);
    if actual != expected {
        return Err(StorageError::Conflict {
            actor: id.to_string(),
            expected,
            actual,
        });
    }
    Ok(actual)
}

async fn read_record(
    p: &Providers,
    path: &str,
    id: &ActorId,
) -> Result<Option<Record>, StorageError> {
    let bytes = match p.read_file(path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(id, e)),
    };
    let corrupt = |reason: &str| StorageError::Corrupt {
        actor: id.to_string(),
        reason: reason.to_string(),
    };
    if bytes.len() < HEADER {
        return Err(corrupt("record shorter than its header"));
    }
    let etag = u64::from_be_bytes(bytes[..8].try_into().map_err(|_| corrupt("bad header"))?);
    let sum = u32::from_be_bytes(bytes[8..12].try_into().map_err(|_| corrupt("bad header"))?);
    let data = bytes[HEADER..].to_vec();
    if crc32fast::hash(&data) != sum {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(Some((data, ETag(etag))))
}

impl StateStorage for DiskStorage {
    fn read(&self, id: &ActorId) -> BoxFuture<'static, Result<Option<Record>, StorageError>> {
        let (this, id) = (self.clone(), id.clone());
        Box::pin(async move {
            let mut unsynced = this.gate.lock().await;
            this.settle(&mut unsynced, &id).await?;
            read_record(&this.providers, &this.path(&id), &id).await
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
            let mut unsynced = this.gate.lock().await;
            this.settle(&mut unsynced, &id).await?;
            let path = this.path(&id);
            let actual = check_etag(&this.providers, &path, &id, expected).await?;
            let next = ETag(actual.map_or(1, |e| e.0 + 1));
            let mut record = Vec::with_capacity(HEADER + data.len());
            record.extend_from_slice(&next.0.to_be_bytes());
            record.extend_from_slice(&crc32fast::hash(&data).to_be_bytes());
            record.extend_from_slice(&data);
            if let Err(e) = this.providers.write_atomically(&path, &record).await {
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
            let mut unsynced = this.gate.lock().await;
            this.settle(&mut unsynced, &id).await?;
            let path = this.path(&id);
            let actual = check_etag(&this.providers, &path, &id, expected).await?;
            if actual.is_none() {
                return Ok(());
            }
            let p = &this.providers;
            *unsynced = true;
            p.storage().remove(&path).await.map_err(|e| io(&id, e))?;
            p.storage()
                .sync_dir(&this.dir)
                .await
                .map_err(|e| io(&id, e))?;
            *unsynced = false;
            Ok(())
        })
    }
}
