//! The directory service: each live host owns the partition of actor ids
//! the ring gives it, and answers where those actors live. Registration
//! and hand-offs are here; re-reading membership and moving entries after
//! a ring change in `refresh.rs`; the reports of directory recovery in
//! `reports.rs`.
//!
//! Locks: `entries` may be taken while the cluster's view is held (never
//! the other way round); `recovery` is never held with another lock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use moonpool_sim::{Instant, Providers};

use super::cluster::Cluster;
use super::host::Host;
use super::net::Net;
use super::protocol::{DirectoryRequest, DirectoryResponse, HostRequest, HostResponse};
use super::recovery::Recovery;
use crate::id::{ActorId, IdMap};
use crate::sync::lock;
use crate::transport::{NodeId, TransportError};

/// How long a directory request may take.
pub(super) const DIRECTORY_TIMEOUT: Duration = Duration::from_secs(5);

/// The tries of one registration: it gives up after [`Tries::LIMIT`] while
/// directory ownership keeps moving; waiting out a placement hold is not a
/// try.
#[derive(Default)]
struct Tries {
    made: u32,
}

impl Tries {
    const LIMIT: u32 = 3;

    /// Starts the next try, if any is left: whether it is a retry (then
    /// the caller re-reads membership first).
    fn next(&mut self) -> Option<bool> {
        if self.made >= Self::LIMIT {
            return None;
        }
        self.made += 1;
        Some(self.made > 1)
    }

    /// The try just made does not count.
    fn refund(&mut self) {
        self.made = self.made.saturating_sub(1);
    }
}

/// What a registration at this node came to.
enum Registered {
    /// The actor's home.
    Home(NodeId),
    /// The ring moved the partition elsewhere meanwhile: ask the new owner.
    NotOwner,
    /// The actor has no home, and the candidate may not take it: in this
    /// node's fresh view it is leaving or gone. Place it elsewhere.
    Refused,
    /// A new activation would be needed, but placements are held after a
    /// death until then (see `lease.rs`): try again after it.
    HeldUntil(Instant),
}

/// The directory service (see the module docs).
pub(crate) struct Directory {
    pub(super) net: Net,
    pub(super) providers: Arc<Providers>,
    pub(super) cluster: Arc<Cluster>,
    pub(super) host: Arc<Host>,
    /// Where the actors of this node's partition live.
    pub(super) entries: Mutex<IdMap<NodeId>>,
    /// Which hosts have reported their activations since the ring last
    /// changed (see `recovery.rs`).
    pub(super) recovery: Mutex<Recovery>,
}

impl Directory {
    /// The directory of the node on `net`.
    pub(crate) fn new(
        net: Net,
        providers: Arc<Providers>,
        cluster: Arc<Cluster>,
        host: Arc<Host>,
    ) -> Self {
        Self {
            net,
            providers,
            cluster,
            host,
            entries: Mutex::default(),
            recovery: Mutex::default(),
        }
    }
}

impl Directory {
    /// The node owning `id`'s directory entry.
    pub(crate) fn owner(&self, id: &ActorId) -> Option<NodeId> {
        self.cluster.owner(id)
    }

