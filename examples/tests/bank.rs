//! The bank under simulation: clients transfer money while nodes crash and
//! restart, links partition and heal, and the storage service restarts.
//! Money is conserved at every step (counting transfers debited but not yet
//! credited), no balance goes negative, and after recovery every transfer
//! was applied exactly once or not at all.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use moonpool::prelude::*;
use moonpool::runtime::node::InMemoryMembership;
use moonpool::runtime::state::{
    DiskStorage, InMemoryStorage, RemoteStorage, StateStorage, StorageServer,
};
use moonpool_examples::bank::{Account, AccountState, Outcome, Transfer, TransferRecord};

const ACCOUNTS: usize = 5;
const OPENING: i64 = 100;
const STORAGE_PORT: u16 = 9000;

fn account(i: usize) -> String {
    format!("acct-{i}")
}

/// Money in accounts plus money debited but not yet credited, from the
/// stored records; and the lowest balance.
fn audit(store: &InMemoryStorage) -> Result<(i64, i64), String> {
    let mut accounts: BTreeMap<String, AccountState> = BTreeMap::new();
    let mut transfers: BTreeMap<u64, TransferRecord> = BTreeMap::new();
    for (id, (bytes, _)) in store.snapshot() {
        match id.type_name.as_ref() {
            "Account" => {
                let s: AccountState = postcard::from_bytes(&bytes).map_err(|e| e.to_string())?;
                accounts.insert(id.key.clone(), s);
            }
            "Transfer" => {
                let r: Option<TransferRecord> =
                    postcard::from_bytes(&bytes).map_err(|e| e.to_string())?;
                if let (Some(r), Ok(k)) = (r, id.key.parse()) {
                    transfers.insert(k, r);
                }
            }
            _ => {}
        }
    }
    let mut total: i64 = accounts.values().map(|a| a.balance).sum();
    for (id, t) in &transfers {
        let debited = accounts
            .get(&t.from)
            .is_some_and(|a| a.applied.contains_key(id));
        let credited = accounts
            .get(&t.to)
            .is_some_and(|a| a.applied.contains_key(id));
        if debited && !credited {
            total += t.amount; // in flight
        }
        if credited && !debited {
            return Err(format!("transfer {id} credited without a debit"));
        }
    }
    let lowest = accounts.values().map(|a| a.balance).min().unwrap_or(0);
    Ok((total, lowest))
}

