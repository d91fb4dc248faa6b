//! Persisted state after a save whose outcome is unknown: an activation
//! never acts on a state it cannot vouch for. It learns the truth from
//! storage before its next turn, or it deactivates and the next call
//! activates from storage.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use moonpool_core::actor::{dispatch, method_id, unknown_method};
use moonpool_core::state::{
    ETag, InMemoryStorage, Persisted, RESYNC_ATTEMPTS, RESYNC_BACKOFF, Record, StateStatus,
    StateStorage, StorageError,
};
use moonpool_core::{
    ActivationError, Actor, ActorContext, ActorId, ActorRef, CallError, Handler, Message, Node,
};
use moonpool_sim::chaos::FaultConfig;
use moonpool_sim::{BoxFuture, SimContext, Simulation};
use serde::{Deserialize, Serialize};

/// A write or delete held on its way to storage.
type Held = BoxFuture<'static, Result<(), StorageError>>;

/// Storage whose next write may land yet report a failure (its reply was
/// lost), whose next write or delete may be held on its way (reported as
/// failed at once, landing only when the test lets it), and whose reads
/// may fail.
#[derive(Clone, Default)]
struct Flaky {
    inner: InMemoryStorage,
    lose_next_write_reply: Arc<AtomicBool>,
    hold_next_write: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<Held>>>,
    fail_reads: Arc<AtomicBool>,
    failed_reads: Arc<AtomicU32>,
}

impl Flaky {
    fn lost_reply(id: &ActorId) -> StorageError {
        StorageError::Io {
            actor: id.to_string(),
            reason: "the reply was lost".into(),
        }
    }

    /// Whether the next write or delete is to be held (once).
    fn hold_this_one(&self) -> bool {
        self.hold_next_write.swap(false, Ordering::SeqCst)
    }

    /// Holds the write or delete `op` (built lazily: nothing applied yet)
    /// and tells its caller it failed.
    fn hold<T: Send + 'static>(
        &self,
        id: &ActorId,
        op: impl FnOnce() -> Held + Send + 'static,
    ) -> BoxFuture<'static, Result<T, StorageError>> {
        self.held
            .lock()
            .unwrap()
            .push(Box::pin(async move { op().await }));
        let err = Flaky::lost_reply(id);
        Box::pin(async move { Err(err) })
    }

    /// Lets the held write or delete reach storage: what storage answered.
    async fn release_held(&self) -> Result<(), StorageError> {
        let op = self.held.lock().unwrap().pop().expect("a write was held");
        op.await
    }
}

impl StateStorage for Flaky {
    fn read(&self, id: &ActorId) -> BoxFuture<'static, Result<Option<Record>, StorageError>> {
        if self.fail_reads.load(Ordering::SeqCst) {
            self.failed_reads.fetch_add(1, Ordering::SeqCst);
            let err = StorageError::Io {
                actor: id.to_string(),
                reason: "storage unreachable".into(),
            };
            return Box::pin(async move { Err(err) });
        }
        self.inner.read(id)
    }

    fn write(
        &self,
        id: &ActorId,
        data: Vec<u8>,
        expected: Option<ETag>,
    ) -> BoxFuture<'static, Result<ETag, StorageError>> {
        if self.hold_this_one() {
            let (inner, key) = (self.inner.clone(), id.clone());
            return self.hold(id, move || {
                let write = inner.write(&key, data, expected);
                Box::pin(async move { write.await.map(|_| ()) })
            });
        }
        let write = self.inner.write(id, data, expected);
        let lose = self.lose_next_write_reply.swap(false, Ordering::SeqCst);
        let id = id.clone();
        Box::pin(async move {
            let landed = write.await;
            if lose {
                assert!(landed.is_ok(), "the write was meant to land");
                return Err(Flaky::lost_reply(&id));
            }
            landed
        })
    }

    fn clear(
        &self,
        id: &ActorId,
        expected: Option<ETag>,
    ) -> BoxFuture<'static, Result<(), StorageError>> {
        if self.hold_this_one() {
            let (inner, key) = (self.inner.clone(), id.clone());
            return self.hold(id, move || inner.clear(&key, expected));
        }
        let clear = self.inner.clear(id, expected);
        let lose = self.lose_next_write_reply.swap(false, Ordering::SeqCst);
        let id = id.clone();
        Box::pin(async move {
            let cleared = clear.await;
            if lose {
                assert!(cleared.is_ok(), "the delete was meant to land");
                return Err(Flaky::lost_reply(&id));
            }
            cleared
        })
    }
}

/// A transfer-like phase: 1 started, 2 rejected, 3 ...; persisted.
struct Tracker {
    phase: Persisted<u32>,
}

