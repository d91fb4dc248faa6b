use moonpool::prelude::*;

fn check(balance: i64, retries: u32) -> bool {
    always!(balance >= 0, "balance is never negative");
    always_or_unreachable!(retries < 10, "retries are bounded");
    sometimes!(retries > 0, "a request is retried");
    reachable!("check ran");
    always_lt!(retries, 100, "retries below a hundred");
    always_le!(retries, 100, "retries at most a hundred");
    always_gt!(balance + 1, balance, "adding one grows");
    always_ge!(balance, 0, "balance at least zero");
    always_eq!(retries, retries, "equal to itself");
    always_ne!(retries, retries + 1, "differs from its successor");
    sometimes_lt!(retries, 1, "no retries");
    sometimes_le!(retries, 1, "at most one retry");
    sometimes_gt!(retries, 1, "many retries");
    sometimes_ge!(retries, 1, "some retries");
    sometimes_eq!(retries, 2, "exactly two retries");
    sometimes_ne!(retries, 2, "not two retries");
    if balance > 1_000_000 {
        moonpool::sim::unreachable!("balances stay small");
    }
    buggify!() || buggify!(0.01)
}

fn main() {
    assert!(!check(5, 1));
}
