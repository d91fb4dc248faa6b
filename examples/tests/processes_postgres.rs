//! The bank on PostgreSQL as a user runs it: three node processes and a
//! client, all with `--postgres`, on 127.0.0.1 ports. Any node — the first
//! one too — is killed with SIGKILL while transfers run; the survivors
//! declare it dead, its accounts come back elsewhere, the client's books
//! balance and it exits 0; the killed node restarts and joins as a new
//! incarnation. Needs `MOONPOOL_POSTGRES_URL` (a database it may create a
//! schema in); skipped, with a line saying so, without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// tests fail loudly by design
// Real OS processes and a real database, on wall-clock time.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::time::Duration;

mod procs;
use procs::{Proc, START, args, free_port};

/// The test database's URL, or `None` after saying how to set it.
fn postgres_url() -> Option<String> {
    match std::env::var("MOONPOOL_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "skipped: the PostgreSQL process test needs MOONPOOL_POSTGRES_URL=postgres://user@host:port/database \
                 (scripts/postgres-scratch create makes one; .ci/run sets it)"
            );
            None
        }
    }
}

/// Drops the bank's schema, so each run starts from an empty cluster.
fn drop_bank_schema(url: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let conn = tokio::spawn(conn);
        client
            .batch_execute("DROP SCHEMA IF EXISTS moonpool_bank CASCADE")
            .await
            .unwrap();
        drop(client);
        let _ = conn.await;
    });
}

fn kill_one_node_while_transfers_run(url: &str, victim: usize) {
    drop_bank_schema(url);
    let addrs: Vec<String> = (0..3).map(|_| free_port().to_string()).collect();
    let node_args = |listen: &str| args(&["node", "--listen", listen, "--postgres", url]);
    let mut nodes: Vec<Proc> = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let node = Proc::start(&format!("node {i}"), &node_args(addr));
        node.wait_for("serving", START);
        nodes.push(node);
    }
    let mut client = Proc::start(
        "client",
        &args(&["client", "--postgres", url, "--transfers", "80"]),
    );
    std::thread::sleep(Duration::from_millis(1200));
    nodes[victim].kill();
    std::thread::sleep(Duration::from_millis(1500));
    let restarted = Proc::start(
        &format!("node {victim} (restarted)"),
        &node_args(&addrs[victim]),
    );
    restarted.wait_for("serving", START);
    let status = client.exit_within(Duration::from_secs(120));
    let out = client.output();
    assert!(
        status.success(),
        "the client failed (node {victim} killed):\n{out}"
    );
    assert!(out.contains("the books balance"), "{out}");
    // The survivors kept serving throughout.
    for (i, node) in nodes.iter_mut().enumerate().filter(|(i, _)| *i != victim) {
        assert!(
            node.child.try_wait().unwrap().is_none(),
            "node {i} exited:\n{}",
            node.output()
        );
    }
    // The killed life is dead in the table; the restarted one alive.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows: Vec<(String, String)> = runtime.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let conn = tokio::spawn(conn);
        let rows = client
            .query(
                "SELECT address, status FROM moonpool_bank.members WHERE address = $1",
                &[&addrs[victim]],
            )
            .await
            .unwrap();
        drop(client);
        let _ = conn.await;
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    });
    let statuses: Vec<&str> = rows.iter().map(|(_, s)| s.as_str()).collect();
    assert!(
        statuses.contains(&"dead") && statuses.contains(&"alive"),
        "rows of the killed node's address: {rows:?}"
    );
    drop(restarted);
    drop(nodes);
    drop_bank_schema(url);
}

#[test]
fn any_node_of_a_postgres_bank_may_die() {
    let Some(url) = postgres_url() else { return };
    // The first node (which started the cluster), then another.
    for victim in [0, 2] {
        kill_one_node_while_transfers_run(&url, victim);
    }
}
