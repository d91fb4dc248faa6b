//! Checking the bank's books from a client: the money in the accounts is
//! what they were opened with, and every transfer the client ran is in both
//! of its accounts (completed) or in neither (rejected).

use std::time::Duration;

use moonpool::prelude::*;

use crate::bank::{Account, Outcome, Statement};

/// A transfer a client ran to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ran {
    /// The transfer id.
    pub id: u64,
    /// Source account key.
    pub from: String,
    /// Target account key.
    pub to: String,
    /// Amount.
    pub amount: i64,
    /// How it ended.
    pub outcome: Outcome,
}

/// Why the books do not balance.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BooksError {
    /// An account could not be read.
    #[error("cannot read account {account}: {reason}")]
    Unreadable {
        /// The account.
        account: String,
        /// The last error.
        reason: String,
    },
    /// The accounts hold more or less than the bank opened them with.
    #[error("the accounts hold {total}, but they were opened with {expected} in all: money was {verb}", verb = if total > expected { "created" } else { "lost" })]
    Unbalanced {
        /// The money in the accounts.
        total: i64,
        /// The money they were opened with.
        expected: i64,
    },
    /// A transfer is in one of its accounts but not the other, or in an
    /// account it should not be in.
    #[error("transfer {id} ({from} -> {to}, {amount}) ended {outcome:?}, but {problem}")]
    Inconsistent {
        /// The transfer id.
        id: u64,
        /// Source account.
        from: String,
        /// Target account.
        to: String,
        /// Amount.
        amount: i64,
        /// How the coordinator said it ended.
        outcome: Outcome,
        /// What the accounts show instead.
        problem: String,
    },
}

/// Reads every account's statement (each read tried until `patience`
/// runs out), and checks the books: the accounts hold `accounts.len() ×
/// opening`, and each transfer in `ran` is applied to both its accounts if
/// it completed, to neither if it was rejected. Money a transfer of some
/// other client has debited but not yet credited makes the total short for
/// a moment: the total is read again until it balances or `patience` runs
/// out.
///
/// # Errors
///
/// The first thing found wrong, in words.
pub async fn check_books(
    node: &Node,
    providers: &Providers,
    accounts: &[String],
    opening: i64,
    ran: &[Ran],
    patience: Duration,
) -> Result<Vec<(String, Statement)>, BooksError> {
    let deadline = providers.now() + patience;
    let expected = opening * accounts.len() as i64;
    loop {
        let statements = read_statements(node, providers, accounts, deadline).await?;
        for t in ran {
            check_transfer(t, &statements)?;
        }
        let total: i64 = statements.iter().map(|(_, s)| s.balance).sum();
        if total == expected {
            return Ok(statements);
        }
        if providers.now() >= deadline {
            return Err(BooksError::Unbalanced { total, expected });
        }
        tracing::info!(
            total,
            expected,
            "the books do not balance yet; reading them again"
        );
        providers.sleep(Duration::from_millis(300)).await;
    }
}

async fn read_statements(
    node: &Node,
    providers: &Providers,
    accounts: &[String],
    deadline: moonpool::Instant,
) -> Result<Vec<(String, Statement)>, BooksError> {
    let mut statements = Vec::new();
    for account in accounts {
        let a = node.actor::<Account>(account.clone());
        let statement = loop {
            match a.statement().await {
                Ok(s) => break s,
                Err(e) if providers.now() >= deadline => {
                    return Err(BooksError::Unreadable {
                        account: account.clone(),
                        reason: e.to_string(),
                    });
                }
                Err(e) => {
                    tracing::info!(%account, error = %e, "reading an account failed; trying again");
                    providers.sleep(Duration::from_millis(200)).await;
                }
            }
        };
        statements.push((account.clone(), statement));
    }
    Ok(statements)
}

fn check_transfer(t: &Ran, statements: &[(String, Statement)]) -> Result<(), BooksError> {
    let step = |account: &str| {
        statements
            .iter()
            .find(|(k, _)| k == account)
            .and_then(|(_, s)| s.applied.get(&t.id).copied())
    };
    let (debit, credit) = (step(&t.from), step(&t.to));
    let problem = match (t.outcome, debit, credit) {
        (Outcome::Completed, Some(d), Some(c)) if d == -t.amount && c == t.amount => None,
        (Outcome::Rejected, None, None) => None,
        (_, d, c) => Some(format!(
            "{} shows {} and {} shows {}",
            t.from,
            describe(d),
            t.to,
            describe(c)
        )),
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(BooksError::Inconsistent {
            id: t.id,
            from: t.from.clone(),
            to: t.to.clone(),
            amount: t.amount,
            outcome: t.outcome,
            problem,
        }),
    }
}

fn describe(step: Option<i64>) -> String {
    match step {
        None => "no step of it".to_string(),
        Some(d) => format!("a step of {d}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(balance: i64, applied: &[(u64, i64)]) -> Statement {
        Statement {
            balance,
            applied: applied.iter().copied().collect(),
        }
    }

    fn ran(outcome: Outcome) -> Ran {
        Ran {
            id: 7,
            from: "a".into(),
            to: "b".into(),
            amount: 5,
            outcome,
        }
    }

    #[test]
    fn a_transfer_must_be_in_both_accounts_or_neither() {
        let both = [
            ("a".to_string(), statement(95, &[(7, -5)])),
            ("b".to_string(), statement(105, &[(7, 5)])),
        ];
        let debit_only = [
            ("a".to_string(), statement(95, &[(7, -5)])),
            ("b".to_string(), statement(100, &[])),
        ];
        let neither = [
            ("a".to_string(), statement(100, &[])),
            ("b".to_string(), statement(100, &[])),
        ];
        assert_eq!(check_transfer(&ran(Outcome::Completed), &both), Ok(()));
        assert_eq!(check_transfer(&ran(Outcome::Rejected), &neither), Ok(()));
        let e = check_transfer(&ran(Outcome::Completed), &debit_only).unwrap_err();
        assert_eq!(
            e.to_string(),
            "transfer 7 (a -> b, 5) ended Completed, but a shows a step of -5 and b shows no step of it"
        );
        assert!(check_transfer(&ran(Outcome::Rejected), &both).is_err());
        assert!(check_transfer(&ran(Outcome::Completed), &neither).is_err());
    }

    #[test]
    fn unbalanced_books_say_which_way() {
        let lost = BooksError::Unbalanced {
            total: 418,
            expected: 500,
        };
        assert!(lost.to_string().ends_with("money was lost"), "{lost}");
        let made = BooksError::Unbalanced {
            total: 518,
            expected: 500,
        };
        assert!(made.to_string().ends_with("money was created"), "{made}");
    }
}