thread_local! {
    /// Activations of `Tracker` on this thread: each test runs its
    /// simulation on its own thread, so tests running at once do not count
    /// each other's.
    static ACTIVATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[derive(Serialize, Deserialize)]
struct Advance(u32);
impl Message for Advance {
    type Reply = Result<u32, String>;
    const NAME: &'static str = "advance";
}

#[derive(Serialize, Deserialize)]
struct Current;
impl Message for Current {
    type Reply = u32;
    const NAME: &'static str = "current";
}

impl Actor for Tracker {
    const TYPE_NAME: &'static str = "Tracker";
    const HAS_SHARED_METHODS: bool = false;
    type Ref = ActorRef<Self>;

    async fn activate(ctx: &ActorContext) -> Result<Self, ActivationError> {
        let phase = Persisted::load(ctx).await?;
        ACTIVATIONS.set(ACTIVATIONS.get() + 1);
        Ok(Self { phase })
    }

    fn dispatch<'a>(
        &'a mut self,
        method: u32,
        body: &'a [u8],
        ctx: &'a ActorContext,
    ) -> BoxFuture<'a, Result<Vec<u8>, CallError>> {
        Box::pin(async move {
            match method {
                m if m == method_id(Advance::NAME) => {
                    dispatch::<Self, Advance>(self, body, ctx).await
                }
                m if m == method_id(Current::NAME) => {
                    dispatch::<Self, Current>(self, body, ctx).await
                }
                m => Err(unknown_method::<Self>(m)),
            }
        })
    }
}

impl Handler<Advance> for Tracker {
    async fn handle(&mut self, Advance(to): Advance, _: &ActorContext) -> Result<u32, String> {
        self.phase
            .update(|p| *p = to)
            .await
            .map_err(|e| e.to_string())?;
        Ok(*self.phase)
    }
}

impl Handler<Current> for Tracker {
    async fn handle(&mut self, _: Current, _: &ActorContext) -> u32 {
        *self.phase
    }
}

fn tracker_id() -> ActorId {
    ActorId::of::<Tracker>("t")
}

async fn stored(store: &Flaky) -> Option<u32> {
    store
        .inner
        .read(&tracker_id())
        .await
        .unwrap()
        .map(|(bytes, _)| postcard::from_bytes(&bytes).unwrap())
}

async fn node_with(sim: &SimContext, store: Flaky) -> Node {
    Node::builder("unsure")
        .listen(SocketAddr::new([10, 0, 0, 1].into(), 7000))
        .providers(sim.providers())
        .storage(store)
        .host::<Tracker>()
        .build()
        .await
        .unwrap()
}

/// The tracker's state in `backend`, loaded outside any activation.
async fn loaded(backend: impl StateStorage) -> Persisted<u32> {
    let backend: Arc<dyn StateStorage> = Arc::new(backend);
    Persisted::load_from(tracker_id(), backend).await.unwrap()
}

/// The bank's lost transfer, reduced: a save lands but reports failure,
/// and storage cannot be read to find out. The activation must not go on
/// serving the phase it had before: the next call sees what storage holds.
#[test]
fn a_save_that_landed_unseen_is_never_rolled_back_in_memory() {
    Simulation::new(1)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let store = Flaky::default();
            let node = node_with(&sim, store.clone()).await;
            let t = node.actor::<Tracker>("t");
            assert_eq!(t.call(Advance(1)).await.unwrap(), Ok(1));
            let activations = ACTIVATIONS.get();

            store.lose_next_write_reply.store(true, Ordering::SeqCst);
            store.fail_reads.store(true, Ordering::SeqCst);
            let started = sim.now();
            assert!(t.call(Advance(2)).await.unwrap().is_err());
            let took = sim.now() - started;
            assert_eq!(stored(&store).await, Some(2), "the write landed");
            let failed_reads = store.failed_reads.load(Ordering::SeqCst);
            store.fail_reads.store(false, Ordering::SeqCst);

            // What the activation serves now is what storage holds.
            assert_eq!(t.call(Current).await.unwrap(), 2);
            assert_eq!(
                failed_reads, RESYNC_ATTEMPTS,
                "the activation tried that many times to learn the truth"
            );
            // Pausing between its reads (the backoff doubles), so that a
            // storage blip can pass.
            let pauses = (1..RESYNC_ATTEMPTS).map(|i| RESYNC_BACKOFF * 2u32.pow(i - 1));
            let backoff: std::time::Duration = pauses.sum();
            assert!(took >= backoff, "{took:?}: no pause between re-reads");
            assert_eq!(
                ACTIVATIONS.get(),
                activations + 1,
                "the unsure activation left; the next call activated from storage"
            );
            assert_eq!(t.call(Advance(3)).await.unwrap(), Ok(3));
            assert_eq!(stored(&store).await, Some(3));
        })
        .unwrap();
}