/// The storage process's own state directory, through a disk that may
/// fail now and then.
async fn open_state(p: &Providers) -> DiskStorage {
    loop {
        match DiskStorage::open(p.clone(), "state").await {
            Ok(store) => return store,
            Err(_) => p.sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Where the storage service keeps the records.
#[derive(Clone)]
enum Backend {
    /// In memory shared with the test, which audits it after every step
    /// (the records outlive the service's crashes, as a database's would).
    Audited(InMemoryStorage),
    /// Files on the storage process's own simulated disk, which loses what
    /// was not synced when the process crashes.
    Disk,
}

#[moonpool::sim_test(seeds = 500, coverage = "strict", coverage_of = ["moonpool_examples::bank", "bank"])]
async fn money_is_conserved_and_transfers_apply_exactly_once(sim: SimContext) {
    run_bank(sim, Backend::Audited(InMemoryStorage::new())).await;
}

#[moonpool::sim_test(seeds = 200)]
async fn books_balance_after_storage_disk_crashes(sim: SimContext) {
    run_bank(sim, Backend::Disk).await;
}

async fn run_bank(sim: SimContext, backend: Backend) {
    let table = InMemoryMembership::new();
    let p = sim.providers();

    // The storage service: a process of its own.
    let served = backend.clone();
    let storage_pid = sim.start_process("storage", move |p: Providers| {
        let served = served.clone();
        async move {
            let listen = SocketAddr::new([0, 0, 0, 0].into(), STORAGE_PORT);
            let store: Arc<dyn StateStorage> = match served {
                Backend::Audited(store) => Arc::new(store),
                Backend::Disk => Arc::new(open_state(&p).await),
            };
            let server = StorageServer::start(p, listen, "bank", store)
                .await
                .expect("storage starts");
            std::future::pending::<()>().await;
            drop(server);
        }
    });
    let storage_addr = SocketAddr::new(sim.ip_of(storage_pid), STORAGE_PORT);

    // The current node of each bank process, for the supervisor below.
    let running: Arc<std::sync::Mutex<BTreeMap<String, Node>>> = Arc::default();
    let mut node_pids = Vec::new();
    for i in 0..3 {
        let (table, running) = (table.clone(), Arc::clone(&running));
        node_pids.push(sim.start_process(format!("bank-{i}"), move |p: Providers| {
            let (table, running) = (table.clone(), Arc::clone(&running));
            async move {
                let any = SocketAddr::new([0, 0, 0, 0].into(), 0);
                let storage = RemoteStorage::connect(
                    p.clone(),
                    any,
                    storage_addr,
                    "bank",
                    Duration::from_secs(1),
                )
                .await
                .expect("storage client starts");
                let node = Node::builder("bank")
                    .listen(SocketAddr::new([0, 0, 0, 0].into(), 7000))
                    .providers(p)
                    .membership(table)
                    .storage(storage)
                    .call_timeout(Duration::from_secs(3))
                    .failure_detection(Duration::from_millis(500), Duration::from_millis(500), 4)
                    .build()
                    .await
                    .expect("node starts");
                running
                    .lock()
                    .unwrap()
                    .insert(format!("bank-{i}"), node.clone());
                std::future::pending::<()>().await;
                drop(node);
            }
        }));
    }
    let client = Node::builder("bank")
        .listen("10.0.0.1:7000".parse().unwrap())
        .providers(p.clone())
        .membership(table.clone())
        .client_only()
        .call_timeout(Duration::from_secs(3))
        .build()
        .await
        .unwrap();
    while client.live_members().len() < 4 {
        sim.sleep(Duration::from_millis(50)).await;
    }

    if let Backend::Audited(store) = &backend {
        let watched = store.clone();
        sim.invariant("money is conserved", move || {
            let (total, lowest) = audit(&watched)?;
            let opened = watched
                .snapshot()
                .iter()
                .filter(|(id, _)| id.type_name == "Account")
                .count() as i64;
            if total != opened * OPENING {
                return Err(format!(
                    "{total} in the bank, expected {}",
                    opened * OPENING
                ));
            }
            if lowest < 0 {
                return Err(format!("a balance went negative: {lowest}"));
            }
            Ok(())
        });
    }

    // Open the accounts (retrying through faults).
    for i in 0..ACCOUNTS {
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
            let from = p.random_below(ACCOUNTS as u64) as usize;
            let to = (from + 1 + p.random_below(ACCOUNTS as u64 - 1) as usize) % ACCOUNTS;
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
                let victim = node_pids[p.random_below(3) as usize];
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
                let (a, b) = (node_pids[0], node_pids[1 + p.random_below(2) as usize]);
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
                let victim = node_pids[p.random_below(3) as usize];
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
    // A supervisor restarts what crashed or fenced itself (a node declared
    // dead stops serving, as a process would exit).
    for (i, pid) in node_pids.iter().enumerate() {
        let fenced = running
            .lock()
            .unwrap()
            .get(&format!("bank-{i}"))
            .is_some_and(|n| n.is_stopped());
        if !sim.is_alive(*pid) || fenced {
            if fenced {
                moonpool::sometimes!(true, "a fenced bank node was restarted by the supervisor");
            }
            let _ = sim.kill_process(*pid);
            sim.restart_process(*pid).unwrap();
        }
    }
    if !sim.is_alive(storage_pid) {
        sim.restart_process(storage_pid).unwrap();
    }
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
    for i in 0..ACCOUNTS {
        let id = ActorId {
            type_name: "Account".into(),
            key: account(i),
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
    assert_eq!(total, ACCOUNTS as i64 * OPENING);
}
