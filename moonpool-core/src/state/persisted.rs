//! [`Persisted`]: an actor's handle on its stored state, which it never
//! serves unless it can vouch for it.
//!
//! ```text
//!            save/clear: Ok, or a refusal that wrote nothing
//!          ┌──────────┐
//!          ▼          │
//!   load ─▶ Sure ─────┘
//!          │  ▲
//!   save/clear failed │  │ re-read storage (bounded retries): the value
//!   with an unknown   │  │ and etag are what storage holds; a write that
//!   outcome, or a     ▼  │ did not land is fenced off (see below)
//!   conflict        Unsure ──retries exhausted──▶ stays Unsure: the value
//!                                                 cannot be read; the
//!                                                 activation leaves after
//!                                                 this turn
//! ```
//!
//! The handle tells its activation whenever it becomes unsure or sure
//! again (through [`StateOwner`]); the runtime runs no further turn of an
//! activation that holds an unsure state: it deactivates it, and the next
//! call activates from storage.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Weak};
use std::time::Duration;

use moonpool_sim::Providers;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::storage::{ETag, StateStorage, StorageError};
use crate::id::ActorId;

/// Reads of storage a state makes to learn the truth after a save whose
/// outcome is unknown, before it gives up (and its activation leaves).
pub const RESYNC_ATTEMPTS: u32 = 3;

/// The pause before each re-read after the first (doubling each time),
/// when the state belongs to an activation (whose clock it uses).
pub const RESYNC_BACKOFF: Duration = Duration::from_millis(50);

/// Whether a [`Persisted`] state is known to hold what storage holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateStatus {
    /// The value is what storage holds (plus any changes not yet saved).
    Sure,
    /// A save or clear may or may not have landed, and storage could not
    /// be read to find out: the value cannot be read or changed until
    /// [`Persisted::reload`] (or a save, which reloads first) succeeds.
    Unsure,
}

/// Who is told when a state becomes unsure or sure again: its activation.
pub(crate) trait StateOwner: Send + Sync {
    /// One of the activation's states became unsure (`true`) or sure
    /// again (`false`).
    fn state_unsure(&self, unsure: bool);
    /// The activation's providers, for the pause between re-reads.
    fn providers(&self) -> &Providers;
}

/// An actor's persisted state: load it in `activate`, read it and change
/// it through `Deref`/`DerefMut`, and [`save`](Persisted::save) it
/// explicitly (or change and save in one step with
/// [`update`](Persisted::update)).
///
/// # The rule: never act on a state you cannot vouch for
///
/// A save that fails may still have landed (the write reached storage, its
/// reply was lost). A handle that kept serving its old value would let the
/// actor act on a state that is no longer true — for a bank, reject a
/// transfer whose debit it then applies. So when a save, update or clear
/// fails with an outcome that is not certain (an I/O error, a conflict),
/// the handle re-reads storage before it returns, up to
/// [`RESYNC_ATTEMPTS`] times:
///
/// - storage holds exactly what was written: the save landed, and returns
///   `Ok`;
/// - storage holds something else: the change has not landed — but it may
///   still be on its way (a storage server that had not run it yet, a
///   request held in a network buffer). So the handle *fences* the record:
///   it writes back what storage holds, expecting the etag it just read.
///   Once that succeeds the record's etag has moved on, and the write on
///   its way, which expects the old etag, is refused whenever it arrives.
///   The value and etag become what storage holds, and the save returns
///   its error (the change did not land, and never will). A record that
///   did not exist is fenced by creating it with the default value. A
///   conflict needs no fence: storage refused the write;
/// - storage cannot be read: the state is [`StateStatus::Unsure`]. Reading
///   or changing it panics (the turn fails with
///   [`CallError::HandlerPanicked`](crate::CallError::HandlerPanicked)),
///   so return the error instead. Once the turn ends, the runtime
///   deactivates the activation without running its deactivation hook or
///   any further turn; the next call activates it again from storage.
///
/// A failure that certainly wrote nothing ([`StorageError::NotConfigured`],
/// a value that cannot be encoded) leaves the state sure.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use moonpool_core::state::{InMemoryStorage, Persisted, StateStatus, StateStorage};
/// use moonpool_core::ActorId;
///
/// # moonpool_sim::Simulation::new(1).run(|_| async {
/// let store: Arc<dyn StateStorage> = Arc::new(InMemoryStorage::new());
/// let id = ActorId { type_name: "Account".into(), key: "alice".into() };
/// // In an actor: `Persisted::load(ctx).await?` in `activate`.
/// let mut balance = Persisted::<u64>::load_from(id, store).await?;
/// *balance += 10;
/// balance.save().await?;
/// let total = balance.update(|b| { *b += 5; *b }).await?;
/// assert_eq!(total, 15);
/// assert_eq!(balance.status(), StateStatus::Sure);
/// # Ok::<(), moonpool_core::state::StorageError>(())
/// # }).unwrap().output.unwrap();
/// ```
pub struct Persisted<S> {
    value: S,
    etag: Option<ETag>,
    status: StateStatus,
    id: ActorId,
    storage: Arc<dyn StateStorage>,
    /// The activation this state belongs to (weak: the activation owns the
    /// actor, which owns this).
    owner: Option<Weak<dyn StateOwner>>,
    /// A write or delete of this handle whose outcome is not known yet: it
    /// may still reach storage until the record is fenced.
    in_flight: Option<InFlight>,
}

