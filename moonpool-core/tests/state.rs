//! Persisted state: etags refuse lost updates, disk state survives crashes
//! (acknowledged writes stay, unacknowledged never appear half-done), and
//! state follows an actor to its next activation.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Account, Balance, Deposit};
use moonpool_core::state::{
    DiskStorage, ETag, InMemoryStorage, Persisted, StateStorage, StorageError,
};
use moonpool_core::{ActorId, Node};
use moonpool_sim::chaos::FaultConfig;
use moonpool_sim::{Providers, SimContext, Simulation};
use tokio::sync::mpsc;

fn id(key: &str) -> ActorId {
    ActorId {
        type_name: "Account".into(),
        key: key.into(),
    }
}

async fn etags_refuse_stale_writers(store: Arc<dyn StateStorage>) {
    let a = id("a/with:odd key");
    assert_eq!(store.read(&a).await.unwrap(), None);
    let v1 = store.write(&a, b"one".to_vec(), None).await.unwrap();
    let err = store.write(&a, b"lost".to_vec(), None).await.unwrap_err();
    assert_eq!(
        err,
        StorageError::Conflict {
            actor: a.to_string(),
            expected: None,
            actual: Some(v1)
        }
    );
    let v2 = store.write(&a, b"two".to_vec(), Some(v1)).await.unwrap();
    assert_ne!(v1, v2);
    assert!(store.write(&a, b"stale".to_vec(), Some(v1)).await.is_err());
    assert_eq!(store.read(&a).await.unwrap(), Some((b"two".to_vec(), v2)));
    assert!(store.clear(&a, Some(ETag(999))).await.is_err());
    store.clear(&a, Some(v2)).await.unwrap();
    assert_eq!(store.read(&a).await.unwrap(), None);
}

#[test]
fn both_backends_refuse_stale_writers() {
    Simulation::new(1)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            etags_refuse_stale_writers(Arc::new(InMemoryStorage::new())).await;
            let disk = DiskStorage::open(sim.providers(), "state").await.unwrap();
            etags_refuse_stale_writers(Arc::new(disk)).await;
        })
        .unwrap();
}

/// What a `Persisted` handle reports: its etag is the stored version after
/// each load and save, and `clear` deletes the record and resets the value.
async fn a_handle_tracks_its_record(store: Arc<dyn StateStorage>) {
    let a = id("handle");
    let mut p = Persisted::<u64>::load_from(a.clone(), Arc::clone(&store))
        .await
        .unwrap();
    assert_eq!((*p, p.etag()), (0, None), "nothing stored yet");
    *p = 7;
    p.save().await.unwrap();
    let stored = store.read(&a).await.unwrap().map(|(_, etag)| etag);
    assert!(stored.is_some());
    assert_eq!(p.etag(), stored, "the etag is the stored version");
    *p = 8;
    p.save().await.unwrap();
    let again = store.read(&a).await.unwrap().map(|(_, etag)| etag);
    assert_ne!(again, stored);
    assert_eq!(p.etag(), again, "each save moves the etag");
    let seen = Persisted::<u64>::load_from(a.clone(), Arc::clone(&store))
        .await
        .unwrap();
    assert_eq!(
        (*seen, seen.etag()),
        (8, again),
        "a load reports the stored etag"
    );

    p.clear().await.unwrap();
    assert_eq!(
        (*p, p.etag()),
        (0, None),
        "cleared: the default, nothing stored"
    );
    assert_eq!(store.read(&a).await.unwrap(), None, "the record is gone");
    let fresh = Persisted::<u64>::load_from(a.clone(), Arc::clone(&store))
        .await
        .unwrap();
    assert_eq!((*fresh, fresh.etag()), (0, None));
    // A second clear has nothing to delete and succeeds; a save after a
    // clear writes a new record.
    p.clear().await.unwrap();
    *p = 9;
    p.save().await.unwrap();
    let after = Persisted::<u64>::load_from(a.clone(), Arc::clone(&store))
        .await
        .unwrap();
    assert_eq!((*after, after.etag()), (9, p.etag()));
    // The handle read before the clear is stale: its clear is refused and
    // leaves the record alone.
    let mut stale = seen;
    assert!(matches!(
        stale.clear().await,
        Err(StorageError::Conflict { .. })
    ));
    assert!(store.read(&a).await.unwrap().is_some());
}

