//! The directory: each live host owns the partition of actor ids the ring
//! gives it, and answers where those actors live.

use std::time::Duration;

use moonpool_sim::Instant;

use super::protocol::{NodeRequest, NodeResponse};
use super::watch::refresh;
use super::{NodeInner, View};
use crate::actor::ActorId;
use crate::sync::lock;
use crate::transport::{NodeId, TransportError};

/// How long a directory request may take.
const DIRECTORY_TIMEOUT: Duration = Duration::from_secs(5);

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

impl NodeInner {
    /// The node owning `id`'s directory entry.
    pub(crate) fn directory_owner(&self, id: &ActorId) -> Option<NodeId> {
        lock(&self.view).ring.owner(id)
    }

    /// Registers `candidate` as `id`'s home unless it has a live one;
    /// returns the home, or `None` if the actor has no home and the
    /// candidate may not take it (it is leaving or gone: place again).
    /// Registration always happens at the partition's owner as seen in a
    /// freshly read membership, so two nodes with different stale views
    /// cannot both register.
    pub(crate) async fn directory_register(
        &self,
        id: &ActorId,
        candidate: NodeId,
    ) -> Result<Option<NodeId>, TransportError> {
        let no_owner = || TransportError::Unreachable {
            peer: self.config.listen,
            reason: "no live host owns the directory yet".to_string(),
        };
        let mut attempt = 0;
        while attempt < 3 {
            if attempt > 0 {
                refresh(self).await;
            }
            attempt += 1;
            let owner = self.directory_owner(id).ok_or_else(no_owner)?;
            if owner == self.node_id() {
                refresh(self).await;
                if self.directory_owner(id) != Some(owner) {
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
                        attempt -= 1;
                        continue;
                    }
                }
            }
            let req = NodeRequest::Register {
                actor: id.clone(),
                candidate,
            };
            match self.request(owner, &req, DIRECTORY_TIMEOUT).await? {
                NodeResponse::Location(home) => return Ok(home),
                NodeResponse::WrongOwner => continue,
                NodeResponse::Failed(e) => {
                    return Err(TransportError::Remote {
                        message: e.to_string(),
                    });
                }
                _ => {
                    return Err(TransportError::Remote {
                        message: format!(
                            "the directory owner {} answered a registration with something else",
                            owner.addr
                        ),
                    });
                }
            }
        }
        Err(TransportError::Unreachable {
            peer: self.config.listen,
            reason: "directory ownership kept moving".to_string(),
        })
    }

    /// A `Register` from a peer: answer only for a partition this node owns
    /// in a freshly read membership. `Location(None)` refuses the
    /// candidate.
    pub(crate) async fn handle_register(&self, id: &ActorId, candidate: NodeId) -> NodeResponse {
        loop {
            refresh(self).await;
            if self.directory_owner(id) != Some(self.node_id()) {
                return NodeResponse::WrongOwner;
            }
            return match self.register_here(id, candidate).await {
                Ok(Registered::Home(home)) => NodeResponse::Location(Some(home)),
                Ok(Registered::Refused) => NodeResponse::Location(None),
                Ok(Registered::NotOwner) => NodeResponse::WrongOwner,
                Ok(Registered::HeldUntil(until)) => {
                    tracing::info!(actor = %id, wait = ?until.saturating_duration_since(self.providers.now()), "placing the actor waits until a dead node's lease has surely run out");
                    self.providers.sleep_until(until).await;
                    continue;
                }
                Err(e) => NodeResponse::Failed(crate::actor::CallError::NodeUnreachable {
                    actor: id.to_string(),
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
        let held = self.lease.placements_held_until();
        if self.providers.now() < held {
            return Ok(Registered::HeldUntil(held));
        }
        let me = self.node_id();
        let mut found = None;
        if lock(&self.activations).contains_key(id) {
            found = Some(me);
        } else {
            for host in self.unreported_hosts() {
                let req = NodeRequest::Hosts { actor: id.clone() };
                match self.request(host, &req, DIRECTORY_TIMEOUT).await {
                    Ok(NodeResponse::Location(Some(n))) => {
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
        let view = lock(&self.view);
        if view.ring.owner(id) != Some(me) {
            // The ring changed while the hosts were asked: the new owner
            // has the reports, this node no longer does.
            return Ok(Registered::NotOwner);
        }
        let mut dir = lock(&self.directory);
        Ok(Registered::Home(match dir.get(id) {
            Some(home) if view.is_serving(*home) => *home,
            _ => {
                if found.is_none() && !view.is_placeable(candidate) {
                    return Ok(Registered::Refused);
                }
                let home = found.unwrap_or(candidate);
                tracing::debug!(node = %me, actor = %id, %home, "directory: registered");
                dir.insert(id.clone(), home);
                home
            }
        }))
    }

    fn live_entry(&self, id: &ActorId) -> Option<NodeId> {
        let view = lock(&self.view);
        lock(&self.directory)
            .get(id)
            .copied()
            .filter(|home| view.is_serving(*home))
    }

    /// Entries handed over by the previous owner. An entry that conflicts
    /// with one registered here meanwhile means a duplicate activation: the
    /// entry here wins and the other activation is told to stop.
    pub(crate) fn accept_handoff(&self, entries: Vec<(ActorId, NodeId)>) -> Vec<(NodeId, ActorId)> {
        let view = lock(&self.view);
        let mut dir = lock(&self.directory);
        let mut losers = Vec::new();
        for (actor, node) in entries {
            match dir.get(&actor) {
                Some(home) if *home != node && view.is_serving(*home) => losers.push((node, actor)),
                Some(home) if *home == node => {}
                _ => {
                    dir.insert(actor, node);
                }
            }
        }
        losers
    }

    /// Forgets `id`'s entry if it points at `node`.
    pub(crate) async fn directory_unregister(
        &self,
        id: &ActorId,
        node: NodeId,
    ) -> Result<(), TransportError> {
        let Some(owner) = self.directory_owner(id) else {
            return Ok(());
        };
        if owner == self.node_id() {
            self.dir_unregister_local(id, node);
            return Ok(());
        }
        let req = NodeRequest::Unregister {
            actor: id.clone(),
            node,
        };
        self.request(owner, &req, DIRECTORY_TIMEOUT)
            .await
            .map(|_| ())
    }

    pub(crate) fn dir_unregister_local(&self, id: &ActorId, node: NodeId) {
        let mut dir = lock(&self.directory);
        if dir.get(id) == Some(&node) {
            dir.remove(id);
        }
    }

    /// After a membership change: drop entries and cached locations that
    /// point at dead nodes, and hand entries this node no longer owns to
    /// their new owners.
    pub(crate) async fn rebalance_directory(&self, view: &View) {
        let me = self.node_id();
        lock(&self.cache).retain(|_, n| view.is_serving(*n));
        let mut moving: Vec<(NodeId, ActorId, NodeId)> = Vec::new();
        {
            let mut dir = lock(&self.directory);
            dir.retain(|_, n| view.is_serving(*n));
            dir.retain(|id, home| match view.ring.owner(id) {
                Some(owner) if owner != me => {
                    moving.push((owner, id.clone(), *home));
                    false
                }
                _ => true,
            });
        }
        let mut by_owner: std::collections::BTreeMap<NodeId, Vec<(ActorId, NodeId)>> =
            Default::default();
        for (owner, id, home) in moving {
            by_owner.entry(owner).or_default().push((id, home));
        }
        for (owner, entries) in by_owner {
            let req = NodeRequest::Handoff { entries };
            if let Err(e) = self.request(owner, &req, DIRECTORY_TIMEOUT).await {
                tracing::warn!(%owner, error = %e, "directory handoff failed");
            }
        }
    }
}
