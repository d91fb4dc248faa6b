//! Storage: the [`StorageProvider`] trait (files with explicit durability)
//! and its tokio implementation over a root directory.
//!
//! Durability is explicit, as on a real disk: a write is durable only after
//! [`StorageFile::sync`]; a create, rename or remove is durable only after
//! [`StorageProvider::sync_dir`] of the directory holding the name. The
//! simulated disk enforces exactly this on a crash (unsynced writes are lost
//! or torn, unsynced renames undone), so code that gets it right in the
//! simulator is right on the metal.

use std::io;
use std::path::{Component, Path, PathBuf};

use super::task::BoxFuture;

/// How to open a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// An existing file, for reading and writing.
    Existing,
    /// Open, creating an empty file if there is none.
    Create,
    /// Create an empty file; fail with `AlreadyExists` if there is one.
    CreateNew,
    /// Create, or empty an existing file.
    Truncate,
}

/// An open file.
pub trait StorageFile: Send + 'static {
    /// Reads up to `len` bytes at `offset` (fewer at end of file).
    fn read_at(&mut self, offset: u64, len: usize) -> BoxFuture<'_, io::Result<Vec<u8>>>;
    /// Writes `data` at `offset`, extending the file if needed.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> BoxFuture<'_, io::Result<()>>;
    /// Writes `data` at the end; returns the offset it was written at.
    fn append(&mut self, data: &[u8]) -> BoxFuture<'_, io::Result<u64>>;
    /// Makes every write so far durable.
    fn sync(&mut self) -> BoxFuture<'_, io::Result<()>>;
    /// The file's length in bytes.
    fn size(&mut self) -> BoxFuture<'_, io::Result<u64>>;
}

/// Files, as the runtime sees them. Paths are relative, `/`-separated, and
/// may not contain `..`.
///
/// Use it through [`Providers`](crate::Providers) (`open`, `read_file`,
/// `write_atomically`, …). The tokio implementation works in a root
/// directory; the simulated one gives each simulated process its own disk.
///
/// # Example
///
/// ```
/// # moonpool_sim::Simulation::new(1).run(|sim| async move {
/// use moonpool_sim::OpenMode;
///
/// let p = sim.providers();
/// let mut log = p.open("wal/log", OpenMode::Create).await?;
/// log.append(b"entry-1\n").await?;
/// log.sync().await?; // durable from here on
/// assert_eq!(p.read_file("wal/log").await?, b"entry-1\n");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap().output.unwrap();
/// ```
pub trait StorageProvider: Send + Sync + 'static {
    /// Opens `path`.
    fn open(
        &self,
        path: &str,
        mode: OpenMode,
    ) -> BoxFuture<'static, io::Result<Box<dyn StorageFile>>>;
    /// Renames `from` to `to`, replacing `to` if it exists.
    fn rename(&self, from: &str, to: &str) -> BoxFuture<'static, io::Result<()>>;
    /// Removes `path`.
    fn remove(&self, path: &str) -> BoxFuture<'static, io::Result<()>>;
    /// The names of the files directly in `dir` (`""` for the root),
    /// sorted.
    fn list(&self, dir: &str) -> BoxFuture<'static, io::Result<Vec<String>>>;
    /// Makes creates, renames and removes of names in `dir` durable —
    /// including the names of directories created in it (a directory
    /// created on the way to a file is durable only once its parent is
    /// synced). Creates `dir` if it is missing.
    fn sync_dir(&self, dir: &str) -> BoxFuture<'static, io::Result<()>>;
    /// Takes an exclusive lock on the file at `path` (created if missing),
    /// held until the returned [`StorageLock`] is dropped or the process
    /// dies: the way to make sure one process alone uses a directory.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::WouldBlock`] when another holder has it (another
    /// process, or another lock in this one); the provider's I/O error
    /// otherwise.
    fn lock(&self, path: &str) -> BoxFuture<'static, io::Result<StorageLock>>;
}

/// An exclusive lock from [`StorageProvider::lock`], released when dropped.
pub struct StorageLock {
    _held: Box<dyn Send + Sync>,
}

