//! Two nodes on localhost TCP host greeters; one node leaves and its
//! greeters come back on the other.
//!
//! Run it with `cargo run --example hello_actor`.

use std::time::Duration;

use clap::Parser;
use moonpool::prelude::*;
use moonpool::runtime::node::InMemoryMembership;
use moonpool_examples::cli::{log_or_exit, parse_or_exit};
use moonpool_examples::hello::Greeter;

/// Two nodes on localhost TCP host greeters; one node leaves and its
/// greeters come back on the other.
#[derive(Parser)]
#[command(name = "hello_actor")]
struct Cli {}

async fn run() -> Result<(), String> {
    let table = InMemoryMembership::new();
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let node = Node::builder("hello")
            .listen("127.0.0.1:0".parse().map_err(|e| format!("{e}"))?)
            .membership(table.clone())
            .failure_detection(Duration::from_millis(200), Duration::from_millis(500), 3)
            .build()
            .await
            .map_err(|e| e.to_string())?;
        println!("node {} is up", node.id().addr);
        nodes.push(node);
    }
    let p = Providers::tokio().map_err(|e| e.to_string())?;
    while nodes.iter().any(|n| n.live_members().len() < 2) {
        p.sleep(Duration::from_millis(20)).await;
    }

    let names = ["alice", "bob", "carol", "dave"];
    println!("\ngreeting from node {}:", nodes[0].id().addr);
    for name in names {
        let g = nodes[0]
            .actor::<Greeter>(name)
            .greet()
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "  {:<14} greeting #{} from the activation on {}",
            g.text, g.count, g.node
        );
    }
    for name in names {
        let g = nodes[1]
            .actor::<Greeter>(name)
            .greet()
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "  {:<14} greeting #{} from the activation on {} (called from the other node)",
            g.text, g.count, g.node
        );
    }

    let leaving = nodes.remove(1);
    let moved: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| leaving.hosts(&ActorId::of::<Greeter>(*n)))
        .collect();
    println!(
        "\nnode {} shuts down, deactivating {:?}",
        leaving.id().addr,
        moved
    );
    leaving.shutdown().await;
    p.sleep(Duration::from_millis(300)).await;

    println!("greeting again from node {}:", nodes[0].id().addr);
    for name in names {
        let g = nodes[0]
            .actor::<Greeter>(name)
            .greet()
            .await
            .map_err(|e| e.to_string())?;
        let note = if moved.contains(&name) {
            " (reactivated here)"
        } else {
            ""
        };
        println!(
            "  {:<14} greeting #{} from the activation on {}{}",
            g.text, g.count, g.node, note
        );
    }
    nodes[0].shutdown().await;
    println!("\ndone");
    Ok(())
}

fn main() {
    let Cli {} = parse_or_exit("hello_actor", std::env::args_os());
    log_or_exit("hello_actor", "warn");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hello_actor: cannot start tokio: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run()) {
        eprintln!("hello_actor: {e}");
        std::process::exit(1);
    }
}
