//! Persistent bank accounts and transfers on a 3-node cluster.
//!
//! `cargo run --example bank_account` runs three nodes in this process on
//! localhost TCP, with account files in a temporary directory, moves money
//! around while one node leaves, checks the books, and prints a summary.
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
//! Or keep the cluster's membership and the account records in PostgreSQL:
//! any node may start first and any may die, the others carry on.
//!
//! ```text
//! cargo run --example bank_account -- node --listen 127.0.0.1:4000 --postgres postgres://postgres@127.0.0.1/test
//! cargo run --example bank_account -- node --listen 127.0.0.1:4001 --postgres postgres://postgres@127.0.0.1/test
//! cargo run --example bank_account -- client --postgres postgres://postgres@127.0.0.1/test --transfers 50
//! ```
//!
//! Without `--postgres`, the first node hosts the cluster's membership
//! table; `--seed` names any node of the cluster. Every node reaches the same storage service: an
//! actor's state follows it from node to node, and a node whose storage is
//! not the cluster's is refused. The client checks the books after its
//! transfers and exits non-zero if they do not balance. If the first node
//! (the membership primary) dies, every node and client says so and exits
//! non-zero: this development membership has no other copy.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use moonpool::postgres::{Postgres, PostgresConfig};
use moonpool::prelude::*;
use moonpool::reminder::{PostgresReminderTable, ReminderTable, StorageReminderTable};
use moonpool::runtime::node::PostgresMembership;
use moonpool::runtime::state::{
    DiskStorage, PostgresStorage, RemoteStorage, StateStorage, StorageServer,
};
use moonpool_examples::bank::{Account, Outcome, Transfer};
use moonpool_examples::books::{Ran, check_books};
use moonpool_examples::cli::{data_dir, log_or_exit, parse_or_exit, socket_addr};

const ACCOUNTS: usize = 5;
const OPENING: i64 = 100;
/// How long a client keeps retrying one transfer, or one account's
/// opening, before it gives up.
const PATIENCE: Duration = Duration::from_secs(60);

/// Persistent bank accounts and transfers on a moonpool cluster.
///
/// Without a subcommand: a demo of three nodes in this process, one of
/// which leaves mid-run.
#[derive(Parser)]
#[command(name = "bank_account", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    role: Option<Role>,
    /// Where the demo keeps the account files (default: a temporary
    /// directory, removed afterwards).
    #[arg(long, value_name = "DIR", value_parser = data_dir)]
    data: Option<PathBuf>,
    /// How many random transfers the demo runs.
    #[arg(long, value_name = "N", default_value_t = 40)]
    transfers: u64,
}

#[derive(Subcommand)]
enum Role {
    /// Keep the account records in a directory and serve them to the nodes.
    Storage {
        /// Where to listen for nodes.
        #[arg(long, value_name = "ADDR", value_parser = socket_addr)]
        listen: SocketAddr,
        /// The directory of the records (created if missing; one storage
        /// process per directory).
        #[arg(long, value_name = "DIR", value_parser = data_dir)]
        data: PathBuf,
    },
    /// Host the bank's actors.
    #[command(group(clap::ArgGroup::new("state").required(true).args(["storage", "postgres"])))]
    Node {
        /// Where to listen for the cluster.
        #[arg(long, value_name = "ADDR", value_parser = socket_addr)]
        listen: SocketAddr,
        /// Any node of the cluster (none: this node starts the cluster and
        /// hosts its membership table).
        #[arg(long, value_name = "ADDR", value_parser = socket_addr, conflicts_with = "postgres")]
        seed: Option<SocketAddr>,
        /// The storage service every node of the cluster uses.
        #[arg(long, value_name = "ADDR", value_parser = socket_addr, conflicts_with = "postgres")]
        storage: Option<SocketAddr>,
        /// Keep the membership and the account records in this PostgreSQL
        /// database instead (a URL such as postgres://user@host:5432/db).
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        /// Serve the node's metrics (calls, activations, transport,
        /// membership) for Prometheus at http://ADDR/metrics.
        #[arg(long, value_name = "ADDR", value_parser = socket_addr)]
        metrics: Option<SocketAddr>,
    },
    /// Run random transfers against a cluster, then check the books.
    #[command(group(clap::ArgGroup::new("cluster").required(true).args(["seed", "postgres"])))]
    Client {
        /// Any node of the cluster.
        #[arg(long, value_name = "ADDR", value_parser = socket_addr, conflicts_with = "postgres")]
        seed: Option<SocketAddr>,
        /// The cluster's PostgreSQL database (where its membership is).
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        /// How many transfers.
        #[arg(long, value_name = "N", default_value_t = 40)]
        transfers: u64,
    },
}

