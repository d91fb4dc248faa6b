//! Persistent bank accounts and transfers on a 3-node cluster.
//!
//! `cargo run --example bank_account` runs three nodes in this process on
//! localhost TCP, with account files in a temporary directory, moves money
//! around while one node leaves, and prints a summary.
//!
//! Or run the cluster as separate processes: a storage service that keeps
//! the records in its directory, nodes that host the actors (stop any with
//! Ctrl-C and watch the others carry on), and clients:
//!
//! ```text
//! cargo run --example bank_account -- storage --listen 127.0.0.1:4100 --data /tmp/bank
//! cargo run --example bank_account -- node --listen 127.0.0.1:4000 --storage 127.0.0.1:4100
//! cargo run --example bank_account -- node --listen 127.0.0.1:4001 --seed 127.0.0.1:4000 --storage 127.0.0.1:4100
//! cargo run --example bank_account -- client --seed 127.0.0.1:4000 --transfers 50
//! ```
//!
//! The first node hosts the cluster's membership table; `--seed` names it.
//! Every node reaches the same storage service: an actor's state follows it
//! from node to node. (A state directory belongs to one process: a second
//! process opening it is refused.)

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use moonpool::prelude::*;
use moonpool::runtime::state::{DiskStorage, RemoteStorage, StateStorage, StorageServer};
use moonpool_examples::bank::{Account, Outcome, Transfer, run_sweeper};

const ACCOUNTS: usize = 5;
const OPENING: i64 = 100;

/// What the command line asked for.
enum Mode {
    Demo {
        data: Option<PathBuf>,
        transfers: u64,
    },
    Storage {
        listen: SocketAddr,
        data: PathBuf,
    },
    Node {
        listen: SocketAddr,
        seed: Option<SocketAddr>,
        storage: SocketAddr,
    },
    Client {
        seed: SocketAddr,
        transfers: u64,
    },
}

fn usage() -> &'static str {
    "usage: bank_account [--data DIR] [--transfers N]\n       \
     bank_account storage --listen ADDR --data DIR\n       \
     bank_account node --listen ADDR [--seed ADDR] --storage ADDR\n       \
     bank_account client --seed ADDR [--transfers N]"
}

fn parse(args: &[String]) -> Result<Mode, String> {
    let (mode, rest) = match args.first().map(String::as_str) {
        Some("node") => ("node", &args[1..]),
        Some("storage") => ("storage", &args[1..]),
        Some("client") => ("client", &args[1..]),
        _ => ("demo", args),
    };
    let mut listen = None;
    let mut seed = None;
    let mut data = None;
    let mut storage = None;
    let mut transfers = 40u64;
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        let addr = |v: &str| {
            v.parse::<SocketAddr>()
                .map_err(|_| format!("{flag}: {v:?} is not an address like 127.0.0.1:4000"))
        };
        match flag.as_str() {
            "--listen" => listen = Some(addr(value)?),
            "--seed" => seed = Some(addr(value)?),
            "--data" => data = Some(PathBuf::from(value)),
            "--storage" => storage = Some(addr(value)?),
            "--transfers" => {
                transfers = value
                    .parse()
                    .map_err(|_| format!("--transfers: {value:?} is not a whole number"))?
            }
            other => return Err(format!("unknown option {other}\n{}", usage())),
        }
    }
    match mode {
        "storage" => Ok(Mode::Storage {
            listen: listen.ok_or_else(|| format!("storage needs --listen\n{}", usage()))?,
            data: data.ok_or_else(|| format!("storage needs --data\n{}", usage()))?,
        }),
        "node" => Ok(Mode::Node {
            listen: listen.ok_or_else(|| format!("node needs --listen\n{}", usage()))?,
            seed,
            storage: storage.ok_or_else(|| format!("node needs --storage\n{}", usage()))?,
        }),
        "client" => Ok(Mode::Client {
            seed: seed.ok_or_else(|| format!("client needs --seed\n{}", usage()))?,
            transfers,
        }),
        _ => Ok(Mode::Demo { data, transfers }),
    }
}

