//! The simulated storage provider: file operations of a process on its
//! simulated disk (`disk.rs`), with latency, faults, and crash semantics.

use std::io;

use super::config::ProcessId;
use super::disk::{Disk, Op, apply, not_found};
use super::sleep::SimSleep;
use super::world::{World, try_with_world, with_world};
use crate::providers::storage::{
    OpenMode, StorageFile, StorageLock, StorageProvider, check_dir, check_path, parent_of,
};
use crate::providers::task::BoxFuture;

impl World {
    /// Applies a crash to `process`'s disk, or erases it.
    pub(crate) fn crash_disk(&self, process: ProcessId, wipe: bool) {
        let mut disks = self.disks.borrow_mut();
        if wipe {
            disks.remove(&process);
        } else if let Some(disk) = disks.get_mut(&process) {
            disk.crash(&mut self.chaos.rng.borrow_mut());
        }
    }
}

/// The simulated storage provider of a process (or of whichever task uses
/// it, when `process` is `None`).
pub(crate) struct SimStorage {
    pub(crate) world_id: u64,
    pub(crate) process: Option<ProcessId>,
}

#[derive(Clone, Copy)]
enum Latency {
    Io,
    Sync,
}

/// Which disk an operation acts on: the process and its incarnation.
#[derive(Clone, Copy)]
struct Target {
    world_id: u64,
    process: ProcessId,
    incarnation: u32,
}

impl Target {
    fn resolve(world_id: u64, pinned: Option<ProcessId>) -> io::Result<Self> {
        with_world(world_id, |w| {
            let process = pinned.unwrap_or_else(|| w.current_process());
            let incarnation = w
                .processes
                .borrow()
                .get(process.0 as usize)
                .filter(|p| p.alive)
                .map(|p| p.incarnation)
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotConnected,
                        "the simulated process is not running",
                    )
                })?;
            Ok(Self {
                world_id,
                process,
                incarnation,
            })
        })
    }

    /// Waits the operation's latency, then runs `f` on the disk unless the
    /// process died meanwhile or the fault stream injects an error.
    async fn run<R>(
        self,
        latency: Latency,
        f: impl FnOnce(&mut Disk) -> io::Result<R>,
    ) -> io::Result<R> {
        let wait = with_world(self.world_id, |w| {
            let config = &w.config.disk;
            let max = match latency {
                Latency::Io => config.io_latency_max,
                Latency::Sync => config.sync_latency_max,
            };
            w.chaos.rng.borrow_mut().below(
                u64::try_from(max.as_nanos())
                    .unwrap_or(u64::MAX)
                    .saturating_add(1),
            )
        });
        SimSleep::after(self.world_id, wait).await;
        with_world(self.world_id, |w| {
            let alive = w
                .processes
                .borrow()
                .get(self.process.0 as usize)
                .is_some_and(|p| p.alive && p.incarnation == self.incarnation);
            if !alive {
                return Err(io::Error::other("stale file handle: the process restarted"));
            }
            if w.chaos.faults.disk_errors
                && w.chaos
                    .rng
                    .borrow_mut()
                    .chance(w.disk_error_probability.get())
            {
                return Err(io::Error::other("injected disk I/O error"));
            }
            let mut disks = w.disks.borrow_mut();
            f(disks.entry(self.process).or_default())
        })
    }
}

struct SimFile {
    target: Target,
    inode: u64,
}

impl StorageFile for SimFile {
    fn read_at(&mut self, offset: u64, len: usize) -> BoxFuture<'_, io::Result<Vec<u8>>> {
        let ino = self.inode;
        Box::pin(self.target.run(Latency::Io, move |disk| {
            let data = &disk.inode(ino)?.data;
            let start = (offset as usize).min(data.len());
            let end = start.saturating_add(len).min(data.len());
            Ok(data[start..end].to_vec())
        }))
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> BoxFuture<'_, io::Result<()>> {
        let (ino, data) = (self.inode, data.to_vec());
        Box::pin(self.target.run(Latency::Io, move |disk| {
            let inode = disk.inode(ino)?;
            let op = Op::Write(offset, data);
            apply(&mut inode.data, &op);
            inode.pending.push(op);
            Ok(())
        }))
    }

    fn append(&mut self, data: &[u8]) -> BoxFuture<'_, io::Result<u64>> {
        let (ino, data) = (self.inode, data.to_vec());
        Box::pin(self.target.run(Latency::Io, move |disk| {
            let inode = disk.inode(ino)?;
            let at = inode.data.len() as u64;
            let op = Op::Write(at, data);
            apply(&mut inode.data, &op);
            inode.pending.push(op);
            Ok(at)
        }))
    }

    fn sync(&mut self) -> BoxFuture<'_, io::Result<()>> {
        let ino = self.inode;
        Box::pin(self.target.run(Latency::Sync, move |disk| {
            let inode = disk.inode(ino)?;
            inode.durable = inode.data.clone();
            inode.pending.clear();
            Ok(())
        }))
    }

    fn size(&mut self) -> BoxFuture<'_, io::Result<u64>> {
        let ino = self.inode;
        Box::pin(self.target.run(Latency::Io, move |disk| {
            Ok(disk.inode(ino)?.data.len() as u64)
        }))
    }
}

