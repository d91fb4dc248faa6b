//! The bank of `bank_account`: persistent accounts and a transfer protocol
//! that neither creates nor loses money, and never applies a transfer
//! twice, even when calls time out and are retried or nodes crash midway.
//!
//! The protocol:
//!
//! - every transfer has a unique id, chosen by the client, and is driven by
//!   a [`Transfer`] actor with that id, whose progress is persisted
//!   (`Started` → `Debited` → `Done`, or `Rejected`);
//! - the coordinator debits the source account, then credits the target,
//!   each step with [`Account::apply`] keyed by the transfer id: an account
//!   remembers what it decided for each id — applied, or refused for lack
//!   of funds — so a repeated step (a retry after a lost reply, a copy that
//!   arrives late on a connection given up as lost, or a coordinator
//!   resumed after a crash) gets the same answer and changes nothing;
//! - a client that sees an error simply calls [`Transfer::execute`] again
//!   with the same id: the coordinator resumes where its persisted state
//!   says it was;
//! - a client that goes away is not needed either: before a transfer
//!   starts, its order is written to a [`Ledger`] of open transfers, and
//!   a ledger shard holding open transfers has a durable reminder
//!   ([`SWEEP_EVERY`]) whose ticks drive each of them to its end, whatever
//!   crashed in between; a transfer that ends takes itself off the
//!   ledger.
//!
//! So at any moment, the money in the accounts plus the money of transfers
//! debited but not yet credited equals the money the bank started with,
//! and every transfer that started ends, whoever asked for it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use moonpool::prelude::*;
use serde::{Deserialize, Serialize};

/// Why a bank operation did not complete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum BankError {
    /// The source account holds less than the amount.
    #[error("insufficient funds: balance {balance}, needed {needed}")]
    InsufficientFunds {
        /// The balance.
        balance: i64,
        /// The amount asked for.
        needed: i64,
    },
    /// The transfer id was first used with other parameters.
    #[error("transfer {0} already exists with other parameters")]
    Mismatch(u64),
    /// A step failed for a reason that may pass (storage, network): retry
    /// with the same transfer id.
    #[error("temporary failure, retry: {0}")]
    Retry(String),
}

/// An account's persisted state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AccountState {
    /// Whether the account was opened.
    pub opened: bool,
    /// The balance.
    pub balance: i64,
    /// Transfer ids applied to this account, with their amount (negative
    /// for debits).
    pub applied: BTreeMap<u64, i64>,
    /// Transfer ids whose debit was refused for lack of funds: the
    /// transfer was rejected on that answer, so a later copy of the step is
    /// refused too, whatever the balance by then.
    pub refused: BTreeSet<u64>,
}

/// What an account holds, for an audit (see [`Account::statement`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// The balance.
    pub balance: i64,
    /// Transfer ids applied, with their amount (negative for debits).
    pub applied: BTreeMap<u64, i64>,
}

/// A bank account.
#[moonpool::actor(state, idle_timeout = "2m")]
pub struct Account {
    #[state]
    state: Persisted<AccountState>,
}

#[moonpool::actor_impl]
impl Account {
    /// Opens the account with `amount`; opening again changes nothing.
    pub async fn open(&mut self, amount: i64) -> Result<i64, BankError> {
        if !self.state.opened {
            self.persist(|s| {
                s.opened = true;
                s.balance = amount;
            })
            .await?;
        }
        Ok(self.state.balance)
    }

    /// Applies step `transfer` (`delta` < 0: debit) once. The decision is
    /// final: a repeat of an applied step returns the balance without
    /// changing it, and a repeat of a refused one is refused again.
    pub async fn apply(&mut self, transfer: u64, delta: i64) -> Result<i64, BankError> {
        if self.state.applied.contains_key(&transfer) {
            moonpool::sometimes!(true, "a transfer step was repeated and absorbed");
            return Ok(self.state.balance);
        }
        let insufficient = |balance: i64| BankError::InsufficientFunds {
            balance,
            needed: -delta,
        };
        if self.state.refused.contains(&transfer) {
            moonpool::sometimes!(
                true,
                "a refused transfer step was repeated and refused again"
            );
            return Err(insufficient(self.state.balance));
        }
        if self.state.balance + delta < 0 {
            // Remembered before the answer leaves: the transfer will be
            // rejected on it.
            self.persist(|s| {
                s.refused.insert(transfer);
            })
            .await?;
            return Err(insufficient(self.state.balance));
        }
        self.persist(|s| {
            s.balance += delta;
            s.applied.insert(transfer, delta);
        })
        .await?;
        Ok(self.state.balance)
    }

    /// The balance.
    pub async fn balance(&self) -> i64 {
        self.state.balance
    }

    /// The balance and every transfer step applied, for an audit.
    pub async fn statement(&self) -> Statement {
        Statement {
            balance: self.state.balance,
            applied: self.state.applied.clone(),
        }
    }