    /// Registers `candidate` as `id`'s home unless it has a live one;
    /// returns the home, or `None` if the actor has no home and the
    /// candidate may not take it (it is leaving or gone: place again).
    /// Registration always happens at the partition's owner as seen in a
    /// freshly read membership, so two nodes with different stale views
    /// cannot both register.
    pub(crate) async fn register(
        &self,
        id: &ActorId,
        candidate: NodeId,
    ) -> Result<Option<NodeId>, TransportError> {
        let no_owner = || TransportError::Unreachable {
            peer: self.net.me().addr,
            reason: "no live host owns the directory yet".to_string(),
        };
        let mut tries = Tries::default();
        while let Some(retry) = tries.next() {
            if retry {
                self.refresh().await;
            }
            let owner = self.owner(id).ok_or_else(no_owner)?;
            if owner == self.net.me() {
                self.refresh().await;
                if self.owner(id) != Some(owner) {
                    continue;
                }
                match self.register_here(id, candidate).await? {
                    Registered::Home(home) => return Ok(Some(home)),
                    Registered::Refused => return Ok(None),
                    Registered::NotOwner => continue,
                    Registered::HeldUntil(until) => {
                        // Waiting is not a failed attempt; ownership is
                        // checked again afterwards.
                        tracing::info!(actor = %id, wait = ?until.saturating_duration_since(self.providers.now()), "placing the actor waits until a dead node's lease has surely run out");
                        self.providers.sleep_until(until).await;
                        tries.refund();
                        continue;
                    }
                }
            }
            let req = DirectoryRequest::Register {
                actor: id.clone(),
                candidate,
            };
            let answer = self.net.request(owner, &req, DIRECTORY_TIMEOUT).await?;
            match registration_answer(owner, answer) {
                Some(decided) => return decided,
                None => continue,
            }
        }
        Err(TransportError::Unreachable {
            peer: self.net.me().addr,
            reason: "directory ownership kept moving".to_string(),
        })
    }

    /// A `Register` from a peer: answer only for a partition this node owns
    /// in a freshly read membership. `Location(None)` refuses the
    /// candidate.
    pub(crate) async fn handle_register(
        &self,
        id: &ActorId,
        candidate: NodeId,
    ) -> DirectoryResponse {
        loop {
            self.refresh().await;
            if self.owner(id) != Some(self.net.me()) {
                return DirectoryResponse::WrongOwner;
            }
            return match self.register_here(id, candidate).await {
                Ok(Registered::Home(home)) => DirectoryResponse::Location(Some(home)),
                Ok(Registered::Refused) => DirectoryResponse::Location(None),
                Ok(Registered::NotOwner) => DirectoryResponse::WrongOwner,
                Ok(Registered::HeldUntil(until)) => {
                    tracing::info!(actor = %id, wait = ?until.saturating_duration_since(self.providers.now()), "placing the actor waits until a dead node's lease has surely run out");
                    self.providers.sleep_until(until).await;
                    continue;
                }
                Err(e) => DirectoryResponse::Failed(crate::actor::CallError::NodeUnreachable {
                    actor: id.clone(),
                    reason: e.to_string(),
                }),
            };
        }
    }

    /// Registration at this (owning) node. After a ring change this
    /// partition may have come from a node that died with its entries:
    /// until every live host has reported its activations (see
    /// `recovery.rs`), ask the hosts that have not whether one of them
    /// already runs the actor, so a surviving activation is found rather
    /// than duplicated. A host that does not answer might run it: then
    /// nothing is registered and the caller gets an error (it may try
    /// again), since guessing would risk two activations. A new activation
    /// waits out the placement hold after a death (the caller waits and
    /// checks ownership again), and the entry is written only if this node
    /// still owns the partition.
    async fn register_here(
        &self,
        id: &ActorId,
        candidate: NodeId,
    ) -> Result<Registered, TransportError> {
        if let Some(home) = self.live_entry(id) {
            return Ok(Registered::Home(home));
        }
        // A host died lately: what it ran may be placed anew only once it
        // has surely stopped serving (see `lease.rs`).
        let held = self.cluster.lease.placements_held_until();
        if self.providers.now() < held {
            return Ok(Registered::HeldUntil(held));
        }
        let me = self.net.me();
        let mut found = None;
        if self.host.contains(id) {
            found = Some(me);
        } else {
            let unreported = lock(&self.recovery).unreported();
            for host in unreported {
                let req = HostRequest::Hosts { actor: id.clone() };
                match self.net.request(host, &req, DIRECTORY_TIMEOUT).await {
                    Ok(HostResponse::Hosts(Some(n))) => {
                        found = Some(n);
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(node = %me, actor = %id, %host, error = %e, "directory: an unreported host did not answer whether it hosts the actor");
                        return Err(TransportError::Unreachable {
                            peer: host.addr,
                            reason: format!(
                                "cannot tell whether it already hosts {id} ({e}); not placing a second activation"
                            ),
                        });
                    }
                }
            }
        }
        // Lock order: the view, then the entries.
        Ok(self.cluster.with_view(|view| {
            if view.owner(id) != Some(me) {
                // The ring changed while the hosts were asked: the new
                // owner has the reports, this node no longer does.
                return Registered::NotOwner;
            }
            let mut dir = lock(&self.entries);
            Registered::Home(match dir.get(id) {
                Some(home) if view.is_serving(*home) => *home,
                _ => {
                    if found.is_none() && !view.is_placeable(candidate) {
                        return Registered::Refused;
                    }
                    let home = found.unwrap_or(candidate);
                    tracing::debug!(node = %me, actor = %id, %home, "directory: registered");
                    dir.insert(id.clone(), home);
                    home
                }
            })
        }))
    }

