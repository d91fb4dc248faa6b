//! The money audit over the audited store's records, kept up to date as
//! they change: each check decodes only the records changed since the last
//! (the store's `changes_since`), so checking after every step stays cheap
//! in a bank of thousands of accounts.

use std::collections::BTreeMap;
use std::sync::Mutex;

use moonpool::prelude::*;
use moonpool::runtime::state::InMemoryStorage;
use moonpool_examples::bank::{AccountState, TransferRecord};

use super::OPENING;

/// The decoded books, as of the last [`Audit::refresh`].
#[derive(Default)]
pub struct Audit {
    /// The store's version when last read (`None`: never read).
    read_at: Option<u64>,
    accounts: BTreeMap<String, AccountState>,
    transfers: BTreeMap<u64, TransferRecord>,
}

impl Audit {
    /// Decodes what changed in `store` since the last refresh (everything
    /// the first time, or when the store no longer remembers that far).
    pub fn refresh(&mut self, store: &InMemoryStorage) -> Result<(), String> {
        // Read before looking: a change made meanwhile is seen again next
        // time, which does no harm.
        let version = store.version();
        match self.read_at.and_then(|v| store.changes_since(v)) {
            Some(changed) => {
                for (id, record) in changed {
                    match record {
                        Some((bytes, _)) => self.decode(&id, &bytes)?,
                        None => self.forget(&id),
                    }
                }
            }
            None => {
                self.accounts.clear();
                self.transfers.clear();
                for (id, (bytes, _)) in store.snapshot() {
                    self.decode(&id, &bytes)?;
                }
            }
        }
        self.read_at = Some(version);
        Ok(())
    }

    fn decode(&mut self, id: &ActorId, bytes: &[u8]) -> Result<(), String> {
        match id.type_name.as_ref() {
            "Account" => {
                let s: AccountState =
                    postcard::from_bytes(bytes).map_err(|e| format!("account {}: {e}", id.key))?;
                self.accounts.insert(id.key.to_string(), s);
            }
            "Transfer" => {
                let r: Option<TransferRecord> =
                    postcard::from_bytes(bytes).map_err(|e| format!("transfer {}: {e}", id.key))?;
                if let Ok(k) = id.key.parse() {
                    match r {
                        Some(r) => self.transfers.insert(k, r),
                        None => self.transfers.remove(&k),
                    };
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn forget(&mut self, id: &ActorId) {
        match id.type_name.as_ref() {
            "Account" => {
                self.accounts.remove(&*id.key);
            }
            "Transfer" => {
                if let Ok(k) = id.key.parse::<u64>() {
                    self.transfers.remove(&k);
                }
            }
            _ => {}
        }
    }

    /// Money in accounts plus money debited but not yet credited; and the
    /// lowest balance (0 without accounts).
    pub fn totals(&self) -> Result<(i64, i64), String> {
        let mut total: i64 = self.accounts.values().map(|a| a.balance).sum();
        for (id, t) in &self.transfers {
            let debited = self
                .accounts
                .get(&t.from)
                .is_some_and(|a| a.applied.contains_key(id));
            let credited = self
                .accounts
                .get(&t.to)
                .is_some_and(|a| a.applied.contains_key(id));
            if debited && !credited {
                total += t.amount; // in flight
            }
            if credited && !debited {
                return Err(format!("transfer {id} credited without a debit"));
            }
        }
        let lowest = self.accounts.values().map(|a| a.balance).min().unwrap_or(0);
        Ok((total, lowest))
    }

    /// Opened accounts (a record holding the default state, which a
    /// fenced, never-created account holds, is no account).
    pub fn opened(&self) -> usize {
        self.accounts.values().filter(|a| a.opened).count()
    }
}

/// How often (in checks) [`conserve_money`] also decodes the whole books
/// afresh to compare.
const FULL_AUDIT_EVERY: u64 = 64;

/// Registers the invariant that money is conserved and no balance goes
/// negative, checked against the audited store after every step that
/// changed a record.
pub fn conserve_money(sim: &SimContext, store: &InMemoryStorage) {
    let watched = store.clone();
    let audit = Mutex::new(Audit::default());
    // Checked again only once a record changed (a step that wrote
    // nothing cannot break it).
    let checked = std::sync::atomic::AtomicU64::new(u64::MAX);
    let checks = std::sync::atomic::AtomicU64::new(0);
    sim.invariant("money is conserved", move || {
        let version = watched.version();
        if checked.swap(version, std::sync::atomic::Ordering::Relaxed) == version {
            return Ok(());
        }
        let mut audit = audit.lock().map_err(|_| "the audit panicked".to_string())?;
        audit.refresh(&watched)?;
        let (total, lowest) = audit.totals()?;
        // Now and then, the whole books decoded afresh must agree: an
        // audit that stopped following the store would pass everything.
        if checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .is_multiple_of(FULL_AUDIT_EVERY)
        {
            let mut fresh = Audit::default();
            fresh.refresh(&watched)?;
            if (fresh.totals()?, fresh.opened()) != ((total, lowest), audit.opened()) {
                return Err("the incremental audit no longer matches the store".into());
            }
        }
        let expected = audit.opened() as i64 * OPENING;
        if total != expected {
            return Err(format!("{total} in the bank, expected {expected}"));
        }
        if lowest < 0 {
            return Err(format!("a balance went negative: {lowest}"));
        }
        Ok(())
    });
}
