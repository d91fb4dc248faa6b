//! Processes crash and restart with their disks: synced data survives,
//! unsynced data is lost or torn, atomic replacement stays atomic, wiped
//! disks are empty.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeSet;
use std::time::Duration;

use moonpool_sim::chaos::FaultConfig;
use moonpool_sim::{OpenMode, ProcessId, Providers, SimContext, Simulation};
use tokio::sync::mpsc;

/// What a process found on its disk when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    synced: Option<Vec<u8>>,
    unsynced: Option<Vec<u8>>,
}

/// Each start reports what survived, then (first life only) writes one
/// synced and one unsynced file.
fn start_writer(sim: &SimContext, tx: mpsc::UnboundedSender<Found>) -> ProcessId {
    sim.start_process("writer", move |p: Providers| {
        let tx = tx.clone();
        async move {
            let found = Found {
                synced: p.read_file("synced").await.ok(),
                unsynced: p.read_file("unsynced").await.ok(),
            };
            let first_life = found.synced.is_none();
            tx.send(found).unwrap();
            if !first_life {
                return;
            }
            let mut s = p.open("synced", OpenMode::Create).await.unwrap();
            s.append(b"durable bytes").await.unwrap();
            s.sync().await.unwrap();
            let mut u = p.open("unsynced", OpenMode::Create).await.unwrap();
            p.storage().sync_dir("").await.unwrap(); // both names durable
            u.append(b"first-").await.unwrap();
            u.append(b"second").await.unwrap(); // never synced
            drop(u);
            std::future::pending::<()>().await;
        }
    })
}

#[test]
fn restart_keeps_synced_data_and_loses_unsynced_data() {
    let mut unsynced_outcomes = BTreeSet::new();
    for seed in 0..100 {
        let found = Simulation::new(seed)
            .faults(FaultConfig::calm())
            .run(|sim| async move {
                let (tx, mut rx) = mpsc::unbounded_channel();
                let pid = start_writer(&sim, tx);
                let first = rx.recv().await.unwrap();
                assert_eq!(
                    first,
                    Found {
                        synced: None,
                        unsynced: None
                    }
                );
                sim.sleep(Duration::from_secs(1)).await;
                sim.kill_process(pid).unwrap();
                sim.restart_process(pid).unwrap();
                rx.recv().await.unwrap()
            })
            .unwrap()
            .output;
        assert_eq!(
            found.synced.as_deref(),
            Some(&b"durable bytes"[..]),
            "seed {seed}"
        );
        let unsynced = found.unsynced.expect("the name was synced");
        assert!(
            b"first-second".starts_with(&unsynced),
            "seed {seed}: unsynced data came back as {:?}",
            String::from_utf8_lossy(&unsynced)
        );
        unsynced_outcomes.insert(unsynced);
    }
    // Lost entirely, kept entirely, and torn in between all happen.
    assert!(unsynced_outcomes.contains(&b""[..]));
    assert!(unsynced_outcomes.contains(&b"first-second"[..]));
    assert!(unsynced_outcomes.len() >= 4, "{unsynced_outcomes:?}");
}

#[test]
fn atomic_replacement_survives_a_crash_at_any_moment() {
    for seed in 0..150 {
        let outcome = Simulation::new(seed)
            .faults(FaultConfig::calm())
            .run(|sim| async move {
                let (acked_tx, mut acked_rx) = mpsc::unbounded_channel::<u32>();
                let pid = sim.start_process("state", move |p: Providers| {
                    let acked = acked_tx.clone();
                    async move {
                        for v in 0..1_000u32 {
                            let body = format!("version {v} ").repeat(50);
                            p.write_atomically("acct", body.as_bytes()).await.unwrap();
                            let _ = acked.send(v);
                        }
                    }
                });
                let p = sim.providers();
                sim.sleep(p.random_duration(Duration::ZERO, Duration::from_millis(200)))
                    .await;
                sim.kill_process(pid).unwrap();
                let mut last_acked = None;
                while let Ok(v) = acked_rx.try_recv() {
                    last_acked = Some(v);
                }
                // Read the disk as the restarted process would.
                sim.restart_process(pid).unwrap();
                let disk = sim.providers_for(pid);
                let content = disk.read_file("acct").await.ok();
                sim.kill_process(pid).unwrap();
                (last_acked, content)
            })
            .unwrap()
            .output;
        let (last_acked, content) = outcome;
        match content {
            None => assert_eq!(last_acked, None, "seed {seed}: acknowledged data vanished"),
            Some(bytes) => {
                let text = String::from_utf8(bytes).unwrap();
                let v: u32 = text
                    .strip_prefix("version ")
                    .and_then(|r| r.split(' ').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("seed {seed}: garbage {text:?}"));
                assert_eq!(
                    text,
                    format!("version {v} ").repeat(50),
                    "seed {seed}: torn state"
                );
                if let Some(acked) = last_acked {
                    assert!(v >= acked, "seed {seed}: went back from {acked} to {v}");
                }
            }
        }
    }
}

#[test]
fn crash_and_wipe_leaves_an_empty_disk() {
    Simulation::new(1)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let pid = start_writer(&sim, tx);
            rx.recv().await.unwrap();
            sim.sleep(Duration::from_secs(1)).await;
            sim.crash_and_wipe(pid).unwrap();
            sim.restart_process(pid).unwrap();
            assert_eq!(
                rx.recv().await.unwrap(),
                Found {
                    synced: None,
                    unsynced: None
                }
            );
        })
        .unwrap();
}

#[test]
fn disks_belong_to_their_process() {
    Simulation::new(2)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let a = sim.add_process("a");
            let b = sim.add_process("b");
            sim.providers_for(a)
                .write_atomically("f", b"from a")
                .await
                .unwrap();
            assert!(sim.providers_for(b).read_file("f").await.is_err());
            assert_eq!(
                sim.providers_for(a).read_file("f").await.unwrap(),
                b"from a"
            );
            // A dead process's disk cannot be used.
            sim.kill_process(a).unwrap();
            let err = sim.providers_for(a).read_file("f").await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::NotConnected);
        })
        .unwrap();
}

#[test]
fn injected_disk_errors_surface_as_errors_and_change_nothing() {
    let config = moonpool_sim::SimConfig {
        disk: moonpool_sim::DiskConfig {
            error_probability: 0.3,
            ..moonpool_sim::DiskConfig::default()
        },
        ..moonpool_sim::SimConfig::default()
    };
    let (errors, ok) = Simulation::new(3)
        .config(config)
        .faults(FaultConfig {
            disk_errors: true,
            ..FaultConfig::calm()
        })
        .run(|sim| async move {
            let p = sim.providers();
            let (mut errors, mut ok) = (0, 0);
            for i in 0..200u32 {
                let value = format!("value {i}");
                match p.write_atomically("k", value.as_bytes()).await {
                    Ok(()) => ok += 1,
                    Err(e) => {
                        assert_eq!(e.to_string(), "injected disk I/O error");
                        errors += 1;
                    }
                }
                // Whatever the write did, the file is some whole value.
                if let Ok(bytes) = p.read_file("k").await {
                    assert!(String::from_utf8(bytes).unwrap().starts_with("value "));
                }
            }
            (errors, ok)
        })
        .unwrap()
        .output;
    assert!(errors > 50 && ok > 10, "errors {errors}, ok {ok}");
}
