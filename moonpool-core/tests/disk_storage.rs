//! DiskStorage on the simulated disk and on the real filesystem: any key
//! is stored, a fresh directory survives a crash, leftovers of interrupted
//! writes are removed, and one process alone uses a directory.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use moonpool_core::ActorId;
use moonpool_core::state::{DiskStorage, LOCK_FILE, StateStorage, StorageError};
use moonpool_sim::chaos::FaultConfig;
use moonpool_sim::{OpenMode, Providers, SimContext, Simulation};

fn id(type_name: &str, key: &str) -> ActorId {
    ActorId {
        type_name: type_name.to_string().into(),
        key: key.into(),
    }
}

/// Keys a user may pick: long ones, every byte, separators, one that is
/// another's prefix.
fn awkward_ids() -> Vec<ActorId> {
    let every_char: String = (1u8..=127).map(char::from).collect();
    vec![
        id("Account", "alice"),
        id("Account", &"k".repeat(114)),
        id("Account", &"k".repeat(115)),
        id("Account", &"x".repeat(10_000)),
        id("Account", &format!("{}y", "x".repeat(9_999))),
        id("Account", &every_char),
        id("Account", "../../etc/passwd"),
        id("Account", "a/b\\c:d*e?f\"g<h>i|j"),
        id("Account", "ünïcødé ✓ 🦀"),
        id("Account", ""),
        id(&"T".repeat(300), "k"),
    ]
}

async fn every_key_round_trips(store: &DiskStorage) {
    let ids = awkward_ids();
    let mut etags = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let e = store
            .write(id, format!("value {n}").into_bytes(), None)
            .await
            .unwrap_or_else(|e| panic!("{}-byte key: {e}", id.key.len()));
        etags.push(e);
    }
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(
            store.read(id).await.unwrap(),
            Some((format!("value {n}").into_bytes(), etags[n])),
            "{}-byte key",
            id.key.len()
        );
    }
    for (id, etag) in ids.iter().zip(&etags) {
        store.clear(id, Some(*etag)).await.unwrap();
        assert_eq!(store.read(id).await.unwrap(), None);
    }
}

#[moonpool::sim_test(seeds = 5, faults = "calm")]
async fn any_key_can_be_saved_in_the_simulator(sim: SimContext) {
    let store = DiskStorage::open(sim.providers(), "state").await.unwrap();
    every_key_round_trips(&store).await;
}

/// The first write into a directory that did not exist must survive a
/// crash right after it returns, however deep the directory.
#[moonpool::sim_test(seeds = 50, faults = "calm")]
async fn the_first_write_into_a_fresh_directory_survives_a_crash(sim: SimContext) {
    let pid = sim.start_process("store", |_p: Providers| std::future::pending());
    let a = id("Account", "alice");
    let store = DiskStorage::open(sim.providers_for(pid), "data/node-1/state")
        .await
        .unwrap();
    let etag = store.write(&a, b"100".to_vec(), None).await.unwrap();
    sim.kill_process(pid).unwrap();
    sim.restart_process(pid).unwrap();
    drop(store);
    let store = DiskStorage::open(sim.providers_for(pid), "data/node-1/state")
        .await
        .unwrap();
    assert_eq!(store.read(&a).await.unwrap(), Some((b"100".to_vec(), etag)));
}

/// Opening removes what interrupted writes left behind, for good: a crash
/// right after does not bring it back (the removal is made durable).
#[moonpool::sim_test(seeds = 5, faults = "calm")]
async fn opening_removes_what_interrupted_writes_left_behind(sim: SimContext) {
    let pid = sim.start_process("store", |_p: Providers| std::future::pending());
    let p = sim.providers_for(pid);
    let a = id("Account", "alice");
    {
        let store = DiskStorage::open(p.clone(), "state").await.unwrap();
        store.write(&a, b"kept".to_vec(), None).await.unwrap();
    }
    // What a crash between the temporary write and its rename leaves.
    let mut leftover = p
        .open(
            "state/4163636f756e74.616c696365.tmp-moonpool",
            OpenMode::Create,
        )
        .await
        .unwrap();
    leftover.write_at(0, b"half a record").await.unwrap();
    leftover.sync().await.unwrap();
    drop(leftover);
    p.storage().sync_dir("state").await.unwrap();

    let no_leftover = |names: Vec<String>| {
        assert!(
            names.iter().all(|n| !n.ends_with(".tmp-moonpool")),
            "{names:?}"
        );
    };
    // Slashes around the name are not part of it.
    let store = DiskStorage::open(p.clone(), "/state/").await.unwrap();
    assert_eq!(store.dir(), "state");
    no_leftover(p.storage().list("state").await.unwrap());
    assert_eq!(store.read(&a).await.unwrap().unwrap().0, b"kept");

    sim.kill_process(pid).unwrap();
    sim.restart_process(pid).unwrap();
    drop(store);
    let p = sim.providers_for(pid);
    no_leftover(p.storage().list("state").await.unwrap());
    let store = DiskStorage::open(p, "state").await.unwrap();
    assert_eq!(store.read(&a).await.unwrap().unwrap().0, b"kept");
}