/// A write or delete whose failure was reported but which may still be on
/// its way to storage.
enum InFlight {
    /// These bytes were being written.
    Write(Vec<u8>),
    /// The record was being deleted.
    Clear,
}

impl InFlight {
    /// Whether storage holding `stored` means this operation landed.
    fn landed_as(&self, stored: Option<&[u8]>) -> bool {
        match (self, stored) {
            (InFlight::Write(ours), Some(stored)) => ours.as_slice() == stored,
            (InFlight::Clear, None) => true,
            _ => false,
        }
    }
}

/// What re-reading storage after an uncertain write learned.
enum Settled {
    /// Storage holds what the write or delete meant to leave.
    Landed,
    /// It did not land, and now never will: the record was fenced.
    NotLanded,
}

/// What became of the in-memory value when a write failed.
enum Failed {
    /// Nothing was written and memory was not touched: it still holds the
    /// change.
    Untouched(StorageError),
    /// Memory now holds what storage holds, or the state is unsure.
    Resolved(StorageError),
}

impl Failed {
    fn into_error(self) -> StorageError {
        match self {
            Failed::Untouched(e) | Failed::Resolved(e) => e,
        }
    }
}

impl<S: Serialize + DeserializeOwned + Default> Persisted<S> {
    /// This state reports to `owner` (the activation holding it) whether it
    /// is unsure. [`Persisted::load`] (in `actor/state.rs`) sets it.
    pub(crate) fn owned_by(mut self, owner: Weak<dyn StateOwner>) -> Self {
        self.owner = Some(owner);
        self
    }

    /// Loads the state of `id` from `storage`, outside any activation
    /// (tools, tests). Such a handle retries its re-reads without pausing.
    ///
    /// # Errors
    ///
    /// The storage's error, or [`StorageError::Corrupt`].
    pub async fn load_from(
        id: ActorId,
        storage: Arc<dyn StateStorage>,
    ) -> Result<Self, StorageError> {
        let (value, etag) = decode(&id, storage.read(&id).await?)?;
        Ok(Self {
            value,
            etag,
            status: StateStatus::Sure,
            id,
            storage,
            owner: None,
            in_flight: None,
        })
    }

    /// Re-reads the stored record, dropping unsaved changes; an unsure
    /// state becomes sure again.
    ///
    /// # Errors
    ///
    /// The storage's error, or [`StorageError::Corrupt`]; the state is then
    /// as it was.
    pub async fn reload(&mut self) -> Result<(), StorageError> {
        if self.in_flight.is_some() {
            // A write of ours may still be on its way: learn whether it
            // landed, and fence it off if not.
            return self.resync().await.map(|_| ());
        }
        let (value, etag) = decode(&self.id, self.storage.read(&self.id).await?)?;
        self.value = value;
        self.etag = etag;
        self.set_status(StateStatus::Sure);
        Ok(())
    }

    /// Writes the current value, expecting the version last loaded or
    /// saved. An unsure state first learns what storage holds (and then
    /// has nothing of its own to write).
    ///
    /// # Errors
    ///
    /// [`StorageError::Conflict`] if the record changed meanwhile (the
    /// state then holds what storage holds); [`StorageError::Io`] if
    /// storage failed. See the type's docs for what the state holds after
    /// each.
    pub async fn save(&mut self) -> Result<(), StorageError> {
        self.save_inner().await.map_err(Failed::into_error)
    }