    /// Changes and saves the state as one step. On failure the write may
    /// or may not have landed; memory does not keep the change either way,
    /// and the caller retries with the same transfer id.
    async fn persist(&mut self, change: impl FnOnce(&mut AccountState)) -> Result<(), BankError> {
        self.state.update(change).await.map_err(|e| {
            moonpool::sometimes!(true, "an account save failed and was rolled back");
            BankError::Retry(e.to_string())
        })
    }
}

/// Where a transfer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Recorded; nothing moved yet.
    Started,
    /// Debited from the source; not yet credited.
    Debited,
    /// Credited: complete.
    Done,
    /// Refused (insufficient funds); nothing moved.
    Rejected,
}

/// A transfer's persisted record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRecord {
    /// Source account key.
    pub from: String,
    /// Target account key.
    pub to: String,
    /// Amount.
    pub amount: i64,
    /// Progress.
    pub phase: Phase,
}

/// What a transfer was asked to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferOrder {
    /// Source account key.
    pub from: String,
    /// Target account key.
    pub to: String,
    /// Amount.
    pub amount: i64,
}

/// How many [`Ledger`] shards hold the open transfers.
pub const LEDGER_SHARDS: u64 = 4;

/// The key of the ledger shard that holds transfer `id`.
pub fn ledger_key(id: u64) -> String {
    format!("open-{}", id % LEDGER_SHARDS)
}

/// How often a ledger shard with open transfers sweeps them (its
/// reminder's period).
pub const SWEEP_EVERY: Duration = Duration::from_secs(2);

/// The name of a ledger shard's sweep reminder.
pub const SWEEP_REMINDER: &str = "sweep";

/// One shard of the open transfers: each transfer's order is written here
/// before it starts, and taken off once it has ended. From its first
/// order on, its `sweep` reminder ticks every [`SWEEP_EVERY`] and drives
/// each open one to its end: the transfers nobody is driving any more are
/// finished, even after every node that knew of them crashed.
#[moonpool::actor(state, idle_timeout = "5m")]
pub struct Ledger {
    #[state]
    open: Persisted<BTreeMap<u64, TransferOrder>>,
    /// Whether this activation has made sure the sweep reminder exists.
    sweeping: bool,
    /// Set while a sweep of this shard runs (a slow sweep is not joined
    /// by the next tick's).
    sweep_running: Arc<AtomicBool>,
}

#[moonpool::actor_impl]
impl Ledger {
    /// Records transfer `id` as open (again: no change), after making sure
    /// the shard's sweep reminder exists.
    pub async fn open(
        &mut self,
        ctx: &ActorContext,
        id: u64,
        order: TransferOrder,
    ) -> Result<(), BankError> {
        if self.open.get(&id).is_some_and(|known| *known != order) {
            return Err(BankError::Mismatch(id));
        }
        if !self.sweeping {
            // The reminder first: an order on the ledger must never be
            // without a sweep.
            ctx.register_reminder(SWEEP_REMINDER, SWEEP_EVERY, SWEEP_EVERY)
                .await
                .map_err(|e| BankError::Retry(e.to_string()))?;
            self.sweeping = true;
        }
        if !self.open.contains_key(&id) {
            self.open
                .update(|open| {
                    open.insert(id, order);
                })
                .await
                .map_err(|e| BankError::Retry(e.to_string()))?;
        }
        Ok(())
    }

    /// Takes transfer `id` off the ledger (absent: no change).
    pub async fn close(&mut self, id: u64) -> Result<(), BankError> {
        if !self.open.contains_key(&id) {
            return Ok(());
        }
        self.open
            .update(|open| {
                open.remove(&id);
            })
            .await
            .map_err(|e| BankError::Retry(e.to_string()))
    }

    /// The open transfers, oldest id first.
    pub async fn pending(&self) -> Vec<(u64, TransferOrder)> {
        self.open.iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    /// The sweep: drives every open transfer of this shard to its end, in
    /// a task of its own (a transfer that ends closes itself here, which
    /// it could not do while this turn waited for it). The reminder stays
    /// while the shard is empty: removing it safely would need to know no
    /// order is on its way to storage, and an idle tick costs little.
    async fn on_reminder(&mut self, ctx: &ActorContext, _tick: ReminderTick) {
        // Sweep what storage holds, not what this activation last saw.
        if self.open.reload().await.is_err() || self.open.is_empty() {
            return;
        }
        let Some(node) = ctx.node() else { return };
        if self.sweep_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let open: Vec<(u64, TransferOrder)> =
            self.open.iter().map(|(k, v)| (*k, v.clone())).collect();
        let running = Arc::clone(&self.sweep_running);
        ctx.providers().spawn_detached("ledger-sweep", async move {
            let count = open.len();
            let ended = drive(&node, open).await;
            running.store(false, Ordering::Release);
            moonpool::sometimes!(ended > 0, "a reminder's sweep finished open transfers");
            tracing::info!(open = count, ended, "swept open transfers");
        });
    }
}

/// Drives each transfer of `open` to its end; how many ended.
async fn drive(node: &Node, open: Vec<(u64, TransferOrder)>) -> usize {
    let mut ended = 0;
    for (id, order) in open {
        let transfer = node.actor::<Transfer>(id.to_string());
        if let Ok(Ok(_)) = transfer.execute(order.from, order.to, order.amount).await {
            ended += 1;
        }
    }
    ended
}

/// What one [`sweep`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Open transfers found on the ledger.
    pub open: usize,
    /// Of those, the ones that ended during this sweep (or had already).
    pub ended: usize,
    /// Ledger shards that could not be read (tried again next time).
    pub unreadable: usize,
}

