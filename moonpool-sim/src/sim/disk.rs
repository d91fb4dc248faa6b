//! The simulated disk: one per process, with crash semantics. Writes live in
//! a page cache until `sync`; names change in a directory cache until
//! `sync_dir`. A directory is a name in its parent too: created on the way
//! (by creating a file under it), it survives a crash only once its parent
//! was synced, and whatever is under a directory that did not survive is
//! gone with it. A crash keeps what was made durable, plus a random prefix
//! of what was not (the last piece of it possibly torn), and releases the
//! process's file locks.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::time::Duration;

use crate::providers::random::DeterministicRng;
use crate::providers::storage::{OpenMode, parent_of};

/// How the simulated disks behave.
///
/// # Example
///
/// ```
/// use moonpool::{DiskConfig, SimConfig};
/// use std::time::Duration;
///
/// let slow = DiskConfig { sync_latency_max: Duration::from_millis(50), ..DiskConfig::default() };
/// let config = SimConfig { disk: slow, ..SimConfig::default() };
/// # let _ = config;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct DiskConfig {
    /// Longest latency of a read, write or directory operation (uniform from
    /// zero).
    pub io_latency_max: Duration,
    /// Longest latency of a `sync` or `sync_dir`.
    pub sync_latency_max: Duration,
    /// Chance that an operation fails with an I/O error (`disk_errors`
    /// family). A failed write or sync changes nothing.
    pub error_probability: f64,
}

impl Default for DiskConfig {
    fn default() -> Self {
        Self {
            io_latency_max: Duration::from_micros(200),
            sync_latency_max: Duration::from_millis(5),
            error_probability: 0.01,
        }
    }
}

pub(super) enum Op {
    Write(u64, Vec<u8>),
    Truncate,
}

#[derive(Default)]
pub(super) struct Inode {
    pub(super) data: Vec<u8>,
    pub(super) durable: Vec<u8>,
    /// Operations since the last sync, in order.
    pub(super) pending: Vec<Op>,
}

pub(super) fn apply(data: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Truncate => data.clear(),
        Op::Write(offset, bytes) => {
            let at = *offset as usize;
            if data.len() < at + bytes.len() {
                data.resize(at + bytes.len(), 0);
            }
            data[at..at + bytes.len()].copy_from_slice(bytes);
        }
    }
}

/// One process's disk.
#[derive(Default)]
pub(crate) struct Disk {
    pub(super) names: BTreeMap<String, u64>,
    pub(super) durable_names: BTreeMap<String, u64>,
    /// Directories (the root, `""`, always exists and is not listed).
    pub(super) dirs: BTreeSet<String>,
    pub(super) durable_dirs: BTreeSet<String>,
    pub(super) inodes: BTreeMap<u64, Inode>,
    pub(super) next_inode: u64,
    /// Locked paths and the id of the lock that holds each.
    pub(super) locks: BTreeMap<String, u64>,
    pub(super) next_lock: u64,
}

/// `path`'s ancestors, innermost first, without the root.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(parent_of(path)), |d| Some(parent_of(d)))
        .take_while(|d| !d.is_empty())
}

pub(super) fn not_found(path: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no such file: {path}"))
}