#[test]
fn a_persisted_handle_reports_its_etag_and_clears_its_record() {
    Simulation::new(1)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            a_handle_tracks_its_record(Arc::new(InMemoryStorage::new())).await;
            let disk = DiskStorage::open(sim.providers(), "state").await.unwrap();
            a_handle_tracks_its_record(Arc::new(disk)).await;
        })
        .unwrap();
}

/// A one-node process hosting `Account` with its state on its own disk.
fn start_bank(
    sim: &moonpool_sim::SimContext,
    tx: mpsc::UnboundedSender<Node>,
) -> moonpool_sim::ProcessId {
    sim.start_process("bank", move |p: Providers| {
        let tx = tx.clone();
        async move {
            let node = Node::builder("bank")
                .listen(SocketAddr::new([0, 0, 0, 0].into(), 7000))
                .providers(p.clone())
                .storage(DiskStorage::open(p, "state").await.expect("state opens"))
                .host::<Account>()
                .build()
                .await
                .expect("node starts");
            let _ = tx.send(node.clone());
            std::future::pending::<()>().await;
            drop(node);
        }
    })
}

/// Opens the state directory through a disk that fails now and then.
async fn open_retrying(p: &Providers) -> DiskStorage {
    for _ in 0..100 {
        if let Ok(store) = DiskStorage::open(p.clone(), "state").await {
            return store;
        }
    }
    panic!("the state directory never opened")
}

/// Acknowledged state survives a crash (a module of its own: its coverage
/// claim).
mod crashes {
    use super::*;

    #[moonpool::sim_test(seeds = 80, faults = "calm", coverage = "strict", coverage_of = ["state::crashes"])]
    async fn disk_state_survives_crashes_and_never_shows_unacknowledged_writes(sim: SimContext) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let pid = start_bank(&sim, tx);
        let node = rx.recv().await.unwrap();
        let acct = node.actor::<Account>("alice");
        let p = sim.providers();
        let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = Arc::clone(&acked);
        p.spawn(async move {
            while let Ok(Ok(balance)) = acct.call(Deposit(1)).await {
                seen.store(balance, std::sync::atomic::Ordering::SeqCst);
            }
        });
        sim.sleep(p.random_duration(Duration::from_millis(1), Duration::from_millis(300)))
            .await;
        sim.kill_process(pid).unwrap();
        let acked = acked.load(std::sync::atomic::Ordering::SeqCst);
        drop(node);
        sim.restart_process(pid).unwrap();
        let node = rx.recv().await.unwrap();
        let balance = node.actor::<Account>("alice").call(Balance).await.unwrap();
        // Everything acknowledged survived; at most the one deposit in
        // flight at the crash may have landed too (its write completed but
        // its reply never left).
        assert!(
            balance >= acked,
            "acknowledged {acked}, recovered {balance}"
        );
        assert!(
            balance <= acked + 1,
            "acknowledged {acked}, recovered {balance}"
        );
        moonpool::sometimes!(balance == acked, "recovered exactly what was acknowledged");
    }
}

/// What a failed write showed (a module of its own: its coverage claim).
mod failed_writes {
    use super::*;

