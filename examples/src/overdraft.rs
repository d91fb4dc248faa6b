//! A check-then-act race, the classic distributed-systems bug, small enough
//! to read in a minute.
//!
//! An account holds 100. Several clients each withdraw 60 through a
//! "service" that checks the balance, pays a simulated network round trip,
//! then debits. With [`Guard::None`] two withdrawals can both pass the check
//! before either debits, and the balance goes negative, but only under
//! some interleavings and latencies: exactly what a seed search finds. With
//! [`Guard::Lock`] the check and the debit happen under one lock.

use std::sync::Arc;
use std::time::Duration;

use moonpool::{Providers, SimContext};

/// How the withdrawal protects its check-then-act.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard {
    /// No protection: the bug.
    None,
    /// Check and debit under one async lock: the fix.
    Lock,
}

/// The outcome of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The final balance.
    pub balance: i64,
    /// Withdrawals that succeeded.
    pub granted: u32,
    /// Withdrawals that were refused for lack of funds.
    pub refused: u32,
}

struct Account {
    balance: tokio::sync::Mutex<i64>,
}

async fn withdraw(p: &Providers, account: &Account, amount: i64, guard: Guard) -> bool {
    let latency = || p.random_duration(Duration::from_millis(1), Duration::from_millis(5));
    match guard {
        Guard::None => {
            let enough = *account.balance.lock().await >= amount;
            p.sleep(latency()).await; // the round trip between check and act
            if enough {
                *account.balance.lock().await -= amount;
            }
            enough
        }
        Guard::Lock => {
            let mut balance = account.balance.lock().await;
            let enough = *balance >= amount;
            p.sleep(latency()).await;
            if enough {
                *balance -= amount;
            }
            enough
        }
    }
}

/// Runs `clients` concurrent withdrawals of 60 from 100, each from its own
/// simulated process, and returns what happened.
///
/// # Example
///
/// ```
/// use moonpool::Simulation;
/// use moonpool_examples::overdraft::{run, Guard};
///
/// let outcome = Simulation::new(1).run(|sim| run(sim, 3, Guard::Lock)).unwrap().output;
/// assert_eq!(outcome.granted, 1);
/// assert_eq!(outcome.balance, 40);
/// ```
pub async fn run(sim: SimContext, clients: u32, guard: Guard) -> Outcome {
    let account = Arc::new(Account {
        balance: tokio::sync::Mutex::new(100),
    });
    let mut handles = Vec::new();
    for c in 0..clients {
        let client = sim.add_process(format!("client-{c}"));
        let p = sim.providers_for(client);
        let account = Arc::clone(&account);
        handles.push(sim.spawn_in(client, "withdraw", async move {
            // Clients start at different moments.
            p.sleep(p.random_duration(Duration::ZERO, Duration::from_millis(300)))
                .await;
            withdraw(&p, &account, 60, guard).await
        }));
    }
    let mut outcome = Outcome {
        balance: 0,
        granted: 0,
        refused: 0,
    };
    for h in handles {
        match h.await {
            Ok(true) => outcome.granted += 1,
            Ok(false) | Err(_) => outcome.refused += 1,
        }
    }
    outcome.balance = *account.balance.lock().await;
    outcome
}
