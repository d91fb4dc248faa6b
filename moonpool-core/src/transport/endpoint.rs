//! A node's transport endpoint: the listener, one connection per peer,
//! dialing with backoff, and request/response correlation.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moonpool_sim::{Instant, NetStream, Providers};
use tokio::sync::oneshot;

use super::config::TransportConfig;
use super::conn::{self, Conn};
use super::error::TransportError;
use super::handshake::{self, PendingHandshakes};
use super::inbound::Inbound;
use super::payload::{Outgoing, Payload};
use super::rivals::{Ends, Settle, settle};
use super::wire::NodeId;
use crate::spawn::spawn_in;
use crate::sync::lock;

struct Peer {
    conn: Option<Arc<Conn>>,
    /// Serialises dialing, so concurrent callers share one connect.
    dial: Arc<tokio::sync::Mutex<()>>,
    backoff: Duration,
    next_attempt: Instant,
    /// A connection to this peer was established before: the next one is
    /// a reconnect.
    was_connected: bool,
}

impl Peer {
    /// A peer never connected to.
    fn new() -> Self {
        Self {
            conn: None,
            dial: Arc::new(tokio::sync::Mutex::new(())),
            backoff: Duration::ZERO,
            next_attempt: Instant::ZERO,
            was_connected: false,
        }
    }
}

struct Inner {
    providers: Providers,
    config: TransportConfig,
    local: NodeId,
    inbound: Arc<dyn Inbound>,
    peers: Mutex<BTreeMap<SocketAddr, Peer>>,
    next_request: AtomicU64,
    pending_handshakes: Arc<PendingHandshakes>,
    /// Tells the accept loop to close the listener (on
    /// [`Transport::shutdown`], or when the last handle goes).
    stop_listening: Arc<tokio::sync::Notify>,
    /// Set (and notified) once the listener is closed.
    listener_closed: Arc<(AtomicBool, tokio::sync::Notify)>,
}

/// Marks the listener closed when the accept loop ends, however it ends.
struct ListenerClosed(Arc<(AtomicBool, tokio::sync::Notify)>);

impl Drop for ListenerClosed {
    fn drop(&mut self) {
        self.0.0.store(true, Ordering::Release);
        self.0.1.notify_waiters();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_listening.notify_one();
    }
}

/// A node's transport endpoint. Cheap to clone.
///
/// # Example
///
/// ```
/// use moonpool_core::transport::{Inbound, NodeId, Payload, Responder, Transport, TransportConfig};
/// use moonpool_sim::Simulation;
/// use std::{sync::Arc, time::Duration};
///
/// struct Upper;
/// impl Inbound for Upper {
///     fn dispatch(&self, _from: NodeId, request: Payload, responder: Responder) {
///         responder.reply(request.to_ascii_uppercase());
///     }
/// }
///
/// Simulation::new(1).faults(moonpool_sim::chaos::FaultConfig::calm()).run(|sim| async move {
///     let a = sim.add_process("a");
///     let b = sim.add_process("b");
///     let config = TransportConfig::new("demo");
///     let ta = Transport::start(sim.providers_for(a), "10.0.0.2:5000".parse().unwrap(), config.clone(), Arc::new(Upper)).await.unwrap();
///     let _tb = Transport::start(sim.providers_for(b), "10.0.0.3:5000".parse().unwrap(), config, Arc::new(Upper)).await.unwrap();
///     let reply = ta.request("10.0.0.3:5000".parse().unwrap(), &b"hi"[..], Duration::from_secs(1)).await;
///     assert_eq!(reply.unwrap(), b"HI");
/// }).unwrap();
/// ```
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