impl StorageLock {
    /// A lock released when `held` is dropped (for provider
    /// implementations).
    pub fn new(held: impl Send + Sync + 'static) -> Self {
        Self {
            _held: Box::new(held),
        }
    }
}

impl std::fmt::Debug for StorageLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StorageLock")
    }
}

/// Checks a storage path: relative, no `..`, no empty segments. Returns it
/// normalised (no leading `./`, no trailing `/`).
pub(crate) fn check_path(path: &str) -> io::Result<String> {
    let invalid = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid storage path {path:?}: {why}"),
        )
    };
    let p = Path::new(path);
    if path.is_empty() {
        return Err(invalid("it is empty"));
    }
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => {
                parts.push(s.to_str().ok_or_else(|| invalid("it is not UTF-8"))?)
            }
            Component::CurDir => {}
            Component::ParentDir => return Err(invalid("`..` is not allowed")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(invalid("it must be relative"));
            }
        }
    }
    if parts.is_empty() {
        return Err(invalid("it names no file"));
    }
    Ok(parts.join("/"))
}

/// Checks a directory path; `""` is the root.
pub(crate) fn check_dir(dir: &str) -> io::Result<String> {
    if dir.is_empty() || dir == "." {
        Ok(String::new())
    } else {
        check_path(dir)
    }
}

/// The directory holding `path` (`""` for the root).
pub(crate) fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

pub(crate) mod tokio_fs {
    //! Files under a root directory through `tokio::fs`.

    use std::io::SeekFrom;

    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

    use super::*;

    pub(crate) struct TokioStorage {
        pub(crate) root: PathBuf,
    }

    impl TokioStorage {
        fn full(&self, path: &str) -> io::Result<PathBuf> {
            Ok(self.root.join(check_path(path)?))
        }

        fn full_dir(&self, dir: &str) -> io::Result<PathBuf> {
            Ok(self.root.join(check_dir(dir)?))
        }
    }

    /// Creates the root directory if it is missing, durably: each missing
    /// level is created and its parent synced, so the root (the provider's
    /// "disk") survives a crash like the simulated disk, which always
    /// exists. Directories inside the root follow `sync_dir`.
    async fn ensure_root(root: &Path) -> io::Result<()> {
        if tokio::fs::metadata(root).await.is_ok() {
            return Ok(());
        }
        let mut missing = Vec::new();
        let mut at = Some(root);
        while let Some(dir) = at {
            if dir.as_os_str().is_empty() || tokio::fs::metadata(dir).await.is_ok() {
                break;
            }
            missing.push(dir.to_path_buf());
            at = dir.parent();
        }
        for dir in missing.iter().rev() {
            match tokio::fs::create_dir(dir).await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
            let parent = match dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            tokio::fs::File::open(parent).await?.sync_all().await?;
        }
        Ok(())
    }

    struct TokioFile(tokio::fs::File);

    impl StorageFile for TokioFile {
        fn read_at(&mut self, offset: u64, len: usize) -> BoxFuture<'_, io::Result<Vec<u8>>> {
            Box::pin(async move {
                self.0.seek(SeekFrom::Start(offset)).await?;
                let mut buf = Vec::with_capacity(len.min(1 << 20));
                (&mut self.0).take(len as u64).read_to_end(&mut buf).await?;
                Ok(buf)
            })
        }

