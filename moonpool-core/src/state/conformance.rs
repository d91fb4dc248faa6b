//! The contract every [`StateStorage`] keeps, as a suite a backend runs:
//! [`check_storage`]. Moonpool runs it against each of its backends
//! (memory, disk, remote, PostgreSQL); run it against your own.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use moonpool_sim::BoxFuture;

use super::storage::{ETag, StateStorage, StorageError};
use crate::id::ActorId;

/// A case of the contract a backend broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The case.
    pub case: &'static str,
    /// What happened instead.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "contract broken: {}: {}", self.case, self.detail)
    }
}

impl std::error::Error for Violation {}

/// Checks `store` against the storage contract: reads, conditional
/// creates, updates and clears, conflicts that report both etags, etags
/// never reused across a clear, keys kept apart, payloads of any size and
/// content, and `racers` writers racing on one etag of which exactly one
/// wins. Records are written under actor type `type_name` (use one per run
/// against a store that outlives it).
///
/// # Errors
///
/// The first [`Violation`].
///
/// # Example
///
/// ```
/// use moonpool_core::state::{InMemoryStorage, conformance::check_storage};
///
/// moonpool_sim::Simulation::new(1).run(|_| async {
///     check_storage(&InMemoryStorage::new(), "Conformance", 8).await.unwrap();
/// }).unwrap();
/// ```
pub async fn check_storage(
    store: &dyn StateStorage,
    type_name: &str,
    racers: usize,
) -> Result<(), Violation> {
    let id = |key: &str| ActorId {
        type_name: type_name.to_string().into(),
        key: key.into(),
    };
    lifecycle(store, &id("lifecycle")).await?;
    no_reuse(store, &id("reuse")).await?;
    keys_apart(store, type_name).await?;
    payloads(store, &id("payloads")).await?;
    race(store, &id("race"), racers.max(2)).await?;
    Ok(())
}

fn broke(case: &'static str, detail: impl fmt::Display) -> Violation {
    Violation {
        case,
        detail: detail.to_string(),
    }
}

/// Expects a conflict naming `expected` and `actual`.
fn expect_conflict<T: fmt::Debug>(
    case: &'static str,
    got: Result<T, StorageError>,
    expected: Option<ETag>,
    actual: Option<ETag>,
) -> Result<(), Violation> {
    match got {
        Err(StorageError::Conflict {
            expected: e,
            actual: a,
            ..
        }) if e == expected && a == actual => Ok(()),
        other => Err(broke(
            case,
            format!("expected a conflict (expected {expected:?}, found {actual:?}), got {other:?}"),
        )),
    }
}

/// Reads `id`, expecting `want`.
async fn expect_read(
    store: &dyn StateStorage,
    case: &'static str,
    id: &ActorId,
    want: Option<(&[u8], ETag)>,
) -> Result<(), Violation> {
    let got = store
        .read(id)
        .await
        .map_err(|e| broke(case, format!("read failed: {e}")))?;
    let got_ref = got.as_ref().map(|(d, e)| (&d[..], *e));
    if got_ref == want {
        Ok(())
    } else {
        Err(broke(case, format!("read {got:?}, expected {want:?}")))
    }
}

fn ok<T>(case: &'static str, r: Result<T, StorageError>) -> Result<T, Violation> {
    r.map_err(|e| broke(case, format!("failed: {e}")))
}

async fn lifecycle(store: &dyn StateStorage, id: &ActorId) -> Result<(), Violation> {
    const CASE: &str = "create, update, clear";
    expect_read(store, "a missing record reads as none", id, None).await?;
    ok(CASE, store.clear(id, None).await)?;
    let e1 = ok(CASE, store.write(id, b"one".to_vec(), None).await)?;
    expect_read(store, CASE, id, Some((b"one", e1))).await?;
    expect_conflict(
        "a create over an existing record",
        store.write(id, b"x".to_vec(), None).await,
        None,
        Some(e1),
    )?;
    let e2 = ok(CASE, store.write(id, b"two".to_vec(), Some(e1)).await)?;
    if e2 == e1 {
        return Err(broke(CASE, format!("an update kept the etag {e1}")));
    }
    expect_conflict(
        "an update with a stale etag",
        store.write(id, b"x".to_vec(), Some(e1)).await,
        Some(e1),
        Some(e2),
    )?;
    expect_conflict(
        "a clear with a stale etag",
        store.clear(id, Some(e1)).await,
        Some(e1),
        Some(e2),
    )?;
    expect_conflict(
        "a clear of an existing record expecting none",
        store.clear(id, None).await,
        None,
        Some(e2),
    )?;
    expect_read(
        store,
        "a refused write changes nothing",
        id,
        Some((b"two", e2)),
    )
    .await?;
    ok(CASE, store.clear(id, Some(e2)).await)?;
    expect_read(store, "a cleared record reads as none", id, None).await?;
    expect_conflict(
        "an update of a cleared record",
        store.write(id, b"x".to_vec(), Some(e2)).await,
        Some(e2),
        None,
    )?;
    Ok(())
}