    /// Changes the value with `change` and saves it, as one step: on
    /// error, memory does not keep the change (it holds what storage
    /// holds, or the state is unsure).
    ///
    /// # Errors
    ///
    /// As [`Persisted::save`].
    pub async fn update<R>(&mut self, change: impl FnOnce(&mut S) -> R) -> Result<R, StorageError>
    where
        S: Clone,
    {
        self.ensure_sure().await?;
        let before = self.value.clone();
        let out = change(&mut self.value);
        match self.save_inner().await {
            Ok(()) => Ok(out),
            Err(Failed::Untouched(e)) => {
                self.value = before;
                Err(e)
            }
            Err(Failed::Resolved(e)) => Err(e),
        }
    }

    /// Deletes the stored record and resets the value to the default.
    ///
    /// # Errors
    ///
    /// As [`Persisted::save`]; a delete whose outcome is unknown is
    /// resolved the same way.
    pub async fn clear(&mut self) -> Result<(), StorageError> {
        self.ensure_sure().await?;
        if self.etag.is_some()
            && let Err(e) = self.storage.clear(&self.id, self.etag).await
        {
            if !uncertain(&e) {
                return Err(e);
            }
            if !refused(&e) {
                self.in_flight = Some(InFlight::Clear);
            }
            self.set_status(StateStatus::Unsure);
            return match self.resync().await {
                Ok(Settled::Landed) => {
                    moonpool_sim::sometimes!(true, "a delete whose reply was lost had landed");
                    Ok(())
                }
                Ok(Settled::NotLanded) | Err(_) => Err(e),
            };
        }
        self.etag = None;
        self.value = S::default();
        Ok(())
    }

    /// The version last loaded or saved (`None`: nothing stored). Unknown
    /// while the state is [`StateStatus::Unsure`]: this is then the last
    /// version known.
    pub fn etag(&self) -> Option<ETag> {
        self.etag
    }

    /// Whether the value is known to match storage.
    pub fn status(&self) -> StateStatus {
        self.status
    }

    /// Makes an unsure state sure, or fails.
    async fn ensure_sure(&mut self) -> Result<(), StorageError> {
        if self.status == StateStatus::Unsure {
            self.resync().await?;
        }
        Ok(())
    }

    async fn save_inner(&mut self) -> Result<(), Failed> {
        if self.status == StateStatus::Unsure {
            // Nothing could change an unsure value: once resynchronised it
            // is what storage holds, and there is nothing left to write.
            return self.resync().await.map(|_| ()).map_err(Failed::Resolved);
        }
        let bytes = postcard::to_allocvec(&self.value).map_err(|e| {
            Failed::Untouched(StorageError::Io {
                actor: self.id.to_string(),
                reason: format!("cannot encode the state: {e}"),
            })
        })?;
        match self.storage.write(&self.id, bytes.clone(), self.etag).await {
            Ok(etag) => {
                self.etag = Some(etag);
                Ok(())
            }
            Err(e) if !uncertain(&e) => Err(Failed::Untouched(e)),
            Err(e) => {
                if !refused(&e) {
                    self.in_flight = Some(InFlight::Write(bytes));
                }
                self.set_status(StateStatus::Unsure);
                match self.resync().await {
                    Ok(Settled::Landed) => {
                        moonpool_sim::sometimes!(true, "a save whose reply was lost had landed");
                        Ok(())
                    }
                    Ok(Settled::NotLanded) => Err(Failed::Resolved(e)),
                    Err(_) => {
                        moonpool_sim::sometimes!(true, "a state stayed unsure after a failed save");
                        Err(Failed::Resolved(e))
                    }
                }
            }
        }
    }