fn tokio_providers() -> Result<Providers, String> {
    Providers::tokio().map_err(|e| e.to_string())
}

fn accounts() -> Vec<String> {
    (0..ACCOUNTS).map(|i| format!("acct-{i}")).collect()
}

/// The account files under `data`, for this process alone.
async fn open_state(data: &PathBuf) -> Result<DiskStorage, String> {
    let p = Providers::tokio_with_storage_root(data).map_err(|e| e.to_string())?;
    DiskStorage::open(p, "state")
        .await
        .map_err(|e| format!("{}: {e}", data.display()))
}

/// Where a node finds the cluster's membership.
enum Membership {
    /// On the node at this address (none: this node hosts it).
    Primary(Option<SocketAddr>),
    /// In the database.
    Database(PostgresMembership),
}

/// The bank's database.
async fn database(url: &str) -> Result<Postgres, String> {
    let config = PostgresConfig::new(url, "bank");
    Postgres::connect(tokio_providers()?, config)
        .await
        .map_err(|e| format!("cannot use the database: {e}"))
}

/// Starts a bank node on its membership, state storage and reminder
/// table (the ledger's sweeps are reminders).
async fn start_node(
    listen: SocketAddr,
    membership: Membership,
    storage: impl StateStorage,
    reminders: impl ReminderTable,
    metrics: bool,
) -> Result<Node, String> {
    let builder = Node::builder("bank")
        .listen(listen)
        .metrics(metrics)
        .providers(tokio_providers()?)
        .storage(storage)
        .reminders(reminders)
        .call_timeout(Duration::from_secs(5))
        .failure_detection(Duration::from_millis(300), Duration::from_millis(500), 3);
    let builder = match membership {
        Membership::Primary(Some(seed)) => builder.primary(seed),
        Membership::Primary(None) => builder.host_membership(),
        Membership::Database(table) => builder.membership(table),
    };
    builder.build().await.map_err(|e| e.to_string())
}

/// Returns, in words, once `node` can no longer take part in the cluster:
/// it lost the cluster's membership (the primary of this development
/// membership is gone), or the cluster declared it dead and it stopped
/// serving (start it again to rejoin, as a supervisor would).
async fn membership_lost(node: &Node, p: &Providers) -> String {
    loop {
        if let Some(e) = node.membership_lost() {
            return e.to_string();
        }
        if node.is_stopped() {
            return format!(
                "node {} was declared dead by the cluster and stopped serving; start it again to rejoin",
                node.id().addr
            );
        }
        p.sleep(Duration::from_millis(100)).await;
    }
}

/// An error that retrying will not cure.
fn hopeless(e: &CallError) -> bool {
    matches!(
        e,
        CallError::MembershipUnavailable { .. } | CallError::ShuttingDown
    )
}