/// A save whose reply was lost but whose record can be read back is no
/// failure at all: the state learns that its write landed.
#[test]
fn a_save_whose_reply_was_lost_learns_that_it_landed() {
    Simulation::new(2)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let store = Flaky::default();
            let node = node_with(&sim, store.clone()).await;
            let t = node.actor::<Tracker>("t");
            assert_eq!(t.call(Advance(1)).await.unwrap(), Ok(1));
            let activations = ACTIVATIONS.get();
            store.lose_next_write_reply.store(true, Ordering::SeqCst);
            assert_eq!(t.call(Advance(2)).await.unwrap(), Ok(2));
            assert_eq!(
                t.call(Advance(3)).await.unwrap(),
                Ok(3),
                "the etag is right"
            );
            assert_eq!(stored(&store).await, Some(3));
            assert_eq!(ACTIVATIONS.get(), activations);
        })
        .unwrap();
}

/// A save refused because another writer changed the record leaves the
/// state holding what that writer stored, not the refused change.
#[test]
fn a_conflicting_save_leaves_the_state_as_stored() {
    Simulation::new(3)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let store = Flaky::default();
            let node = node_with(&sim, store.clone()).await;
            let t = node.actor::<Tracker>("t");
            assert_eq!(t.call(Advance(1)).await.unwrap(), Ok(1));
            let (_, etag) = store.inner.read(&tracker_id()).await.unwrap().unwrap();
            let other = postcard::to_allocvec(&7u32).unwrap();
            let others = store
                .inner
                .write(&tracker_id(), other, Some(etag))
                .await
                .unwrap();
            let refused = t.call(Advance(2)).await.unwrap();
            assert!(refused.unwrap_err().contains("changed concurrently"));
            // Storage refused the write: nothing of it can land later, so
            // nothing is fenced (the record is the other writer's, as is).
            let (_, now) = store.inner.read(&tracker_id()).await.unwrap().unwrap();
            assert_eq!(now, others, "the record was written again");
            assert_eq!(t.call(Current).await.unwrap(), 7);
            assert_eq!(t.call(Advance(8)).await.unwrap(), Ok(8));
        })
        .unwrap();
}

/// The handle itself: an unsure state can be neither read nor changed, it
/// says so, and it becomes sure again once storage answers.
#[test]
fn an_unsure_state_cannot_be_read_until_it_learns_the_truth() {
    Simulation::new(4)
        .faults(FaultConfig::calm())
        .run(|_sim| async move {
            let store = Flaky::default();
            let mut phase = loaded(store.clone()).await;
            assert_eq!(phase.status(), StateStatus::Sure);
            *phase = 1;
            phase.save().await.unwrap();

            store.lose_next_write_reply.store(true, Ordering::SeqCst);
            store.fail_reads.store(true, Ordering::SeqCst);
            *phase = 2;
            let err = phase.save().await.unwrap_err();
            assert!(matches!(err, StorageError::Io { .. }), "{err}");
            assert_eq!(phase.status(), StateStatus::Unsure);
            let read = std::panic::catch_unwind(AssertUnwindSafe(|| *phase));
            let message = read.unwrap_err();
            let message = message
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default();
            assert!(message.contains("unsure"), "{message}");
            // Saving again first needs the truth: still unreachable.
            assert!(phase.save().await.is_err());
            assert_eq!(phase.status(), StateStatus::Unsure);

            store.fail_reads.store(false, Ordering::SeqCst);
            phase.reload().await.unwrap();
            assert_eq!(phase.status(), StateStatus::Sure);
            assert_eq!(*phase, 2, "the landed write is what the state holds");
            *phase = 5;
            phase.save().await.unwrap();
            assert_eq!(stored(&store).await, Some(5));
        })
        .unwrap();
}

/// Clearing has the same rule: a delete whose reply was lost is learned.
#[test]
fn a_clear_whose_reply_was_lost_learns_that_it_landed() {
    Simulation::new(5)
        .faults(FaultConfig::calm())
        .run(|_sim| async move {
            let store = Flaky::default();
            let mut phase = loaded(store.clone()).await;
            *phase = 4;
            phase.save().await.unwrap();
            store.lose_next_write_reply.store(true, Ordering::SeqCst);
            phase.clear().await.unwrap();
            assert_eq!(phase.status(), StateStatus::Sure);
            assert_eq!(*phase, 0);
            assert_eq!(phase.etag(), None);
            assert_eq!(stored(&store).await, None);
        })
        .unwrap();
}