    /// Re-reads storage, up to [`RESYNC_ATTEMPTS`] times, until the state
    /// holds what storage holds. When a write or delete of ours may still
    /// be on its way, it either finds it landed, or fences the record —
    /// writes back what storage holds under the etag it read, so the
    /// record's etag moves on and the operation on its way (which expects
    /// the old one) is refused when it arrives. The state stays unsure if
    /// storage cannot be read (or fenced) in that many attempts.
    async fn resync(&mut self) -> Result<Settled, StorageError> {
        let providers = self
            .owner
            .as_ref()
            .and_then(Weak::upgrade)
            .map(|o| o.providers().clone());
        let mut pause = RESYNC_BACKOFF;
        let mut attempt = 1;
        loop {
            let e = match self.settle_once().await {
                Ok(settled) => return Ok(settled),
                Err(e) => e,
            };
            if attempt >= RESYNC_ATTEMPTS {
                tracing::warn!(
                    actor = %self.id,
                    error = %e,
                    attempts = attempt,
                    "state is unsure: a save's outcome is unknown and storage cannot be read"
                );
                return Err(e);
            }
            tracing::debug!(actor = %self.id, error = %e, attempt, "re-reading state failed");
            // A fence that lost a race needs no pause: whoever won is
            // already in the record.
            if !matches!(e, StorageError::Conflict { .. })
                && let Some(p) = &providers
            {
                p.sleep(pause).await;
                pause = pause.saturating_mul(2);
            }
            attempt += 1;
        }
    }

    /// One read (and, for an operation still on its way, one fence).
    async fn settle_once(&mut self) -> Result<Settled, StorageError> {
        let record = self.storage.read(&self.id).await?;
        let stored = record.as_ref().map(|(bytes, _)| bytes.as_slice());
        let landed = self
            .in_flight
            .as_ref()
            .is_some_and(|op| op.landed_as(stored));
        let (value, mut etag) = decode::<S>(&self.id, record.clone())?;
        if self.in_flight.is_some() && !landed {
            // Write back what storage holds (an absent record as the
            // default value), expecting the etag just read.
            let bytes = match record {
                Some((bytes, _)) => bytes,
                None => postcard::to_allocvec(&value).map_err(|e| StorageError::Io {
                    actor: self.id.to_string(),
                    reason: format!("cannot encode the state: {e}"),
                })?,
            };
            etag = Some(self.storage.write(&self.id, bytes, etag).await?);
            moonpool_sim::sometimes!(true, "a write whose outcome was unknown was fenced off");
        }
        self.value = value;
        self.etag = etag;
        self.in_flight = None;
        self.set_status(StateStatus::Sure);
        Ok(if landed {
            Settled::Landed
        } else {
            Settled::NotLanded
        })
    }

    fn set_status(&mut self, status: StateStatus) {
        if self.status == status {
            return;
        }
        self.status = status;
        if let Some(owner) = self.owner.as_ref().and_then(Weak::upgrade) {
            owner.state_unsure(status == StateStatus::Unsure);
        }
    }
}

/// Whether a failed write may have landed, or left memory out of step
/// with storage (a conflict: someone else wrote).
fn uncertain(e: &StorageError) -> bool {
    !matches!(e, StorageError::NotConfigured)
}

/// Whether storage refused a write outright (it certainly did not land,
/// and cannot later: only memory is out of step).
fn refused(e: &StorageError) -> bool {
    matches!(e, StorageError::Conflict { .. })
}

fn decode<S: DeserializeOwned + Default>(
    id: &ActorId,
    record: Option<(Vec<u8>, ETag)>,
) -> Result<(S, Option<ETag>), StorageError> {
    match record {
        None => Ok((S::default(), None)),
        Some((bytes, etag)) => {
            let value = postcard::from_bytes(&bytes).map_err(|e| StorageError::Corrupt {
                actor: id.to_string(),
                reason: e.to_string(),
            })?;
            Ok((value, Some(etag)))
        }
    }
}

impl<S> Persisted<S> {
    #[track_caller]
    fn assert_sure(&self) {
        if self.status == StateStatus::Unsure {
            panic!(
                "the state of `{}` is unsure: a save or clear failed and storage could not be \
                 read to learn whether it landed. Return that error instead of using the state; \
                 the activation will be replaced by one loaded from storage",
                self.id
            );
        }
    }
}

impl<S> Drop for Persisted<S> {
    fn drop(&mut self) {
        if self.status == StateStatus::Unsure
            && let Some(owner) = self.owner.as_ref().and_then(Weak::upgrade)
        {
            owner.state_unsure(false);
        }
    }
}

/// Reads the value.
///
/// # Panics
///
/// When the state is [`StateStatus::Unsure`] (see [`Persisted`]).
impl<S> Deref for Persisted<S> {
    type Target = S;
    #[track_caller]
    fn deref(&self) -> &S {
        self.assert_sure();
        &self.value
    }
}