/// A record cleared and created again never gets an etag it had: a writer
/// holding one from before the clear must conflict.
async fn no_reuse(store: &dyn StateStorage, id: &ActorId) -> Result<(), Violation> {
    const CASE: &str = "etags are never reused across a clear";
    let mut seen = Vec::new();
    for round in 0..3u8 {
        let mut etag = ok(CASE, store.write(id, vec![round], None).await)?;
        seen.push(etag);
        etag = ok(CASE, store.write(id, vec![round, 1], Some(etag)).await)?;
        seen.push(etag);
        ok(CASE, store.clear(id, Some(etag)).await)?;
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != seen.len() {
        return Err(broke(CASE, format!("etags handed out: {seen:?}")));
    }
    let fresh = ok(CASE, store.write(id, b"fresh".to_vec(), None).await)?;
    for old in seen {
        expect_conflict(
            CASE,
            store.write(id, b"stale".to_vec(), Some(old)).await,
            Some(old),
            Some(fresh),
        )?;
    }
    ok(CASE, store.clear(id, Some(fresh)).await)
}

/// Records of different keys and types are apart; any key text works.
async fn keys_apart(store: &dyn StateStorage, type_name: &str) -> Result<(), Violation> {
    const CASE: &str = "keys and types are kept apart";
    let long = "k".repeat(600);
    let keys = [
        "a",
        "A",
        "a ",
        "",
        "nul\0key",
        "ключ/..\\:*?\"<>|",
        "\u{1F600}",
        long.as_str(),
    ];
    let other_type = format!("{type_name}.other");
    let mut written = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        for (j, t) in [type_name, other_type.as_str()].into_iter().enumerate() {
            let id = ActorId {
                type_name: t.to_string().into(),
                key: (*key).into(),
            };
            let data = vec![i as u8, j as u8];
            let etag = ok(CASE, store.write(&id, data.clone(), None).await)?;
            written.push((id, data, etag));
        }
    }
    for (id, data, etag) in &written {
        expect_read(store, CASE, id, Some((data, *etag))).await?;
    }
    for (id, _, etag) in written {
        ok(CASE, store.clear(&id, Some(etag)).await)?;
    }
    Ok(())
}

/// Payloads come back byte for byte: empty, every byte value, large.
async fn payloads(store: &dyn StateStorage, id: &ActorId) -> Result<(), Violation> {
    const CASE: &str = "payloads come back byte for byte";
    let every_byte: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let large: Vec<u8> = (0..1_048_576u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut etag = None;
    for data in [Vec::new(), every_byte, large, b"\0".to_vec()] {
        let next = ok(CASE, store.write(id, data.clone(), etag).await)?;
        expect_read(store, CASE, id, Some((&data, next))).await?;
        etag = Some(next);
    }
    ok(CASE, store.clear(id, etag).await)
}

/// `racers` writers race on one etag: exactly one wins, the others
/// conflict, and the record is the winner's.
async fn race(store: &dyn StateStorage, id: &ActorId, racers: usize) -> Result<(), Violation> {
    const CASE: &str = "writers racing on one etag: exactly one wins";
    let base = ok(CASE, store.write(id, b"base".to_vec(), None).await)?;
    let writes: Vec<BoxFuture<'static, Result<ETag, StorageError>>> = (0..racers)
        .map(|i| store.write(id, format!("racer {i}").into_bytes(), Some(base)))
        .collect();
    let results = JoinAll::new(writes).await;
    let mut winner = None;
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(etag) if winner.is_none() => winner = Some((i, *etag)),
            Ok(_) => return Err(broke(CASE, format!("two writers won: {results:?}"))),
            Err(StorageError::Conflict { expected, .. }) if *expected == Some(base) => {}
            Err(e) => return Err(broke(CASE, format!("a racer failed otherwise: {e}"))),
        }
    }
    let Some((i, etag)) = winner else {
        return Err(broke(CASE, format!("no writer won: {results:?}")));
    };
    expect_read(
        store,
        CASE,
        id,
        Some((format!("racer {i}").as_bytes(), etag)),
    )
    .await?;
    ok(CASE, store.clear(id, Some(etag)).await)
}

/// Polls every future until all are done; their outputs in order.
pub(crate) struct JoinAll<T> {
    futures: Vec<Option<BoxFuture<'static, T>>>,
    outputs: Vec<Option<T>>,
}

impl<T> JoinAll<T> {
    pub(crate) fn new(futures: Vec<BoxFuture<'static, T>>) -> Self {
        let outputs = futures.iter().map(|_| None).collect();
        Self {
            futures: futures.into_iter().map(Some).collect(),
            outputs,
        }
    }
}

impl<T> Unpin for JoinAll<T> {}

impl<T> Future for JoinAll<T> {
    type Output = Vec<T>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<T>> {
        let this = &mut *self;
        let mut pending = false;
        for (slot, out) in this.futures.iter_mut().zip(this.outputs.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            return Poll::Pending;
        }
        Poll::Ready(this.outputs.iter_mut().filter_map(Option::take).collect())
    }
}
