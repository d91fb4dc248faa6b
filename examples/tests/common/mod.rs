//! The bank's cluster under simulation, shared by its sim tests and the
//! scale benchmark: a storage service (state and reminders), the nodes, the
//! audit of the stored books, a supervisor, and the transfers workload.
#![allow(dead_code)] // each test binary uses its part

mod audit;
mod workload;
#[allow(unused_imports)] // each test binary uses its part
pub use audit::{Audit, conserve_money};
#[allow(unused_imports)] // each test binary uses its part
pub use workload::{Shape, run_bank};

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

/// Accounts in the bank tests.
pub const ACCOUNTS: usize = 5;
/// Bank nodes in the bank tests.
pub const NODES: usize = 3;
pub const OPENING: i64 = 100;
pub const STORAGE_PORT: u16 = 9000;

pub fn account(i: usize) -> String {
    format!("acct-{i}")
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
/// crashes), the nodes, and what the test needs to drive them.
pub struct BankCluster {
    pub table: InMemoryMembership,
    pub storage_pid: ProcessId,
    pub storage_addr: SocketAddr,
    pub node_pids: Vec<ProcessId>,
    /// The current node of each bank process, for the supervisor.
    pub running: Arc<std::sync::Mutex<BTreeMap<String, Node>>>,
}

/// The storage service and [`NODES`] bank nodes.
pub fn start_cluster(sim: &SimContext, backend: &Backend) -> BankCluster {
    start_cluster_of(sim, backend, NODES)
}

/// The storage service and `nodes` bank nodes (`bank-0`, `bank-1`, ...).
pub fn start_cluster_of(sim: &SimContext, backend: &Backend, nodes: usize) -> BankCluster {
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
    for i in 0..nodes {
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