    fn live_entry(&self, id: &ActorId) -> Option<NodeId> {
        self.cluster.with_view(|view| {
            lock(&self.entries)
                .get(id)
                .copied()
                .filter(|home| view.is_serving(*home))
        })
    }

    /// Entries handed over by the previous owner. An entry that conflicts
    /// with one registered here meanwhile means a duplicate activation: the
    /// entry here wins and the other activation is told to stop.
    pub(crate) fn accept_handoff(&self, entries: Vec<(ActorId, NodeId)>) -> Vec<(NodeId, ActorId)> {
        self.cluster.with_view(|view| {
            let mut dir = lock(&self.entries);
            let mut losers = Vec::new();
            for (actor, node) in entries {
                match dir.get(&actor) {
                    Some(home) if *home != node && view.is_serving(*home) => {
                        losers.push((node, actor));
                    }
                    Some(home) if *home == node => {}
                    _ => {
                        dir.insert(actor, node);
                    }
                }
            }
            losers
        })
    }

    /// Forgets `id`'s entry if it points at `node`.
    pub(crate) async fn unregister(
        &self,
        id: &ActorId,
        node: NodeId,
    ) -> Result<(), TransportError> {
        let Some(owner) = self.owner(id) else {
            return Ok(());
        };
        if owner == self.net.me() {
            self.unregister_here(id, node);
            return Ok(());
        }
        let req = DirectoryRequest::Unregister {
            actor: id.clone(),
            node,
        };
        self.net
            .request(owner, &req, DIRECTORY_TIMEOUT)
            .await
            .map(|_| ())
    }

    /// Forgets `id`'s entry here if it points at `node`.
    pub(crate) fn unregister_here(&self, id: &ActorId, node: NodeId) {
        let mut dir = lock(&self.entries);
        if dir.get(id) == Some(&node) {
            dir.remove(id);
        }
    }

    /// Tells each losing node to stop its duplicate activation (the
    /// directory kept another one).
    pub(crate) fn stop_duplicates(&self, losers: Vec<(NodeId, ActorId)>) {
        for (loser, actor) in losers {
            tracing::warn!(%actor, node = %loser, "duplicate activation found; stopping it");
            let net = self.net.clone();
            self.providers.spawn_named("stop-duplicate", async move {
                let req = HostRequest::Deactivate { actor };
                if let Err(e) = net.request(loser, &req, DIRECTORY_TIMEOUT).await {
                    tracing::warn!(node = %loser, error = %e, "could not stop a duplicate activation");
                }
            });
        }
    }
}

impl Directory {
    /// Where `id` lives, as this node's entries say.
    pub(crate) fn lookup(&self, id: &ActorId) -> Option<NodeId> {
        lock(&self.entries).get(id).copied()
    }
}