/// Opens every account (opening again changes nothing).
async fn open_accounts(client: &Node, p: &Providers) -> Result<(), String> {
    for account in accounts() {
        let a = client.actor::<Account>(account.clone());
        let deadline = p.now() + PATIENCE;
        loop {
            let last = match a.open(OPENING).await {
                Ok(Ok(_)) => break,
                Ok(Err(e)) => e.to_string(),
                Err(e) if hopeless(&e) => return Err(e.to_string()),
                Err(e) => e.to_string(),
            };
            if p.now() >= deadline {
                return Err(format!(
                    "could not open {account} within {} s: {last}",
                    PATIENCE.as_secs()
                ));
            }
            p.sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Opens the accounts and runs `transfers` random transfers, each retried
/// with its id until it ends; `mid_run` runs meanwhile.
async fn run_transfers(
    client: &Node,
    transfers: u64,
    mid_run: impl std::future::Future<Output = ()>,
) -> Result<Vec<Ran>, String> {
    let p = tokio_providers()?;
    open_accounts(client, &p).await?;
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
            let id = base + k;
            let (from, to) = (format!("acct-{from}"), format!("acct-{to}"));
            let t = client.actor::<Transfer>(id.to_string());
            let deadline = q.now() + PATIENCE;
            loop {
                let last = match t.execute(from.clone(), to.clone(), amount).await {
                    Ok(Ok(outcome)) => {
                        return Ok(Ran {
                            id,
                            from,
                            to,
                            amount,
                            outcome,
                        });
                    }
                    Ok(Err(e)) => e.to_string(),
                    Err(e) if hopeless(&e) => return Err(e.to_string()),
                    Err(e) => e.to_string(),
                };
                if q.now() >= deadline {
                    return Err(format!(
                        "transfer {id} did not finish within {} s: {last}",
                        PATIENCE.as_secs()
                    ));
                }
                q.sleep(Duration::from_millis(200)).await;
            }
        }));
    }
    mid_run.await;
    let mut ran = Vec::new();
    for t in tasks {
        ran.push(t.await.map_err(|e| e.to_string())??);
    }
    Ok(ran)
}

/// Prints the transfers' outcome, checks the books and prints them;
/// returns an error in words if they do not balance.
async fn summary_and_books(client: &Node, ran: &[Ran]) -> Result<(), String> {
    let completed = ran
        .iter()
        .filter(|t| t.outcome == Outcome::Completed)
        .count();
    println!(
        "{} transfers: {completed} completed, {} rejected for insufficient funds",
        ran.len(),
        ran.len() - completed
    );
    let p = tokio_providers()?;
    let statements = check_books(
        client,
        &p,
        &accounts(),
        OPENING,
        ran,
        Duration::from_secs(10),
    )
    .await
    .map_err(|e| format!("the books do not balance: {e}"))?;
    println!("balances:");
    for (account, s) in &statements {
        println!("  {account}: {:>4}", s.balance);
    }
    let total: i64 = statements.iter().map(|(_, s)| s.balance).sum();
    println!(
        "total {total} (opened with {}); every transfer is in both its accounts or neither",
        ACCOUNTS as i64 * OPENING
    );
    println!("the books balance");
    Ok(())
}

async fn demo(data: Option<PathBuf>, transfers: u64) -> Result<(), String> {
    let (data, temporary) = match data {
        Some(dir) => (dir, false),
        None => (
            std::env::temp_dir().join(format!("moonpool-bank-{}", std::process::id())),
            true,
        ),
    };
    println!(
        "bank: 3 nodes on localhost, account files under {}",
        data.display()
    );
    let result = demo_in(&data, transfers).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&data);
    }
    result
}

async fn demo_in(data: &PathBuf, transfers: u64) -> Result<(), String> {
    // One store, shared by the three nodes of this process.
    let state = open_state(data).await?;
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    // The reminders in the same store.
    let reminders = StorageReminderTable::new(Arc::new(state.clone()));
    let first = start_node(
        any_port,
        Membership::Primary(None),
        state.clone(),
        reminders.clone(),
        false,
    )
    .await?;
    let primary = first.id().addr;
    let mut nodes = vec![first];
    for _ in 0..2 {
        let membership = Membership::Primary(Some(primary));
        nodes.push(
            start_node(
                any_port,
                membership,
                state.clone(),
                reminders.clone(),
                false,
            )
            .await?,
        );
    }
    for n in &nodes {
        println!("  node {}", n.id().addr);
    }
    let p = tokio_providers()?;
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
    let result = match run_transfers(&client, transfers, mid_run).await {
        Ok(ran) => summary_and_books(&client, &ran).await,
        Err(e) => Err(e),
    };
    // The first node holds the development membership: it goes last, so
    // the other can still mark itself leaving and left in it.
    for n in nodes[..2].iter().rev() {
        n.shutdown().await;
    }
    result
}