/// The account files under `data`, for this process alone.
async fn open_state(data: &PathBuf) -> Result<DiskStorage, String> {
    let p = Providers::tokio_with_storage_root(data).map_err(|e| e.to_string())?;
    DiskStorage::open(p, "state")
        .await
        .map_err(|e| format!("{}: {e}", data.display()))
}

async fn start_node(
    listen: SocketAddr,
    seed: Option<SocketAddr>,
    storage: impl StateStorage,
) -> Result<Node, String> {
    let builder = Node::builder("bank")
        .listen(listen)
        .providers(Providers::tokio().map_err(|e| e.to_string())?)
        .storage(storage)
        .call_timeout(Duration::from_secs(5))
        .failure_detection(Duration::from_millis(300), Duration::from_millis(500), 3);
    let builder = match seed {
        Some(primary) => builder.primary(primary),
        None => builder.host_membership(),
    };
    let node = builder.build().await.map_err(|e| e.to_string())?;
    // Transfers whose client went away are finished by the nodes.
    let p = Providers::tokio().map_err(|e| e.to_string())?;
    p.spawn(run_sweeper(node.clone(), p.clone(), Duration::from_secs(2)));
    Ok(node)
}

/// Opens the accounts, runs `transfers` random transfers (each retried
/// until it ends), and checks the books. Returns (completed, rejected).
async fn run_transfers(
    client: &Node,
    transfers: u64,
    mid_run: impl std::future::Future<Output = ()>,
) -> Result<(u64, u64), String> {
    let p = Providers::tokio().map_err(|e| e.to_string())?;
    for i in 0..ACCOUNTS {
        let a = client.actor::<Account>(format!("acct-{i}"));
        let mut opened = false;
        for _ in 0..50 {
            if matches!(a.open(OPENING).await, Ok(Ok(_))) {
                opened = true;
                break;
            }
            p.sleep(Duration::from_millis(100)).await;
        }
        if !opened {
            return Err(format!("could not open acct-{i}"));
        }
    }
    // Transfer ids must be unique per transfer: a random base per run, plus
    // the transfer's index.
    let base = p.random_below(1 << 40) << 16;
    let mut tasks = Vec::new();
    for k in 0..transfers {
        let from = p.random_below(ACCOUNTS as u64) as usize;
        let to = (from + 1 + p.random_below(ACCOUNTS as u64 - 1) as usize) % ACCOUNTS;
        let amount = 1 + p.random_below(60) as i64;
        let (client, q) = (client.clone(), p.clone());
        tasks.push(p.spawn(async move {
            q.sleep(Duration::from_millis(q.random_below(1_500))).await;
            let t = client.actor::<Transfer>((base + k).to_string());
            for _ in 0..100 {
                if let Ok(Ok(outcome)) = t
                    .execute(format!("acct-{from}"), format!("acct-{to}"), amount)
                    .await
                {
                    return Some(outcome);
                }
                q.sleep(Duration::from_millis(200)).await;
            }
            None
        }));
    }
    mid_run.await;
    let (mut completed, mut rejected) = (0, 0);
    for t in tasks {
        match t.await {
            Ok(Some(Outcome::Completed)) => completed += 1,
            Ok(Some(Outcome::Rejected)) => rejected += 1,
            _ => return Err("a transfer never finished".to_string()),
        }
    }
    Ok((completed, rejected))
}

async fn books(client: &Node) -> Result<i64, String> {
    let mut total = 0;
    for i in 0..ACCOUNTS {
        let balance = client
            .actor::<Account>(format!("acct-{i}"))
            .balance()
            .await
            .map_err(|e| e.to_string())?;
        println!("  acct-{i}: {balance:>4}");
        total += balance;
    }
    Ok(total)
}