impl StorageProvider for SimStorage {
    fn open(
        &self,
        path: &str,
        mode: OpenMode,
    ) -> BoxFuture<'static, io::Result<Box<dyn StorageFile>>> {
        let (world_id, pinned, path) = (self.world_id, self.process, check_path(path));
        Box::pin(async move {
            let (path, target) = (path?, Target::resolve(world_id, pinned)?);
            let inode = target
                .run(Latency::Io, move |disk| disk.open(&path, mode))
                .await?;
            Ok(Box::new(SimFile { target, inode }) as Box<dyn StorageFile>)
        })
    }

    fn rename(&self, from: &str, to: &str) -> BoxFuture<'static, io::Result<()>> {
        let (world_id, pinned) = (self.world_id, self.process);
        let (from, to) = (check_path(from), check_path(to));
        Box::pin(async move {
            let (from, to, target) = (from?, to?, Target::resolve(world_id, pinned)?);
            target
                .run(Latency::Io, move |disk| {
                    let ino = disk.names.remove(&from).ok_or_else(|| not_found(&from))?;
                    disk.create_dirs_of(&to);
                    disk.names.insert(to, ino);
                    Ok(())
                })
                .await
        })
    }

    fn remove(&self, path: &str) -> BoxFuture<'static, io::Result<()>> {
        let (world_id, pinned, path) = (self.world_id, self.process, check_path(path));
        Box::pin(async move {
            let (path, target) = (path?, Target::resolve(world_id, pinned)?);
            target
                .run(Latency::Io, move |disk| {
                    disk.names
                        .remove(&path)
                        .map(|_| ())
                        .ok_or_else(|| not_found(&path))
                })
                .await
        })
    }

    fn list(&self, dir: &str) -> BoxFuture<'static, io::Result<Vec<String>>> {
        let (world_id, pinned, dir) = (self.world_id, self.process, check_dir(dir));
        Box::pin(async move {
            let (dir, target) = (dir?, Target::resolve(world_id, pinned)?);
            target
                .run(Latency::Io, move |disk| {
                    Ok(disk
                        .names
                        .keys()
                        .filter(|n| parent_of(n) == dir)
                        .map(|n| n.rsplit('/').next().unwrap_or(n).to_string())
                        .collect())
                })
                .await
        })
    }

    fn sync_dir(&self, dir: &str) -> BoxFuture<'static, io::Result<()>> {
        let (world_id, pinned, dir) = (self.world_id, self.process, check_dir(dir));
        Box::pin(async move {
            let (dir, target) = (dir?, Target::resolve(world_id, pinned)?);
            target
                .run(Latency::Sync, move |disk| {
                    disk.sync_dir(&dir);
                    Ok(())
                })
                .await
        })
    }

    fn lock(&self, path: &str) -> BoxFuture<'static, io::Result<StorageLock>> {
        let (world_id, pinned, path) = (self.world_id, self.process, check_path(path));
        Box::pin(async move {
            let (path, target) = (path?, Target::resolve(world_id, pinned)?);
            let held = path.clone();
            let id = target
                .run(Latency::Io, move |disk| disk.lock(&held))
                .await?;
            Ok(StorageLock::new(SimLock {
                world_id,
                process: target.process,
                path,
                id,
            }))
        })
    }
}

/// A lock on a simulated disk: released when dropped (or when its process
/// crashes, which clears the disk's locks).
struct SimLock {
    world_id: u64,
    process: ProcessId,
    path: String,
    id: u64,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        // Outside its simulation (dropped after the run) there is nothing
        // left to release.
        try_with_world(self.world_id, |w| {
            if let Ok(mut disks) = w.disks.try_borrow_mut()
                && let Some(disk) = disks.get_mut(&self.process)
            {
                disk.unlock(&self.path, self.id);
            }
        });
    }
}
