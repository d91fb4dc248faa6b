//! A first look at moonpool's simulator: search 300 seeds for a race,
//! replay the failing seed bit for bit, then show the fix survives every seed.
//!
//! Run it with `cargo run --example sim_quickstart`.

use clap::Parser;
use moonpool::Simulation;
use moonpool_examples::cli::{log_or_exit, parse_or_exit};
use moonpool_examples::overdraft::{Guard, run};

/// A first look at moonpool's simulator: search seeds for a race, replay
/// the failing seed bit for bit, then show the fix survives every seed.
#[derive(Parser)]
#[command(name = "sim_quickstart")]
struct Cli {
    /// How many seeds to search (from seed 0).
    #[arg(long, value_name = "N", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    seeds: u64,
}

fn main() {
    let Cli { seeds } = parse_or_exit("sim_quickstart", std::env::args_os());
    log_or_exit("sim_quickstart", "warn");
    println!("moonpool simulator quickstart: 3 clients each withdraw 60 from a balance of 100\n");

    // 1. Search for a seed that breaks the unguarded version.
    let mut first_failure = None;
    let mut failures = 0;
    for seed in 0..seeds {
        let report = match Simulation::new(seed).run(|sim| run(sim, 3, Guard::None)) {
            Ok(report) => report,
            Err(failure) => {
                eprintln!("simulation failed: {failure}");
                std::process::exit(1);
            }
        };
        if report.output.balance < 0 {
            failures += 1;
            first_failure.get_or_insert(report);
        }
    }
    let Some(bad) = first_failure else {
        if seeds < 300 {
            println!("no overdraft in {seeds} seeds: the race is rare; try more (--seeds 300)");
            return;
        }
        eprintln!("sim_quickstart: no overdraft in {seeds} seeds (unexpected: the race is real)");
        std::process::exit(1);
    };
    println!("without a lock: {failures} of {seeds} seeds overdraw the account");
    println!(
        "  first: seed {} ends with balance {} after {} withdrawals were granted",
        bad.seed, bad.output.balance, bad.output.granted
    );

    // 2. The seed is the whole story: running it again replays every event.
    let again = match Simulation::new(bad.seed).run(|sim| run(sim, 3, Guard::None)) {
        Ok(report) => report,
        Err(failure) => {
            eprintln!("replay failed: {failure}");
            std::process::exit(1);
        }
    };
    println!(
        "  replaying seed {}: trace hash {:#018x} then {:#018x} -> {}",
        bad.seed,
        bad.trace_hash,
        again.trace_hash,
        if again.trace_hash == bad.trace_hash && again.output == bad.output {
            "identical"
        } else {
            "DIFFERENT (non-determinism!)"
        }
    );

    // 3. The fix holds on every seed.
    let mut worst = i64::MAX;
    for seed in 0..seeds {
        match Simulation::new(seed).run(|sim| run(sim, 3, Guard::Lock)) {
            Ok(report) => worst = worst.min(report.output.balance),
            Err(failure) => {
                eprintln!("simulation failed: {failure}");
                std::process::exit(1);
            }
        }
    }
    println!("with a lock:    0 of {seeds} seeds overdraw (lowest final balance {worst})");
    if worst < 0 {
        std::process::exit(1);
    }
    println!("\nIn a test, #[moonpool::sim_test(seeds = 500)] does this search for you and prints");
    println!("the one command that replays a failing seed.");
}