impl Transport {
    /// Listens on `listen` and starts accepting peers.
    ///
    /// # Errors
    ///
    /// [`TransportError::InvalidConfig`] for a configuration that cannot
    /// work (a cluster id longer than [`MAX_CLUSTER_ID_BYTES`](super::MAX_CLUSTER_ID_BYTES), say);
    /// [`TransportError::Bind`] when the address cannot be bound.
    pub async fn start(
        providers: Providers,
        listen: SocketAddr,
        config: TransportConfig,
        inbound: Arc<dyn Inbound>,
    ) -> Result<Transport, TransportError> {
        handshake::check_config(&config)?;
        let bind_err = |e: std::io::Error| TransportError::Bind {
            addr: listen,
            reason: e.to_string(),
        };
        let mut listener = providers.bind(listen).await.map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let local = NodeId {
            addr,
            incarnation: providers.random_u64(),
        };
        let transport = Transport {
            inner: Arc::new(Inner {
                providers: providers.clone(),
                config,
                local,
                inbound,
                peers: Mutex::new(BTreeMap::new()),
                next_request: AtomicU64::new(1),
                pending_handshakes: Arc::default(),
                stop_listening: Arc::default(),
                listener_closed: Arc::default(),
            }),
        };
        let weak = Arc::downgrade(&transport.inner);
        let stop = Arc::clone(&transport.inner.stop_listening);
        let closed = Arc::clone(&transport.inner.listener_closed);
        let span = &transport.inner.config.span;
        spawn_in(&providers, format!("accept:{addr}"), span, async move {
            let _closed_on_exit = ListenerClosed(closed);
            let mut full = false;
            loop {
                // The listener closes (its port is free again) when the
                // transport shuts down or its last handle goes.
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = stop.notified() => break,
                };
                let Ok((stream, from)) = accepted else { break };
                let Some(inner) = weak.upgrade() else { break };
                let limit = inner.config.max_pending_handshakes;
                let Some(slot) = inner.pending_handshakes.take(limit) else {
                    // Dropped: closed at once. Warn when the limit is first
                    // reached, not for every connection of a flood.
                    if !full {
                        tracing::warn!(%from, limit, "too many connections waiting for their handshake; closing new ones until some finish");
                    } else {
                        tracing::debug!(%from, limit, "closing a connection: too many waiting for their handshake");
                    }
                    full = true;
                    drop(stream);
                    continue;
                };
                full = false;
                let t = Transport { inner };
                let p = t.inner.providers.clone();
                let span = t.inner.config.span.clone();
                spawn_in(&p, format!("handshake:{from}"), &span, async move {
                    let p = t.inner.providers.clone();
                    let (cfg, local) = (&t.inner.config, t.inner.local);
                    let accepted = handshake::accept(&p, cfg, local, stream, from).await;
                    drop(slot);
                    if let Some((stream, peer)) = accepted {
                        t.install(stream, peer, peer);
                    }
                });
            }
        });
        Ok(transport)
    }

    /// How many accepted connections are waiting for their handshake.
    pub fn pending_handshakes(&self) -> usize {
        self.inner.pending_handshakes.count()
    }

    /// This node's identity.
    pub fn local(&self) -> NodeId {
        self.inner.local
    }

    /// The peers with a usable connection right now.
    pub fn connected_peers(&self) -> Vec<NodeId> {
        lock(&self.inner.peers)
            .values()
            .filter_map(|p| p.conn.as_ref().filter(|c| c.is_usable()).map(|c| c.peer))
            .collect()
    }

    /// Sends `request` to `to` and waits at most `timeout` for the answer
    /// (connecting, with backoff, if needed).
    ///
    /// # Errors
    ///
    /// Any [`TransportError`]; [`TransportError::TooLarge`] for a request
    /// over the frame limit (not sent).
    pub async fn request(
        &self,
        to: SocketAddr,
        request: impl Into<Outgoing>,
        timeout: Duration,
    ) -> Result<Payload, TransportError> {
        let request = request.into();
        let p = &self.inner.providers;
        let deadline = p.now() + timeout;
        let timed_out = || TransportError::Timeout {
            peer: to,
            after: timeout,
        };
        let conn = match p.timeout_at(deadline, self.connection(to, deadline)).await {
            Ok(conn) => conn?,
            Err(_) => return Err(timed_out()),
        };
        let id = self.inner.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let heard = conn.received();
        conn.request(id, request, tx)?;
        match p.timeout_at(deadline, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(TransportError::ConnectionLost { peer: to }),
            Err(_) => {
                conn.forget(id);
                if conn.received() == heard {
                    // Not one frame from the peer for the whole timeout,
                    // while nodes ping each other every probe interval: the
                    // peer has most likely lost this connection (it crashed
                    // or reset it and the reset never arrived). Close it so
                    // the next request dials afresh.
                    tracing::debug!(peer = %to, after = ?timeout, "nothing heard on the connection during a request; closing it as half-open");
                    conn.close();
                }
                Err(timed_out())
            }
        }
    }

    /// Sends `message` to `to` without waiting for an answer (the peer's
    /// [`Inbound::dispatch`] gets a responder whose answer goes nowhere).
    ///
    /// # Errors
    ///
    /// When no connection can be made within `timeout`;
    /// [`TransportError::TooLarge`] for a message over the frame limit.
    pub async fn send(
        &self,
        to: SocketAddr,
        message: impl Into<Outgoing>,
        timeout: Duration,
    ) -> Result<(), TransportError> {
        let message = message.into();
        let p = &self.inner.providers;
        let deadline = p.now() + timeout;
        match p.timeout_at(deadline, self.connection(to, deadline)).await {
            Ok(conn) => conn?.one_way(message),
            Err(_) => Err(TransportError::Timeout {
                peer: to,
                after: timeout,
            }),
        }
    }

    /// A usable connection to `to`, dialing (with backoff) if there is none.
    async fn connection(
        &self,
        to: SocketAddr,
        deadline: Instant,
    ) -> Result<Arc<Conn>, TransportError> {
        let dial_lock = {
            let mut peers = lock(&self.inner.peers);
            let peer = peers.entry(to).or_insert_with(Peer::new);
            if let Some(c) = peer.conn.as_ref().filter(|c| c.is_usable()) {
                return Ok(Arc::clone(c));
            }
            Arc::clone(&peer.dial)
        };
        let _dialing = dial_lock.lock().await;
        let p = &self.inner.providers;
        loop {
            let next_attempt = {
                let peers = lock(&self.inner.peers);
                match peers.get(&to) {
                    Some(peer) => {
                        if let Some(c) = peer.conn.as_ref().filter(|c| c.is_usable()) {
                            return Ok(Arc::clone(c));
                        }
                        if peer.was_connected && peer.backoff.is_zero() {
                            // Once per outage: the backoff is reset only by
                            // a connect that succeeds.
                            tracing::info!(peer = %to, "reconnecting: the connection to this peer was lost");
                        }
                        peer.next_attempt
                    }
                    None => Instant::ZERO,
                }
            };
            if next_attempt > deadline {
                return Err(TransportError::Unreachable {
                    peer: to,
                    reason: "backing off after failed connects".to_string(),
                });
            }
            p.sleep_until(next_attempt).await;
            match self.dial(to).await {
                Ok(conn) => {
                    if let Some(peer) = lock(&self.inner.peers).get_mut(&to) {
                        peer.backoff = Duration::ZERO;
                    }
                    return Ok(conn);
                }
                Err(e @ TransportError::Refused { .. }) => return Err(e),
                Err(e) => {
                    let now = p.now();
                    let delay = {
                        let mut peers = lock(&self.inner.peers);
                        let Some(peer) = peers.get_mut(&to) else {
                            return Err(e);
                        };
                        let cfg = &self.inner.config;
                        peer.backoff = (peer.backoff * 2).clamp(cfg.backoff_min, cfg.backoff_max);
                        let jitter = p.random_duration(Duration::ZERO, peer.backoff / 2);
                        let delay = peer.backoff + jitter;
                        peer.next_attempt = now + delay;
                        delay
                    };
                    tracing::debug!(peer = %to, error = %e, retry_in = ?delay, "connect failed");
                    if now + delay > deadline {
                        return Err(match e {
                            TransportError::Timeout { .. } => TransportError::Unreachable {
                                peer: to,
                                reason: "handshake timed out".to_string(),
                            },
                            other => other,
                        });
                    }
                }
            }
        }
    }

    /// Connects and handshakes as the dialer.
    async fn dial(&self, to: SocketAddr) -> Result<Arc<Conn>, TransportError> {
        let inner = &self.inner;
        let (stream, peer) =
            handshake::dial(&inner.providers, &inner.config, inner.local, to).await?;
        if peer.addr != to {
            tracing::warn!(dialed = %to, answered = %peer, "peer answered with another address");
        }
        Ok(self.install(stream, peer, inner.local))
    }

    /// Registers an established connection for `peer`. When another usable
    /// connection to the same peer exists, [`settle`] decides which
    /// survives: the loser is closed (the peer restarted, or gave it up)
    /// or retired (a dialing race) — a retired connection still answers
    /// what was sent on it, and closes once both sides have retired it and
    /// nothing is in flight on it.
    fn install(&self, stream: NetStream, peer: NodeId, dialer: NodeId) -> Arc<Conn> {
        crate::metrics::connected();
        let weak = Arc::downgrade(&self.inner);
        let ends = Ends { peer, dialer };
        let conn = conn::start(
            &self.inner.providers,
            stream,
            ends,
            self.inner.config.max_frame_bytes,
            &self.inner.config.span,
            Arc::clone(&self.inner.inbound),
            move |closed| {
                if let Some(inner) = weak.upgrade() {
                    let mut peers = lock(&inner.peers);
                    if let Some(p) = peers.get_mut(&closed.peer.addr)
                        && p.conn.as_ref().is_some_and(|c| Arc::ptr_eq(c, closed))
                    {
                        p.conn = None;
                    }
                }
            },
        );
        let mut peers = lock(&self.inner.peers);
        let slot = peers.entry(peer.addr).or_insert_with(Peer::new);
        let usable = slot.conn.clone().filter(|c| c.is_usable());
        if slot.was_connected && usable.is_none() {
            crate::metrics::reconnected();
            tracing::info!(peer = %peer, "reconnected");
        }
        slot.was_connected = true;
        let Some(existing) = usable else {
            slot.conn = Some(Arc::clone(&conn));
            return conn;
        };
        match settle(existing.ends(), conn.ends()) {
            Settle::CloseExisting => {
                existing.close();
                slot.conn = Some(Arc::clone(&conn));
            }
            Settle::RetireNew => {
                conn.retire();
                return existing;
            }
            Settle::RetireExisting => {
                existing.retire();
                slot.conn = Some(Arc::clone(&conn));
            }
        }
        conn
    }

    /// Stops listening and closes every connection; pending requests fail
    /// with `ConnectionLost`. The port is free again once
    /// [`listener_closed`](Self::listener_closed) returns.
    pub fn shutdown(&self) {
        self.inner.stop_listening.notify_one();
        self.close_all();
    }

    /// Waits until the listener is closed (after
    /// [`shutdown`](Self::shutdown)).
    pub async fn listener_closed(&self) {
        let (flag, notify) = &*self.inner.listener_closed;
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if flag.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Closes every connection (the listener stays open); pending requests
    /// fail with `ConnectionLost`.
    pub fn close_all(&self) {
        let conns: Vec<Arc<Conn>> = lock(&self.inner.peers)
            .values_mut()
            .filter_map(|p| p.conn.take())
            .collect();
        for c in conns {
            c.close();
        }
    }
}
