//! The bank's transfers under a nemesis, for a cluster of any shape: the
//! bank tests run it at [`Shape::TEST`], the scale benchmark at larger ones.

use std::collections::BTreeMap;
use std::time::Duration;

use moonpool::prelude::*;
use moonpool::runtime::state::{RemoteStorage, StateStorage};
use moonpool_examples::bank::{Account, AccountState, Outcome, Transfer};

use super::{
    ACCOUNTS, Backend, BankCluster, NODES, OPENING, account, conserve_money, start_cluster_of,
};

/// How big a bank: its nodes (at least two) and accounts (at least two).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Bank nodes (besides the storage service and the client).
    pub nodes: usize,
    /// Accounts, opened before the transfers.
    pub accounts: usize,
}

impl Shape {
    /// The bank tests' shape: [`NODES`] nodes, [`ACCOUNTS`] accounts.
    pub const TEST: Shape = Shape {
        nodes: NODES,
        accounts: ACCOUNTS,
    };
}

/// Opens the accounts, then three clients run eight transfers each while a
/// nemesis crashes nodes and the storage service, partitions and isolates
/// nodes; after recovery every transfer is driven to its end, and the
/// stored books must show each applied exactly once or not at all, with
/// the money conserved (checked after every step when the store is
/// audited).
pub async fn run_bank(sim: SimContext, backend: Backend, shape: Shape) {
    let Shape { nodes, accounts } = shape;
    assert!(nodes >= 2, "the nemesis partitions two bank nodes");
    let cluster = start_cluster_of(&sim, &backend, nodes);
    let BankCluster {
        table,
        storage_pid,
        storage_addr,
        node_pids,
        ..
    } = &cluster;
    let (storage_pid, storage_addr) = (*storage_pid, *storage_addr);
    let p = sim.providers();
    let client = Node::builder("bank")
        .listen("10.0.0.1:7000".parse().unwrap())
        .providers(p.clone())
        .membership(table.clone())
        .client_only()
        .call_timeout(Duration::from_secs(3))
        .build()
        .await
        .unwrap();
    while client.live_members().len() < nodes + 1 {
        sim.sleep(Duration::from_millis(50)).await;
    }

    if let Backend::Audited(store) = &backend {
        conserve_money(&sim, store);
    }

    // Open the accounts (retrying through faults).
    for i in 0..accounts {
        let a = client.actor::<Account>(account(i));
        for _ in 0..100 {
            if matches!(a.open(OPENING).await, Ok(Ok(_))) {
                break;
            }
            sim.sleep(Duration::from_millis(100)).await;
        }
    }

    // Clients: each transfer has a unique id and is retried until it ends.
    let mut plans: Vec<(u64, String, String, i64)> = Vec::new();
    for c in 0..3u64 {
        for k in 0..8u64 {
            let from = p.random_below(accounts as u64) as usize;
            let to = (from + 1 + p.random_below(accounts as u64 - 1) as usize) % accounts;
            plans.push((
                c * 1000 + k,
                account(from),
                account(to),
                1 + p.random_below(70) as i64,
            ));
        }
    }
    let mut clients = Vec::new();
    for c in 0..3usize {
        let mine: Vec<_> = plans
            .iter()
            .filter(|t| t.0 / 1000 == c as u64)
            .cloned()
            .collect();
        let (client, q) = (client.clone(), p.clone());
        clients.push(p.spawn(async move {
            for (id, from, to, amount) in mine {
                let t = client.actor::<Transfer>(id.to_string());
                for _ in 0..5 {
                    match t.execute(from.clone(), to.clone(), amount).await {
                        Ok(Ok(_)) => break,
                        _ => {
                            q.sleep(q.random_duration(
                                Duration::from_millis(50),
                                Duration::from_millis(500),
                            ))
                            .await
                        }
                    }
                }
            }
        }));
    }

    // The nemesis.
    for _ in 0..3 {
        sim.sleep(p.random_duration(Duration::from_millis(200), Duration::from_secs(2)))
            .await;
        match p.random_below(4) {
            0 => {
                let victim = node_pids[p.random_below(nodes as u64) as usize];
                if sim.is_alive(victim) {
                    sim.kill_process(victim).unwrap();
                    moonpool::sometimes!(true, "a bank node crashed during transfers");
                    sim.sleep(
                        p.random_duration(Duration::from_millis(100), Duration::from_secs(3)),
                    )
                    .await;
                    sim.restart_process(victim).unwrap();
                }
            }
            1 => {
                let (a, b) = (
                    node_pids[0],
                    node_pids[1 + p.random_below(nodes as u64 - 1) as usize],
                );
                sim.partition(a, b);
                moonpool::sometimes!(true, "bank nodes were partitioned");
                sim.sleep(p.random_duration(Duration::from_millis(100), Duration::from_secs(2)))
                    .await;
                sim.heal(a, b);
            }
            2 => {
                // Cut one node off from everyone long enough to be voted
                // dead: it must fence itself, and the supervisor below
                // restarts it.
                let victim = node_pids[p.random_below(nodes as u64) as usize];
                sim.isolate(victim);
                moonpool::sometimes!(true, "a bank node was cut off from the cluster");
                sim.sleep(p.random_duration(Duration::from_secs(1), Duration::from_secs(4)))
                    .await;
                sim.heal_all();
            }
            _ => {
                sim.kill_process(storage_pid).unwrap();
                moonpool::sometimes!(true, "the storage service crashed");
                sim.sleep(p.random_duration(Duration::from_millis(50), Duration::from_secs(1)))
                    .await;
                sim.restart_process(storage_pid).unwrap();
            }
        }
    }
    for c in clients {
        let _ = c.await;
    }

    // Recovery: everything healed; drive every transfer to its end.
    sim.heal_all();
    cluster.restart_the_fallen(&sim);
    let mut outcomes = BTreeMap::new();
    for (id, from, to, amount) in &plans {
        let t = client.actor::<Transfer>(id.to_string());
        let mut outcome = None;
        for _ in 0..200 {
            if let Ok(Ok(o)) = t.execute(from.clone(), to.clone(), *amount).await {
                outcome = Some(o);
                break;
            }
            sim.sleep(Duration::from_millis(200)).await;
        }
        outcomes.insert(*id, outcome.expect("the transfer completed after recovery"));
    }
    moonpool::sometimes!(
        outcomes.values().any(|o| *o == Outcome::Completed),
        "transfers completed"
    );

    // Exactly once: completed transfers are in both accounts, rejected ones
    // in neither; the money adds up.
    let mut states: BTreeMap<String, AccountState> = BTreeMap::new();
    // The records as the storage service serves them (its directory is
    // its own: nobody else opens it).
    let auditor = RemoteStorage::connect(
        p.clone(),
        "10.0.0.1:0".parse().unwrap(),
        storage_addr,
        "bank",
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    for i in 0..accounts {
        let id = ActorId {
            type_name: "Account".into(),
            key: account(i).into(),
        };
        let record = match &backend {
            Backend::Audited(store) => store.read(&id).await.unwrap(),
            Backend::Disk => {
                let mut found = None;
                for _ in 0..100 {
                    if let Ok(r) = auditor.read(&id).await {
                        found = Some(r);
                        break;
                    }
                    sim.sleep(Duration::from_millis(100)).await;
                }
                found.expect("the storage service answers")
            }
        };
        let (bytes, _) = record.expect("every account was opened");
        states.insert(account(i), postcard::from_bytes(&bytes).unwrap());
    }
    for (id, from, to, amount) in &plans {
        let debit = states[from].applied.get(id).copied();
        let credit = states[to].applied.get(id).copied();
        match outcomes[id] {
            Outcome::Completed => {
                assert_eq!(
                    (debit, credit),
                    (Some(-amount), Some(*amount)),
                    "transfer {id}"
                );
            }
            Outcome::Rejected => assert_eq!((debit, credit), (None, None), "transfer {id}"),
        }
    }
    let total: i64 = states.values().map(|s| s.balance).sum();
    assert_eq!(total, accounts as i64 * OPENING);
}