        fn write_at(&mut self, offset: u64, data: &[u8]) -> BoxFuture<'_, io::Result<()>> {
            let data = data.to_vec();
            Box::pin(async move {
                self.0.seek(SeekFrom::Start(offset)).await?;
                self.0.write_all(&data).await?;
                self.0.flush().await
            })
        }

        fn append(&mut self, data: &[u8]) -> BoxFuture<'_, io::Result<u64>> {
            let data = data.to_vec();
            Box::pin(async move {
                let at = self.0.seek(SeekFrom::End(0)).await?;
                self.0.write_all(&data).await?;
                self.0.flush().await?;
                Ok(at)
            })
        }

        fn sync(&mut self) -> BoxFuture<'_, io::Result<()>> {
            Box::pin(async move { self.0.sync_all().await })
        }

        fn size(&mut self) -> BoxFuture<'_, io::Result<u64>> {
            Box::pin(async move { Ok(self.0.metadata().await?.len()) })
        }
    }

    impl StorageProvider for TokioStorage {
        fn open(
            &self,
            path: &str,
            mode: OpenMode,
        ) -> BoxFuture<'static, io::Result<Box<dyn StorageFile>>> {
            let (full, root) = (self.full(path), self.root.clone());
            Box::pin(async move {
                let full = full?;
                if mode != OpenMode::Existing
                    && let Some(parent) = full.parent()
                {
                    ensure_root(&root).await?;
                    tokio::fs::create_dir_all(parent).await?;
                }
                let mut options = tokio::fs::OpenOptions::new();
                options.read(true).write(true);
                match mode {
                    OpenMode::Existing => {}
                    OpenMode::Create => {
                        options.create(true);
                    }
                    OpenMode::CreateNew => {
                        options.create_new(true);
                    }
                    OpenMode::Truncate => {
                        options.create(true).truncate(true);
                    }
                }
                Ok(Box::new(TokioFile(options.open(full).await?)) as Box<dyn StorageFile>)
            })
        }

        fn rename(&self, from: &str, to: &str) -> BoxFuture<'static, io::Result<()>> {
            let (from, to, root) = (self.full(from), self.full(to), self.root.clone());
            Box::pin(async move {
                let to = to?;
                if let Some(parent) = to.parent() {
                    ensure_root(&root).await?;
                    tokio::fs::create_dir_all(parent).await?;
                }
                tokio::fs::rename(from?, to).await
            })
        }

        fn remove(&self, path: &str) -> BoxFuture<'static, io::Result<()>> {
            let full = self.full(path);
            Box::pin(async move { tokio::fs::remove_file(full?).await })
        }

        fn list(&self, dir: &str) -> BoxFuture<'static, io::Result<Vec<String>>> {
            let full = self.full_dir(dir);
            Box::pin(async move {
                let mut entries = match tokio::fs::read_dir(full?).await {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                };
                let mut names = Vec::new();
                while let Some(entry) = entries.next_entry().await? {
                    if entry.file_type().await?.is_file() {
                        names.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
                names.sort();
                Ok(names)
            })
        }

        fn sync_dir(&self, dir: &str) -> BoxFuture<'static, io::Result<()>> {
            let (full, root) = (self.full_dir(dir), self.root.clone());
            Box::pin(async move {
                let full = full?;
                ensure_root(&root).await?;
                tokio::fs::create_dir_all(&full).await?;
                tokio::fs::File::open(full).await?.sync_all().await
            })
        }

        fn lock(&self, path: &str) -> BoxFuture<'static, io::Result<StorageLock>> {
            let (full, root) = (self.full(path), self.root.clone());
            Box::pin(async move {
                let full = full?;
                ensure_root(&root).await?;
                if let Some(parent) = full.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                let file = tokio::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&full)
                    .await?
                    .into_std()
                    .await;
                // flock(2): exclusive against every other open of the file,
                // in this process or another; the kernel drops it when the
                // process dies.
                match file.try_lock() {
                    Ok(()) => Ok(StorageLock::new(file)),
                    Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        format!("{} is locked by another process", full.display()),
                    )),
                    Err(std::fs::TryLockError::Error(e)) => Err(e),
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_and_normalised() {
        assert_eq!(check_path("a/b").unwrap(), "a/b");
        assert_eq!(check_path("./a//b/").unwrap(), "a/b");
        for bad in ["", "/etc/passwd", "../x", "a/../../b", ".", "./"] {
            let err = check_path(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
            assert!(err.to_string().contains("invalid storage path"), "{err}");
        }
        assert_eq!(check_dir("").unwrap(), "");
        assert_eq!(parent_of("a/b/c"), "a/b");
        assert_eq!(parent_of("c"), "");
    }
}