#[cfg(test)]
impl Directory {
    /// Every entry (for the service tests).
    pub(crate) fn all_entries(&self) -> Vec<(ActorId, NodeId)> {
        lock(&self.entries)
            .iter()
            .map(|(id, n)| (id.clone(), *n))
            .collect()
    }

    /// Whether directory recovery is done for this node's ring: every
    /// other host has reported, and this node's reports are all sent.
    pub(crate) fn recovery_settled(&self) -> bool {
        let recovery = lock(&self.recovery);
        recovery.unreported().is_empty() && !recovery.pending()
    }
}

/// What a remote owner's answer to a registration decides: the home (or a
/// refusal, `Ok(None)`), an error naming the owner's reason, or `None`:
/// it does not own the partition (any more), ask again.
fn registration_answer(
    owner: NodeId,
    answer: DirectoryResponse,
) -> Option<Result<Option<NodeId>, TransportError>> {
    match answer {
        DirectoryResponse::Location(home) => Some(Ok(home)),
        DirectoryResponse::WrongOwner => None,
        DirectoryResponse::Failed(e) => Some(Err(TransportError::Remote {
            message: e.to_string(),
        })),
        DirectoryResponse::Done => Some(Err(TransportError::Remote {
            message: format!(
                "the directory owner {} answered a registration with something else",
                owner.addr
            ),
        })),
    }
}

#[cfg(test)]
mod tests {
    use crate::actor::CallError;
    use crate::id::ActorId;
    use crate::node::directory::{Tries, registration_answer};
    use crate::node::protocol::DirectoryResponse;
    use crate::transport::{NodeId, TransportError};

    fn owner() -> NodeId {
        NodeId::test(4500)
    }

    #[test]
    fn a_remote_owners_answer_decides_the_registration() {
        let home = NodeId::test(4501);
        assert_eq!(
            registration_answer(owner(), DirectoryResponse::Location(Some(home))),
            Some(Ok(Some(home)))
        );
        assert_eq!(
            registration_answer(owner(), DirectoryResponse::Location(None)),
            Some(Ok(None)),
            "refused: place it elsewhere"
        );
        assert_eq!(
            registration_answer(owner(), DirectoryResponse::WrongOwner),
            None,
            "not the owner: ask again"
        );
    }

    #[test]
    fn a_failed_registration_carries_the_owners_reason() {
        let reason = CallError::NodeUnreachable {
            actor: ActorId {
                type_name: "Probe".into(),
                key: "k1".into(),
            },
            reason: "host 10.0.0.1:4502 did not say whether it runs the actor".into(),
        };
        let Some(Err(TransportError::Remote { message })) =
            registration_answer(owner(), DirectoryResponse::Failed(reason))
        else {
            panic!("a failure is an error");
        };
        assert!(message.contains("did not say whether it runs"), "{message}");
        let Some(Err(TransportError::Remote { message })) =
            registration_answer(owner(), DirectoryResponse::Done)
        else {
            panic!("an answer of another request is an error");
        };
        assert!(message.contains("10.0.0.1:4500"), "{message}");
    }

    #[test]
    fn a_registration_tries_three_times_and_retries_after_re_reading() {
        let mut tries = Tries::default();
        assert_eq!(tries.next(), Some(false), "the first try is no retry");
        assert_eq!(tries.next(), Some(true));
        assert_eq!(tries.next(), Some(true));
        assert_eq!(tries.next(), None, "three tries, then it gives up");
        assert_eq!(tries.next(), None);
    }

    #[test]
    fn waiting_out_a_hold_is_not_a_try() {
        let mut tries = Tries::default();
        assert_eq!(tries.next(), Some(false));
        tries.refund();
        assert_eq!(tries.next(), Some(false), "still the first try");
        assert_eq!(tries.next(), Some(true));
        tries.refund();
        assert_eq!(tries.next(), Some(true));
        assert_eq!(tries.next(), Some(true));
        assert_eq!(tries.next(), None);
    }
}