    /// After a failed write, a read must not show a record a crash can still
    /// undo: whatever a reader saw (as `Persisted` does when it re-reads
    /// after an error) or was acknowledged survives the crash.
    #[moonpool::sim_test(seeds = 150, faults = ["disk_errors"], coverage = "strict", coverage_of = ["state::failed_writes"])]
    async fn what_a_read_showed_after_a_failed_write_survives_a_crash(sim: SimContext) {
        sim.set_disk_error_probability(0.25);
        let pid = sim.start_process("store", |_p: Providers| std::future::pending());
        let store = open_retrying(&sim.providers_for(pid)).await;
        let a = id("alice");
        let (mut etag, mut trusted) = (None, 0u64);
        for n in 1..=20u64 {
            match store.write(&a, n.to_be_bytes().to_vec(), etag).await {
                Ok(e) => {
                    etag = Some(e);
                    trusted = n;
                }
                Err(_) => {
                    // Like `Persisted`: re-read to learn what storage holds.
                    if let Ok(record) = store.read(&a).await {
                        moonpool::sometimes!(true, "a failed write was read back");
                        etag = record.as_ref().map(|(_, e)| *e);
                        if let Some((bytes, _)) = record {
                            trusted = u64::from_be_bytes(bytes.try_into().unwrap());
                        }
                    }
                }
            }
        }
        sim.kill_process(pid).unwrap();
        sim.restart_process(pid).unwrap();
        drop(store);
        let store = open_retrying(&sim.providers_for(pid)).await;
        let mut recovered = None;
        for _ in 0..50 {
            if let Ok(r) = store.read(&a).await {
                recovered = Some(r.map_or(0, |(bytes, _)| {
                    u64::from_be_bytes(bytes.try_into().unwrap())
                }));
                break;
            }
        }
        let recovered = recovered.expect("the disk became readable");
        assert!(
            recovered >= trusted,
            "a crash undid record {trusted} that was acknowledged or read back (recovered {recovered})"
        );
    }
}

#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn state_follows_an_actor_to_its_next_activation_on_another_node(sim: SimContext) {
    let storage = InMemoryStorage::new();
    let table = moonpool_core::node::InMemoryMembership::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut pids = Vec::new();
    for i in 0..3 {
        let (storage, table, tx) = (storage.clone(), table.clone(), tx.clone());
        pids.push(sim.start_process(format!("n{i}"), move |p: Providers| {
            let (storage, table, tx) = (storage.clone(), table.clone(), tx.clone());
            async move {
                let node = Node::builder("c")
                    .listen(SocketAddr::new([0, 0, 0, 0].into(), 7000))
                    .providers(p)
                    .membership(table)
                    .storage(storage)
                    .host::<Account>()
                    .call_timeout(Duration::from_secs(2))
                    .failure_detection(Duration::from_millis(300), Duration::from_millis(300), 3)
                    .build()
                    .await
                    .expect("node starts");
                let _ = tx.send(node.clone());
                std::future::pending::<()>().await;
                drop(node);
            }
        }));
    }
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(rx.recv().await.unwrap());
    }
    while nodes.iter().any(|n| n.live_members().len() < 3) {
        sim.sleep(Duration::from_millis(50)).await;
    }
    let caller = nodes[0].clone();
    let acct = caller.actor::<Account>("bob");
    for _ in 0..5 {
        acct.call(Deposit(10)).await.unwrap().unwrap();
    }
    let Some(host) = nodes.iter().position(|n| n.hosts(&id("bob"))) else {
        panic!("nobody hosts bob")
    };
    if host == 0 {
        return; // killing the caller's own node proves nothing here
    }
    // Nodes arrived in start order, not process order.
    let victim = pids
        .iter()
        .copied()
        .find(|pid| sim.ip_of(*pid) == nodes[host].id().addr.ip())
        .unwrap();
    sim.kill_process(victim).unwrap();
    // Retry through the failure detection window.
    let mut balance = None;
    for _ in 0..20 {
        if let Ok(b) = acct.call(Balance).await {
            balance = Some(b);
            break;
        }
        sim.sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(balance, Some(50), "seed {}", sim.seed());
    let survivors = (0..3)
        .filter(|&i| i != host && nodes[i].hosts(&id("bob")))
        .count();
    assert_eq!(survivors, 1, "seed {}", sim.seed());
}