#[moonpool::sim_test(seeds = 5, faults = "calm")]
async fn one_store_at_a_time_may_use_a_directory(sim: SimContext) {
    let pid = sim.start_process("store", |_p: Providers| std::future::pending());
    let p = sim.providers_for(pid);
    let first = DiskStorage::open(p.clone(), "state").await.unwrap();
    let err = DiskStorage::open(p.clone(), "state")
        .await
        .err()
        .expect("a second store on the directory");
    assert!(
        matches!(&err, StorageError::Locked { dir, .. } if dir == "state"),
        "{err}"
    );
    assert!(err.to_string().contains("in use"), "{err}");
    // A clone shares the lock; another directory is free.
    let clone = first.clone();
    drop(first);
    assert!(DiskStorage::open(p.clone(), "state").await.is_err());
    let _other = DiskStorage::open(p.clone(), "other").await.unwrap();
    drop(clone);
    let again = DiskStorage::open(p.clone(), "state").await.unwrap();
    // A crash releases it too.
    sim.kill_process(pid).unwrap();
    sim.restart_process(pid).unwrap();
    drop(again);
    DiskStorage::open(sim.providers_for(pid), "state")
        .await
        .unwrap();
}

/// A fresh directory on the real filesystem, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(std::env::temp_dir().join(format!("moonpool-disk-{}-{name}-{n}", std::process::id())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn on_tokio<F: std::future::Future>(f: impl FnOnce() -> F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f())
}

#[test]
fn any_key_can_be_saved_on_a_real_filesystem() {
    let root = TempDir::new("keys");
    on_tokio(|| async {
        let p = Providers::tokio_with_storage_root(&root.0).unwrap();
        let store = DiskStorage::open(p, "state").await.unwrap();
        every_key_round_trips(&store).await;
    });
}

#[test]
fn leftovers_are_removed_on_a_real_filesystem() {
    let root = TempDir::new("leftovers");
    let state = root.0.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("abc.def.tmp-moonpool"), b"torn").unwrap();
    std::fs::write(state.join("keep-me"), b"not ours to remove").unwrap();
    on_tokio(|| async {
        let p = Providers::tokio_with_storage_root(&root.0).unwrap();
        DiskStorage::open(p, "state").await.unwrap();
    });
    assert!(!state.join("abc.def.tmp-moonpool").exists());
    assert!(state.join("keep-me").exists());
    assert!(state.join(LOCK_FILE).exists());
}

/// Run as a child process by the test below: holds the lock on the
/// directory in `MOONPOOL_TEST_LOCK_DIR` until killed.
#[test]
#[ignore = "a helper process for another_process_is_refused_until_it_dies"]
fn hold_the_lock_until_killed() {
    let Ok(dir) = std::env::var("MOONPOOL_TEST_LOCK_DIR") else {
        return;
    };
    on_tokio(|| async {
        let p = Providers::tokio_with_storage_root(&dir).unwrap();
        let _store = DiskStorage::open(p.clone(), "state").await.unwrap();
        println!("LOCKED");
        p.sleep(Duration::from_secs(600)).await;
    });
}

fn try_open(root: &Path) -> Result<DiskStorage, StorageError> {
    on_tokio(|| async {
        let p = Providers::tokio_with_storage_root(root).unwrap();
        DiskStorage::open(p, "state").await
    })
}

#[test]
fn another_process_is_refused_until_it_dies() {
    let root = TempDir::new("lock");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "hold_the_lock_until_killed",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MOONPOOL_TEST_LOCK_DIR", &root.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let locked = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("LOCKED"));
    assert!(locked, "the child never took the lock");

    let err = try_open(&root.0)
        .err()
        .expect("refused while the child lives");
    assert!(matches!(err, StorageError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("another process"), "{err}");

    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();
    try_open(&root.0).expect("the kernel released the dead process's lock");
}

#[test]
fn a_directory_is_refused_to_a_second_store_in_the_same_process_for_real() {
    let root = TempDir::new("same-process");
    let first = try_open(&root.0).unwrap();
    assert!(matches!(
        try_open(&root.0),
        Err(StorageError::Locked { .. })
    ));
    drop(first);
    try_open(&root.0).unwrap();
}

#[test]
fn opening_a_directory_that_is_a_file_is_an_error_not_a_panic() {
    let root = TempDir::new("not-a-dir");
    std::fs::create_dir_all(&root.0).unwrap();
    std::fs::write(root.0.join("state"), b"I am a file").unwrap();
    let err = try_open(&root.0).err().expect("a file is no directory");
    assert!(
        matches!(&err, StorageError::Open { dir, .. } if dir == "state"),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("cannot open the state directory"),
        "{err}"
    );
}

#[test]
fn a_calm_simulation_replays_the_same_files() {
    let run = |seed| {
        Simulation::new(seed)
            .faults(FaultConfig::calm())
            .run(|sim| async move {
                let store = DiskStorage::open(sim.providers(), "s").await.unwrap();
                every_key_round_trips(&store).await;
                sim.providers().storage().list("s").await.unwrap()
            })
            .unwrap()
    };
    let (a, b) = (run(3), run(3));
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.output, b.output);
}