/// Changes the value (until [`Persisted::save`]).
///
/// # Panics
///
/// When the state is [`StateStatus::Unsure`] (see [`Persisted`]).
impl<S> DerefMut for Persisted<S> {
    #[track_caller]
    fn deref_mut(&mut self) -> &mut S {
        self.assert_sure();
        &mut self.value
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, Weak};

    use moonpool_sim::chaos::FaultConfig;
    use moonpool_sim::{BoxFuture, Providers, Simulation};

    use crate::id::ActorId;
    use crate::state::memory::InMemoryStorage;
    use crate::state::persisted::{Persisted, StateOwner, StateStatus};
    use crate::state::storage::{ETag, Record, StateStorage, StorageError};

    /// An activation, as far as its states see it: what they told it.
    struct Owner {
        providers: Providers,
        told: Mutex<Vec<bool>>,
    }

    impl StateOwner for Owner {
        fn state_unsure(&self, unsure: bool) {
            self.told.lock().unwrap().push(unsure);
        }
        fn providers(&self) -> &Providers {
            &self.providers
        }
    }

    /// In-memory storage whose operations fail while `down` is set.
    #[derive(Clone, Default)]
    struct Down {
        inner: InMemoryStorage,
        down: Arc<AtomicBool>,
    }

    impl Down {
        fn check(&self, id: &ActorId) -> Result<(), StorageError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StorageError::io(id, "storage is down"));
            }
            Ok(())
        }
    }

    impl StateStorage for Down {
        fn read(&self, id: &ActorId) -> BoxFuture<'static, Result<Option<Record>, StorageError>> {
            match self.check(id) {
                Ok(()) => self.inner.read(id),
                Err(e) => Box::pin(async move { Err(e) }),
            }
        }
        fn write(
            &self,
            id: &ActorId,
            data: Vec<u8>,
            expected: Option<ETag>,
        ) -> BoxFuture<'static, Result<ETag, StorageError>> {
            match self.check(id) {
                Ok(()) => self.inner.write(id, data, expected),
                Err(e) => Box::pin(async move { Err(e) }),
            }
        }
        fn clear(
            &self,
            id: &ActorId,
            expected: Option<ETag>,
        ) -> BoxFuture<'static, Result<(), StorageError>> {
            match self.check(id) {
                Ok(()) => self.inner.clear(id, expected),
                Err(e) => Box::pin(async move { Err(e) }),
            }
        }
    }

    /// A state tells its activation when it becomes unsure and when it
    /// is sure again — also by being dropped while unsure (the activation
    /// holds no unsure state any more) — and nothing else: dropping a sure
    /// state tells nothing.
    #[test]
    fn a_state_tells_its_activation_when_it_becomes_unsure_and_sure() {
        Simulation::new(1)
            .faults(FaultConfig::calm())
            .run(|sim| async move {
                let owner = Arc::new(Owner {
                    providers: sim.providers(),
                    told: Mutex::default(),
                });
                let weak = Arc::downgrade(&owner) as Weak<dyn StateOwner>;
                let told = || owner.told.lock().unwrap().clone();
                let id = ActorId {
                    type_name: "Account".into(),
                    key: "alice".into(),
                };
                let store = Down::default();
                let backend: Arc<dyn StateStorage> = Arc::new(store.clone());
                let load = || Persisted::<u32>::load_from(id.clone(), Arc::clone(&backend));

                let sure = load().await.unwrap().owned_by(Weak::clone(&weak));
                drop(sure);
                assert_eq!(told(), Vec::<bool>::new(), "a sure state dropped");

                let mut state = load().await.unwrap().owned_by(Weak::clone(&weak));
                store.down.store(true, Ordering::SeqCst);
                *state = 1;
                assert!(state.save().await.is_err());
                assert_eq!(state.status(), StateStatus::Unsure);
                assert_eq!(told(), vec![true]);
                store.down.store(false, Ordering::SeqCst);
                state.reload().await.unwrap();
                assert_eq!(told(), vec![true, false]);

                store.down.store(true, Ordering::SeqCst);
                *state = 2;
                assert!(state.save().await.is_err());
                assert_eq!(told(), vec![true, false, true]);
                drop(state);
                assert_eq!(told(), vec![true, false, true, false], "dropped unsure");
            })
            .unwrap();
    }
}