/// Drives every transfer on the ledger to its end, once, from `node`:
/// what the ledger's reminders do on their own, for an operator who wants
/// it now. Safe to run anywhere, any number of times at once (a
/// transfer's steps are idempotent).
pub async fn sweep(node: &Node) -> Swept {
    let mut swept = Swept::default();
    for shard in 0..LEDGER_SHARDS {
        let ledger = node.actor::<Ledger>(ledger_key(shard));
        let Ok(open) = ledger.pending().await else {
            swept.unreadable += 1;
            continue;
        };
        swept.open += open.len();
        swept.ended += drive(node, open).await;
    }
    swept
}

/// The coordinator of one transfer (keyed by the transfer id).
#[moonpool::actor(state, idle_timeout = "1m")]
pub struct Transfer {
    #[state]
    record: Persisted<Option<TransferRecord>>,
}

/// How a transfer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The money moved.
    Completed,
    /// Nothing moved.
    Rejected,
}

#[moonpool::actor_impl]
impl Transfer {
    /// Runs (or resumes) this transfer; safe to call again with the same
    /// parameters after any error.
    pub async fn execute(
        &mut self,
        from: String,
        to: String,
        amount: i64,
        ctx: &ActorContext,
    ) -> Result<Outcome, BankError> {
        let id: u64 = ctx.id().key.parse().map_err(|_| {
            BankError::Retry(format!("transfer key {:?} is not a number", ctx.id().key))
        })?;
        match &*self.record {
            None => {
                // On the ledger before anything moves: if this activation
                // dies, or its client goes away, a sweep finishes the job.
                let order = TransferOrder {
                    from: from.clone(),
                    to: to.clone(),
                    amount,
                };
                match ctx.actor::<Ledger>(ledger_key(id)).open(id, order).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(e),
                    Err(e) => return Err(BankError::Retry(e.to_string())),
                }
                let record = TransferRecord {
                    from: from.clone(),
                    to: to.clone(),
                    amount,
                    phase: Phase::Started,
                };
                self.record
                    .update(|r| *r = Some(record))
                    .await
                    .map_err(|e| BankError::Retry(e.to_string()))?;
            }
            Some(r) if r.from != from || r.to != to || r.amount != amount => {
                return Err(BankError::Mismatch(id));
            }
            Some(r) if r.phase == Phase::Debited => {
                moonpool::sometimes!(true, "an interrupted transfer resumed after its debit");
            }
            Some(_) => {}
        }
        loop {
            let phase = self.record.as_ref().map_or(Phase::Started, |r| r.phase);
            match phase {
                Phase::Done => return Ok(Self::ended(id, Outcome::Completed, ctx).await),
                Phase::Rejected => return Ok(Self::ended(id, Outcome::Rejected, ctx).await),
                Phase::Started => {
                    let source = ctx.actor::<Account>(from.clone());
                    match source.apply(id, -amount).await {
                        Ok(Ok(_)) => self.advance(Phase::Debited).await?,
                        Ok(Err(BankError::InsufficientFunds { .. })) => {
                            moonpool::sometimes!(
                                true,
                                "a transfer was rejected for insufficient funds"
                            );
                            self.advance(Phase::Rejected).await?;
                        }
                        Ok(Err(e)) => return Err(e),
                        Err(e) => return Err(BankError::Retry(e.to_string())),
                    }
                }
                Phase::Debited => {
                    let target = ctx.actor::<Account>(to.clone());
                    match target.apply(id, amount).await {
                        Ok(Ok(_)) => self.advance(Phase::Done).await?,
                        Ok(Err(e)) => return Err(e),
                        Err(e) => return Err(BankError::Retry(e.to_string())),
                    }
                }
            }
        }
    }

    /// The transfer's record, if it started.
    pub async fn record(&self) -> Option<TransferRecord> {
        (*self.record).clone()
    }

    /// Takes the ended transfer off the ledger. If that fails, the next
    /// sweep finds it ended and tries again: the outcome stands either way.
    async fn ended(id: u64, outcome: Outcome, ctx: &ActorContext) -> Outcome {
        let ledger = ctx.actor::<Ledger>(ledger_key(id));
        if !matches!(ledger.close(id).await, Ok(Ok(()))) {
            tracing::debug!(transfer = id, "an ended transfer is still on the ledger");
        }
        outcome
    }

    async fn advance(&mut self, phase: Phase) -> Result<(), BankError> {
        self.record
            .update(|r| {
                if let Some(r) = r.as_mut() {
                    r.phase = phase;
                }
            })
            .await
            .map_err(|e| BankError::Retry(e.to_string()))
    }
}