impl Disk {
    pub(super) fn open(&mut self, path: &str, mode: OpenMode) -> io::Result<u64> {
        match (self.names.get(path).copied(), mode) {
            (Some(_), OpenMode::CreateNew) => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("file exists: {path}"),
            )),
            (Some(ino), OpenMode::Truncate) => {
                if let Some(inode) = self.inodes.get_mut(&ino) {
                    inode.data.clear();
                    inode.pending.push(Op::Truncate);
                }
                Ok(ino)
            }
            (Some(ino), _) => Ok(ino),
            (None, OpenMode::Existing) => Err(not_found(path)),
            (None, _) => {
                self.next_inode += 1;
                let ino = self.next_inode;
                self.inodes.insert(ino, Inode::default());
                self.create_dirs_of(path);
                self.names.insert(path.to_string(), ino);
                Ok(ino)
            }
        }
    }

    /// Creates the directories holding `path` (as `create_dir_all` would).
    pub(super) fn create_dirs_of(&mut self, path: &str) {
        for dir in ancestors(path) {
            if !self.dirs.insert(dir.to_string()) {
                break;
            }
        }
    }

    /// Creates directory `dir` and those holding it.
    pub(super) fn create_dir(&mut self, dir: &str) {
        if !dir.is_empty() && self.dirs.insert(dir.to_string()) {
            self.create_dirs_of(dir);
        }
    }

    /// Takes the lock on `path`, creating the file (and its directories)
    /// if missing.
    pub(super) fn lock(&mut self, path: &str) -> io::Result<u64> {
        if self.locks.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{path} is locked by another holder"),
            ));
        }
        self.open(path, OpenMode::Create)?;
        self.next_lock += 1;
        self.locks.insert(path.to_string(), self.next_lock);
        Ok(self.next_lock)
    }

    pub(super) fn unlock(&mut self, path: &str, id: u64) {
        if self.locks.get(path) == Some(&id) {
            self.locks.remove(path);
        }
    }

    pub(super) fn inode(&mut self, ino: u64) -> io::Result<&mut Inode> {
        self.inodes
            .get_mut(&ino)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the file was removed"))
    }

    /// A crash: durable state plus a random prefix of pending operations,
    /// the last of them possibly torn; names as of the last `sync_dir`.
    pub(crate) fn crash(&mut self, rng: &mut DeterministicRng) {
        for inode in self.inodes.values_mut() {
            let mut survived = std::mem::take(&mut inode.durable);
            let pending = std::mem::take(&mut inode.pending);
            let kept = rng.below(pending.len() as u64 + 1) as usize;
            for op in &pending[..kept] {
                apply(&mut survived, op);
            }
            if let Some(Op::Write(offset, bytes)) = pending.get(kept)
                && !bytes.is_empty()
                && rng.chance(0.5)
            {
                let torn = rng.below(bytes.len() as u64) as usize;
                apply(&mut survived, &Op::Write(*offset, bytes[..torn].to_vec()));
            }
            inode.data = survived.clone();
            inode.durable = survived;
        }
        // A directory survives if its own name and its parent's did; a
        // name survives if its directory did.
        let durable_dirs = std::mem::take(&mut self.durable_dirs);
        let survives = |path: &str| ancestors(path).all(|d| durable_dirs.contains(d));
        self.dirs = durable_dirs
            .iter()
            .filter(|d| survives(d))
            .cloned()
            .collect();
        self.durable_dirs = self.dirs.clone();
        self.durable_names.retain(|name, _| survives(name));
        self.names = self.durable_names.clone();
        let live: BTreeSet<u64> = self.names.values().copied().collect();
        self.inodes.retain(|ino, _| live.contains(ino));
        self.locks.clear();
    }

    pub(super) fn sync_dir(&mut self, dir: &str) {
        self.create_dir(dir);
        self.durable_names.retain(|name, _| parent_of(name) != dir);
        for (name, ino) in &self.names {
            if parent_of(name) == dir {
                self.durable_names.insert(name.clone(), *ino);
            }
        }
        for sub in &self.dirs {
            if parent_of(sub) == dir {
                self.durable_dirs.insert(sub.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn write(disk: &mut Disk, path: &str, bytes: &[u8], sync: bool) {
        let ino = disk.open(path, OpenMode::Create).unwrap();
        let inode = disk.inode(ino).unwrap();
        let op = Op::Write(inode.data.len() as u64, bytes.to_vec());
        apply(&mut inode.data, &op);
        inode.pending.push(op);
        if sync {
            inode.durable = inode.data.clone();
            inode.pending.clear();
        }
    }

    #[test]
    pub(super) fn a_crash_keeps_synced_data_and_a_prefix_of_the_rest() {
        let mut outcomes = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let mut disk = Disk::default();
            write(&mut disk, "f", b"durable|", true);
            disk.sync_dir("");
            write(&mut disk, "f", b"one|", false);
            write(&mut disk, "f", b"two|", false);
            disk.crash(&mut DeterministicRng::new(seed, 0));
            let ino = disk.names["f"];
            let data = String::from_utf8(disk.inodes[&ino].data.clone()).unwrap();
            assert!(data.starts_with("durable|"), "{data}");
            assert!(
                "durable|one|two|".starts_with(&data),
                "not a prefix: {data}"
            );
            outcomes.insert(data);
        }
        // Lost, kept, and torn variants all occur.
        assert!(outcomes.contains("durable|"));
        assert!(outcomes.contains("durable|one|two|"));
        assert!(outcomes.len() > 4, "{outcomes:?}");
    }

    #[test]
    pub(super) fn names_survive_only_after_sync_dir() {
        let mut disk = Disk::default();
        write(&mut disk, "a", b"x", true);
        disk.crash(&mut DeterministicRng::new(1, 0));
        assert!(disk.names.is_empty(), "an unsynced create survived");
        write(&mut disk, "a", b"x", true);
        disk.sync_dir("");
        let ino = disk.names["a"];
        disk.names.remove("a");
        disk.names.insert("b".into(), ino);
        disk.crash(&mut DeterministicRng::new(1, 0));
        assert_eq!(
            disk.names.keys().collect::<Vec<_>>(),
            ["a"],
            "an unsynced rename survived"
        );
    }

    #[test]
    pub(super) fn a_new_directory_survives_only_once_its_parent_is_synced() {
        let mut disk = Disk::default();
        // File and its own directory synced; the directory's name in its
        // parent never was: a crash takes all of it.
        write(&mut disk, "data/state/f", b"x", true);
        disk.sync_dir("data/state");
        disk.crash(&mut DeterministicRng::new(1, 0));
        assert!(disk.names.is_empty(), "{:?}", disk.names);
        assert!(disk.dirs.is_empty(), "{:?}", disk.dirs);

        // Syncing the chain up to the root makes it durable.
        write(&mut disk, "data/state/f", b"x", true);
        disk.sync_dir("data/state");
        disk.sync_dir("data");
        disk.crash(&mut DeterministicRng::new(1, 0));
        assert!(disk.names.is_empty(), "`data` itself was never synced");
        write(&mut disk, "data/state/f", b"x", true);
        disk.sync_dir("data/state");
        disk.sync_dir("data");
        disk.sync_dir("");
        disk.crash(&mut DeterministicRng::new(1, 0));
        assert_eq!(disk.names.keys().collect::<Vec<_>>(), ["data/state/f"]);
        // Once durable, a directory stays so: new files only need their own
        // directory synced.
        write(&mut disk, "data/state/g", b"y", true);
        disk.sync_dir("data/state");
        disk.crash(&mut DeterministicRng::new(2, 0));
        assert_eq!(disk.names.len(), 2);
    }

    #[test]
    pub(super) fn a_lock_is_exclusive_until_released_or_crashed() {
        let mut disk = Disk::default();
        let first = disk.lock("d/LOCK").unwrap();
        let err = disk.lock("d/LOCK").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        disk.unlock("d/LOCK", first + 100); // someone else's id: no effect
        assert!(disk.lock("d/LOCK").is_err());
        disk.unlock("d/LOCK", first);
        let second = disk.lock("d/LOCK").unwrap();
        assert_ne!(first, second);
        disk.crash(&mut DeterministicRng::new(1, 0));
        assert!(disk.lock("d/LOCK").is_ok(), "a crash releases its locks");
    }
}
