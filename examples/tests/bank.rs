//! The bank under simulation: clients transfer money while nodes crash and
//! restart, links partition and heal, and the storage service restarts.
//! Money is conserved at every step (counting transfers debited but not yet
//! credited), no balance goes negative, and after recovery every transfer
//! was applied exactly once or not at all.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::{Backend, Shape, run_bank};
use moonpool::prelude::*;
use moonpool::runtime::state::InMemoryStorage;
use moonpool_examples::bank::Account;

#[moonpool::sim_test(seeds = 500, coverage = "strict", coverage_of = ["moonpool_examples::bank", "bank"])]
async fn money_is_conserved_and_transfers_apply_exactly_once(sim: SimContext) {
    run_bank(sim, Backend::Audited(InMemoryStorage::new()), Shape::TEST).await;
}

#[moonpool::sim_test(seeds = 200)]
async fn books_balance_after_storage_disk_crashes(sim: SimContext) {
    run_bank(sim, Backend::Disk, Shape::TEST).await;
}

/// A step's copy can arrive late (sent on a connection that was given up
/// as lost, delivered after the retry was answered). Whatever the account
/// first decided for a step — applied or refused — a later copy gets the
/// same answer: the transfer has already acted on it.
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_late_copy_of_a_refused_step_is_refused_too(sim: SimContext) {
    let node = Node::builder("bank")
        .listen("10.0.0.1:7000".parse().unwrap())
        .providers(sim.providers())
        .storage(InMemoryStorage::new())
        .build()
        .await
        .unwrap();
    let a = node.actor::<Account>("a");
    assert_eq!(a.open(10).await.unwrap(), Ok(10));
    let refused = a.apply(7, -25).await.unwrap();
    assert!(matches!(
        refused,
        Err(moonpool_examples::bank::BankError::InsufficientFunds { .. })
    ));
    // Money arrives; then the late copy of step 7.
    assert_eq!(a.apply(8, 40).await.unwrap(), Ok(50));
    let late = a.apply(7, -25).await.unwrap();
    assert!(
        matches!(
            late,
            Err(moonpool_examples::bank::BankError::InsufficientFunds { .. })
        ),
        "a refused step was applied by a late copy: {late:?}"
    );
    assert_eq!(a.balance().await.unwrap(), 50);
}

/// The incremental audit follows a record cleared from the store (the bank
/// itself never clears one): the account leaves the books.
#[moonpool::sim_test(seeds = 1, faults = "calm")]
async fn the_audit_forgets_a_cleared_account(_sim: SimContext) {
    use moonpool::runtime::state::StateStorage as _;
    use moonpool_examples::bank::AccountState;
    let store = InMemoryStorage::new();
    let opened = |balance| AccountState {
        opened: true,
        balance,
        ..AccountState::default()
    };
    let id = |key: &str| ActorId {
        type_name: "Account".into(),
        key: key.into(),
    };
    store
        .write(&id("a"), postcard::to_allocvec(&opened(30)).unwrap(), None)
        .await
        .unwrap();
    let b = store
        .write(&id("b"), postcard::to_allocvec(&opened(70)).unwrap(), None)
        .await
        .unwrap();
    let mut audit = common::Audit::default();
    audit.refresh(&store).unwrap();
    assert_eq!((audit.opened(), audit.totals().unwrap()), (2, (100, 30)));
    store.clear(&id("b"), Some(b)).await.unwrap();
    audit.refresh(&store).unwrap();
    assert_eq!((audit.opened(), audit.totals().unwrap()), (1, (30, 30)));
}