async fn demo(data: Option<PathBuf>, transfers: u64) -> Result<(), String> {
    let data = data.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("moonpool-bank-{}", std::process::id()))
    });
    println!(
        "bank: 3 nodes on localhost, account files under {}",
        data.display()
    );
    // One store, shared by the three nodes of this process.
    let state = open_state(&data).await?;
    let first = start_node(
        "127.0.0.1:0".parse().map_err(|_| "addr")?,
        None,
        state.clone(),
    )
    .await?;
    let primary = first.id().addr;
    let mut nodes = vec![first];
    for _ in 0..2 {
        nodes.push(
            start_node(
                "127.0.0.1:0".parse().map_err(|_| "addr")?,
                Some(primary),
                state.clone(),
            )
            .await?,
        );
    }
    for n in &nodes {
        println!("  node {}", n.id().addr);
    }
    let p = Providers::tokio().map_err(|e| e.to_string())?;
    while nodes.iter().any(|n| n.live_members().len() < 3) {
        p.sleep(Duration::from_millis(20)).await;
    }
    let client = nodes[0].clone();
    let leaving = nodes[2].clone();
    let mid_run = async {
        p.sleep(Duration::from_millis(700)).await;
        println!(
            "node {} leaves mid-run; its accounts move to the others",
            leaving.id().addr
        );
        leaving.shutdown().await;
    };
    let (completed, rejected) = run_transfers(&client, transfers, mid_run).await?;
    println!(
        "{transfers} transfers: {completed} completed, {rejected} rejected for insufficient funds"
    );
    println!("balances:");
    let total = books(&client).await?;
    println!("total {total} (opened with {})", ACCOUNTS as i64 * OPENING);
    for n in &nodes[..2] {
        n.shutdown().await;
    }
    drop((nodes, client, state));
    let _ = std::fs::remove_dir_all(&data);
    if total != ACCOUNTS as i64 * OPENING {
        return Err(format!("the books do not balance: {total}"));
    }
    println!("the books balance");
    Ok(())
}

async fn storage(listen: SocketAddr, data: PathBuf) -> Result<(), String> {
    let state = open_state(&data).await?;
    let p = Providers::tokio().map_err(|e| e.to_string())?;
    let server = StorageServer::start(p, listen, "bank", std::sync::Arc::new(state))
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "storage {} serving the records under {} (Ctrl-C to stop)",
        server.addr(),
        data.display()
    );
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    Ok(())
}

async fn node(
    listen: SocketAddr,
    seed: Option<SocketAddr>,
    storage: SocketAddr,
) -> Result<(), String> {
    let p = Providers::tokio().map_err(|e| e.to_string())?;
    let local = SocketAddr::new(listen.ip(), 0);
    let state = RemoteStorage::connect(p, local, storage, "bank", Duration::from_secs(3))
        .await
        .map_err(|e| e.to_string())?;
    let node = start_node(listen, seed, state).await?;
    println!("node {} serving (Ctrl-C to stop)", node.id().addr);
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    println!(
        "stopping: deactivating {} activations",
        node.activation_count()
    );
    node.shutdown().await;
    Ok(())
}

async fn client(seed: SocketAddr, transfers: u64) -> Result<(), String> {
    let p = Providers::tokio().map_err(|e| e.to_string())?;
    let client = Node::builder("bank")
        .providers(p)
        .primary(seed)
        .client_only()
        .call_timeout(Duration::from_secs(5))
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let (completed, rejected) = run_transfers(&client, transfers, async {}).await?;
    println!("{transfers} transfers: {completed} completed, {rejected} rejected");
    let total = books(&client).await?;
    println!("total {total}");
    client.shutdown().await;
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match parse(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(async {
        match mode {
            Mode::Demo { data, transfers } => demo(data, transfers).await,
            Mode::Storage { listen, data } => storage(listen, data).await,
            Mode::Node {
                listen,
                seed,
                storage,
            } => node(listen, seed, storage).await,
            Mode::Client { seed, transfers } => client(seed, transfers).await,
        }
    });
    if let Err(e) = result {
        eprintln!("bank_account: {e}");
        std::process::exit(1);
    }
}