/// A write still on its way when its failure was reported (the storage
/// server had not run it yet when the state re-read the record) must never
/// land afterwards: the state would serve a value storage no longer holds.
#[test]
fn a_write_reported_failed_while_on_its_way_never_lands_later() {
    Simulation::new(6)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let store = Flaky::default();
            let node = node_with(&sim, store.clone()).await;
            let t = node.actor::<Tracker>("t");
            assert_eq!(t.call(Advance(1)).await.unwrap(), Ok(1));

            store.hold_next_write.store(true, Ordering::SeqCst);
            assert!(t.call(Advance(2)).await.unwrap().is_err());
            assert!(
                store.release_held().await.is_err(),
                "the late write must be refused"
            );
            assert_eq!(stored(&store).await, Some(1));
            assert_eq!(t.call(Current).await.unwrap(), 1, "memory is storage");
            assert_eq!(t.call(Advance(3)).await.unwrap(), Ok(3));
            assert_eq!(stored(&store).await, Some(3));
        })
        .unwrap();
}

/// The same for a record that did not exist yet, and for a delete.
#[test]
fn a_create_or_delete_reported_failed_while_on_its_way_never_lands_later() {
    Simulation::new(7)
        .faults(FaultConfig::calm())
        .run(|_sim| async move {
            let store = Flaky::default();
            let mut phase = loaded(store.clone()).await;

            store.hold_next_write.store(true, Ordering::SeqCst);
            assert!(phase.update(|p| *p = 5).await.is_err());
            assert_eq!(phase.status(), StateStatus::Sure);
            assert_eq!(*phase, 0);
            assert!(
                store.release_held().await.is_err(),
                "the late create is refused"
            );
            assert_eq!(stored(&store).await.unwrap_or_default(), 0);

            phase.update(|p| *p = 6).await.unwrap();
            store.hold_next_write.store(true, Ordering::SeqCst);
            assert!(phase.clear().await.is_err());
            assert_eq!(*phase, 6);
            assert!(
                store.release_held().await.is_err(),
                "the late delete is refused"
            );
            assert_eq!(stored(&store).await, Some(6));
            phase.update(|p| *p += 1).await.unwrap();
            assert_eq!(stored(&store).await, Some(7));
        })
        .unwrap();
}

/// An update of an unsure state first learns what storage holds, then
/// applies the change to that: never to the value it could not vouch for
/// (which would answer a result nothing stored).
#[test]
fn an_update_of_an_unsure_state_changes_what_storage_holds() {
    Simulation::new(5)
        .faults(FaultConfig::calm())
        .run(|_sim| async move {
            let store = Flaky::default();
            let mut phase = loaded(store.clone()).await;
            *phase = 1;
            phase.save().await.unwrap();
            // A write held on its way, reported failed, and storage that
            // cannot be read: unsure, memory holding the change (2) that
            // did not land.
            store.hold_next_write.store(true, Ordering::SeqCst);
            store.fail_reads.store(true, Ordering::SeqCst);
            *phase = 2;
            assert!(phase.save().await.is_err());
            assert_eq!(phase.status(), StateStatus::Unsure);

            store.fail_reads.store(false, Ordering::SeqCst);
            let out = phase.update(|p| {
                *p += 10;
                *p
            });
            assert_eq!(out.await.unwrap(), 11, "applied to what storage holds (1)");
            assert_eq!(stored(&store).await, Some(11));
            assert_eq!(phase.status(), StateStatus::Sure);
        })
        .unwrap();
}

/// Storage that is not configured: reads find nothing, writes and deletes
/// fail with [`StorageError::NotConfigured`].
struct Unconfigured;

impl StateStorage for Unconfigured {
    fn read(&self, _: &ActorId) -> BoxFuture<'static, Result<Option<Record>, StorageError>> {
        Box::pin(async { Ok(None) })
    }

    fn write(
        &self,
        _: &ActorId,
        _: Vec<u8>,
        _: Option<ETag>,
    ) -> BoxFuture<'static, Result<ETag, StorageError>> {
        Box::pin(async { Err(StorageError::NotConfigured) })
    }

    fn clear(&self, _: &ActorId, _: Option<ETag>) -> BoxFuture<'static, Result<(), StorageError>> {
        Box::pin(async { Err(StorageError::NotConfigured) })
    }
}

/// A save that certainly wrote nothing (no storage configured) leaves the
/// state sure: `save` keeps the change in memory, `update` takes it back.
#[test]
fn a_save_that_wrote_nothing_leaves_the_state_sure() {
    Simulation::new(6)
        .faults(FaultConfig::calm())
        .run(|_sim| async move {
            let mut phase = loaded(Unconfigured).await;
            *phase = 7;
            let err = phase.save().await.unwrap_err();
            assert_eq!(err, StorageError::NotConfigured);
            assert_eq!(phase.status(), StateStatus::Sure);
            assert_eq!(*phase, 7, "save keeps the change in memory");
            let err = phase.update(|p| *p = 8).await.unwrap_err();
            assert_eq!(err, StorageError::NotConfigured);
            assert_eq!(phase.status(), StateStatus::Sure);
            assert_eq!(*phase, 7, "update takes its change back");
        })
        .unwrap();
}
