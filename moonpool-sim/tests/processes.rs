//! Tasks belong to processes; killing a process drops all its tasks.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use moonpool_sim::chaos::FaultConfig;
use moonpool_sim::{JoinError, ProcessId, SimError, Simulation};

#[test]
fn killing_a_process_drops_its_tasks_and_their_children() {
    Simulation::new(6)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let node = sim.add_process("node-1");
            let other = sim.add_process("node-2");
            let p = sim.providers_for(node);
            let (child_tx, child_rx) = tokio::sync::oneshot::channel();
            let parent = sim.spawn_in(node, "parent", {
                let p = p.clone();
                async move {
                    // Spawned from inside node-1 through the inheriting
                    // providers: the child belongs to node-1 too.
                    let child = sim_child(p.clone());
                    let _ = child_tx.send(child);
                    p.sleep(Duration::from_secs(3_600)).await;
                }
            });
            let survivor = sim.spawn_in(other, "survivor", {
                let p = sim.providers();
                async move {
                    p.sleep(Duration::from_secs(10)).await;
                    "still here"
                }
            });
            let child = child_rx.await.unwrap();
            assert_eq!(sim.live_tasks(), 4); // main, parent, child, survivor
            sim.sleep(Duration::from_secs(1)).await;
            assert_eq!(sim.kill_process(node), Ok(2));
            assert!(!sim.is_alive(node));
            assert_eq!(
                parent.await,
                Err(JoinError::Cancelled {
                    task: "parent".into()
                })
            );
            assert!(matches!(child.await, Err(JoinError::Cancelled { .. })));
            assert_eq!(survivor.await, Ok("still here"));
            // A dead process takes no new tasks.
            let late = sim.spawn_in(node, "late", async { 1 });
            assert!(matches!(late.await, Err(JoinError::Cancelled { .. })));
            assert_eq!(
                sim.kill_process(ProcessId::MAIN),
                Err(SimError::CannotKillMain)
            );
        })
        .unwrap();
}

fn sim_child(p: moonpool_sim::Providers) -> moonpool_sim::JoinHandle<()> {
    let inner = p.clone();
    p.spawn_named("child", async move {
        inner.sleep(Duration::from_secs(3_600)).await
    })
}

#[test]
fn unknown_processes_are_errors_not_panics() {
    // An id issued by another simulation means nothing in this one.
    let foreign = Simulation::new(9)
        .faults(FaultConfig::calm())
        .run(|s| async move {
            s.add_process("a");
            s.add_process("b");
            s.add_process("c")
        })
        .unwrap()
        .output;
    Simulation::new(1)
        .faults(FaultConfig::calm())
        .run(move |sim| async move {
            let real = sim.add_process("only");
            assert_ne!(real, foreign);
            assert_eq!(
                sim.kill_process(foreign),
                Err(SimError::UnknownProcess(foreign))
            );
            assert_eq!(sim.process_name(foreign), None);
            assert!(!sim.is_alive(foreign));
            let orphan = sim.spawn_in(foreign, "orphan", async { 1 });
            assert!(matches!(orphan.await, Err(JoinError::Cancelled { .. })));
        })
        .unwrap();
}

#[test]
fn abort_cancels_a_pending_task() {
    Simulation::new(2)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let p = sim.providers();
            let slow = p.spawn_named("slow", {
                let p = p.clone();
                async move {
                    p.sleep(Duration::from_secs(100)).await;
                    1
                }
            });
            p.sleep(Duration::from_secs(1)).await;
            assert!(!slow.is_finished());
            slow.abort();
            assert_eq!(
                slow.await,
                Err(JoinError::Cancelled {
                    task: "slow".into()
                })
            );
            assert_eq!(sim.live_tasks(), 1);
            // The aborted task's timer went with it: time does not jump to 100 s.
            assert_eq!(sim.pending_timers(), 0);
        })
        .unwrap();
}