async fn storage(listen: SocketAddr, data: PathBuf) -> Result<(), String> {
    let state = open_state(&data).await?;
    let p = tokio_providers()?;
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
    storage: Option<SocketAddr>,
    postgres: Option<String>,
    metrics: Option<SocketAddr>,
) -> Result<(), String> {
    let p = tokio_providers()?;
    if let Some(addr) = metrics {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        println!("metrics at http://{addr}/metrics");
    }
    let metrics = metrics.is_some();
    let node = match (postgres, storage) {
        (Some(url), _) => {
            let db = database(&url).await?;
            let membership = Membership::Database(PostgresMembership::new(&db));
            let reminders = PostgresReminderTable::new(&db);
            start_node(
                listen,
                membership,
                PostgresStorage::new(&db),
                reminders,
                metrics,
            )
            .await?
        }
        (None, Some(storage)) => {
            let local = SocketAddr::new(listen.ip(), 0);
            let state =
                RemoteStorage::connect(p.clone(), local, storage, "bank", Duration::from_secs(3))
                    .await
                    .map_err(|e| format!("cannot reach the storage service at {storage}: {e}"))?;
            let reminders = StorageReminderTable::new(Arc::new(state.clone()));
            start_node(listen, Membership::Primary(seed), state, reminders, metrics).await?
        }
        (None, None) => return Err("a node needs --storage or --postgres".to_string()),
    };
    println!("node {} serving (Ctrl-C to stop)", node.id().addr);
    tokio::select! {
        stop = tokio::signal::ctrl_c() => {
            stop.map_err(|e| e.to_string())?;
            println!(
                "stopping: deactivating {} activations",
                node.activation_count()
            );
            node.shutdown().await;
            Ok(())
        }
        lost = membership_lost(&node, &p) => Err(lost),
    }
}

async fn client(
    seed: Option<SocketAddr>,
    postgres: Option<String>,
    transfers: u64,
) -> Result<(), String> {
    let p = tokio_providers()?;
    let loopback: std::net::IpAddr = match seed {
        Some(seed) if seed.is_ipv6() => std::net::Ipv6Addr::LOCALHOST.into(),
        _ => [127, 0, 0, 1].into(),
    };
    let builder = Node::builder("bank")
        .providers(p.clone())
        .listen(SocketAddr::new(loopback, 0));
    let builder = match (postgres, seed) {
        (Some(url), _) => builder.membership(PostgresMembership::new(&database(&url).await?)),
        (None, Some(seed)) => builder.primary(seed),
        (None, None) => return Err("a client needs --seed or --postgres".to_string()),
    };
    let client = builder
        .client_only()
        .call_timeout(Duration::from_secs(5))
        .failure_detection(Duration::from_millis(300), Duration::from_millis(500), 3)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let work = async {
        let ran = run_transfers(&client, transfers, async {}).await?;
        summary_and_books(&client, &ran).await
    };
    let result = tokio::select! {
        done = work => done,
        lost = membership_lost(&client, &p) => Err(lost),
    };
    client.shutdown().await;
    result
}

fn main() {
    let cli: Cli = parse_or_exit("bank_account", std::env::args_os());
    // Nodes and the storage server tell the operator what happens in the
    // cluster (members joining, leaving, declared dead; directory
    // handoffs); the demo and the client print only their own report.
    let default_log = match cli.role {
        Some(Role::Node { .. } | Role::Storage { .. }) => "info",
        None | Some(Role::Client { .. }) => "warn",
    };
    log_or_exit("bank_account", default_log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bank_account: cannot start tokio: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.role {
            None => demo(cli.data, cli.transfers).await,
            Some(Role::Storage { listen, data }) => storage(listen, data).await,
            Some(Role::Node {
                listen,
                seed,
                storage,
                postgres,
                metrics,
            }) => node(listen, seed, storage, postgres, metrics).await,
            Some(Role::Client {
                seed,
                postgres,
                transfers,
            }) => client(seed, postgres, transfers).await,
        }
    });
    if let Err(e) = result {
        eprintln!("bank_account: {e}");
        std::process::exit(1);
    }
}
