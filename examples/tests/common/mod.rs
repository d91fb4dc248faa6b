//! The bank's cluster under simulation, shared by its sim tests: a storage
//! service (state and reminders), three nodes, the audit of the stored
//! books, and a supervisor.
#![allow(dead_code)] // each test binary uses its part

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use moonpool::prelude::*;
use moonpool::reminder::StorageReminderTable;
use moonpool::runtime::node::{InMemoryMembership, NodeError};
use moonpool::runtime::state::{
    DiskStorage, InMemoryStorage, RemoteStorage, StateStorage, StorageServer,
};
use moonpool_examples::bank::{AccountState, TransferOrder, TransferRecord};

pub const ACCOUNTS: usize = 5;
pub const OPENING: i64 = 100;
pub const STORAGE_PORT: u16 = 9000;

pub fn account(i: usize) -> String {
    format!("acct-{i}")
}

/// Money in accounts plus money debited but not yet credited, from the
/// stored records; and the lowest balance.
pub fn audit(store: &InMemoryStorage) -> Result<(i64, i64), String> {
    let mut accounts: BTreeMap<String, AccountState> = BTreeMap::new();
    let mut transfers: BTreeMap<u64, TransferRecord> = BTreeMap::new();
    for (id, (bytes, _)) in store.snapshot() {
        match id.type_name.as_ref() {
            "Account" => {
                let s: AccountState = postcard::from_bytes(&bytes).map_err(|e| e.to_string())?;
                accounts.insert(id.key.to_string(), s);
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
pub async fn open_state(p: &Providers) -> DiskStorage {
    loop {
        match DiskStorage::open(p.clone(), "state").await {
            Ok(store) => return store,
            Err(_) => p.sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Where the storage service keeps the records.
#[derive(Clone)]
pub enum Backend {
    /// In memory shared with the test, which audits it after every step
    /// (the records outlive the service's crashes, as a database's would).
    Audited(InMemoryStorage),
    /// Files on the storage process's own simulated disk, which loses what
    /// was not synced when the process crashes.
    Disk,
}

/// The bank's processes: a storage service (holding the state and the
/// reminders, so ledger shards sweep their open transfers whatever
/// crashes), three nodes, and what the test needs to drive them.
pub struct BankCluster {
    pub table: InMemoryMembership,
    pub storage_pid: ProcessId,
    pub storage_addr: SocketAddr,
    pub node_pids: Vec<ProcessId>,
    /// The current node of each bank process, for the supervisor.
    pub running: Arc<std::sync::Mutex<BTreeMap<String, Node>>>,
}

pub fn start_cluster(sim: &SimContext, backend: &Backend) -> BankCluster {
    let table = InMemoryMembership::new();

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
                // A node that cannot start (its storage service is down, so it
                // cannot check that the store is the cluster's) exits; its
                // supervisor starts it again a little later.
                let node = loop {
                    let built = Node::builder("bank")
                        .listen(SocketAddr::new([0, 0, 0, 0].into(), 7000))
                        .providers(p.clone())
                        .membership(table.clone())
                        .storage(storage.clone())
                        .reminders(StorageReminderTable::new(Arc::new(storage.clone())))
                        .call_timeout(Duration::from_secs(3))
                        .failure_detection(
                            Duration::from_millis(500),
                            Duration::from_millis(500),
                            4,
                        )
                        .build()
                        .await;
                    match built {
                        Ok(node) => break node,
                        // Rare (the storage service crashed just then), so
                        // not a `sometimes!` site of the strict coverage.
                        Err(NodeError::Storage(_)) => p.sleep(Duration::from_millis(500)).await,
                        Err(e) => panic!("node starts: {e}"),
                    }
                };
                running
                    .lock()
                    .unwrap()
                    .insert(format!("bank-{i}"), node.clone());
                std::future::pending::<()>().await;
                drop(node);
            }
        }));
    }
    BankCluster {
        table,
        storage_pid,
        storage_addr,
        node_pids,
        running,
    }
}

impl BankCluster {
    /// A supervisor's pass: restarts what crashed or fenced itself (a node
    /// declared dead stops serving, as a process would exit).
    pub fn restart_the_fallen(&self, sim: &SimContext) {
        for (i, pid) in self.node_pids.iter().enumerate() {
            let fenced = self
                .running
                .lock()
                .unwrap()
                .get(&format!("bank-{i}"))
                .is_some_and(|n| n.is_stopped());
            if !sim.is_alive(*pid) || fenced {
                if fenced {
                    moonpool::sometimes!(
                        true,
                        "a fenced bank node was restarted by the supervisor"
                    );
                }
                let _ = sim.kill_process(*pid);
                sim.restart_process(*pid).unwrap();
            }
        }
        if !sim.is_alive(self.storage_pid) {
            sim.restart_process(self.storage_pid).unwrap();
        }
    }
}

/// The records in the audited store, decoded.
pub struct Books {
    pub accounts: BTreeMap<String, AccountState>,
    pub transfers: BTreeMap<u64, TransferRecord>,
    pub open: BTreeMap<u64, TransferOrder>,
}

pub fn books(store: &InMemoryStorage) -> Books {
    let mut books = Books {
        accounts: BTreeMap::new(),
        transfers: BTreeMap::new(),
        open: BTreeMap::new(),
    };
    for (id, (bytes, _)) in store.snapshot() {
        match id.type_name.as_ref() {
            "Account" => {
                books
                    .accounts
                    .insert(id.key.to_string(), postcard::from_bytes(&bytes).unwrap());
            }
            "Transfer" => {
                let r: Option<TransferRecord> = postcard::from_bytes(&bytes).unwrap();
                if let Some(r) = r {
                    books.transfers.insert(id.key.parse().unwrap(), r);
                }
            }
            "Ledger" => {
                let open: BTreeMap<u64, TransferOrder> = postcard::from_bytes(&bytes).unwrap();
                books.open.extend(open);
            }
            _ => {}
        }
    }
    books
}

/// Registers the invariant that money is conserved and no balance goes
/// negative, checked against the audited store after every step.
pub fn conserve_money(sim: &SimContext, store: &InMemoryStorage) {
    let watched = store.clone();
    // Checked again only once a record changed (a step that wrote
    // nothing cannot break it).
    let checked = std::sync::atomic::AtomicU64::new(u64::MAX);
    sim.invariant("money is conserved", move || {
        let version = watched.version();
        if checked.swap(version, std::sync::atomic::Ordering::Relaxed) == version {
            return Ok(());
        }
        let (total, lowest) = audit(&watched)?;
        // Opened accounts, not records: a record holding the default
        // state (what a fenced, never-created account holds) is no account.
        let opened = watched
            .snapshot()
            .iter()
            .filter(|(id, (bytes, _))| {
                id.type_name == "Account"
                    && postcard::from_bytes::<AccountState>(bytes).is_ok_and(|a| a.opened)
            })
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
