//! One established connection: its way out (an [`Outbox`]: a writer task,
//! or the sender itself when the connection is idle), a reader task
//! dispatching what arrives, and the requests waiting for their responses.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use moonpool_sim::{NetReadHalf, NetStream, Providers};
use tokio::sync::oneshot;

use super::error::TransportError;
use super::frame::{FrameError, read_buffered_frame};
use super::inbound::{Inbound, Respond, Responder};
use super::outbox::Outbox;
use super::payload::{DATA_HEADER_LEN, Outgoing, Payload};
use super::rivals::Ends;
use super::wire::{Kind, NodeId};
use crate::spawn::spawn_in;
use crate::sync::lock;

type Waiter = oneshot::Sender<Result<Payload, TransportError>>;

/// A live connection to one peer.
pub(crate) struct Conn {
    pub(crate) peer: NodeId,
    /// Who dialed: decides which of two racing connections survives.
    pub(crate) dialer: NodeId,
    out: Outbox,
    /// The largest frame body either side accepts (both run one cluster's
    /// configuration): a larger message is refused before it is sent.
    max_frame: usize,
    pending: Mutex<BTreeMap<u64, Waiter>>,
    closed: AtomicBool,
    /// Superseded by another connection to the same peer: no new requests
    /// (and the peer has been told so).
    retired: AtomicBool,
    /// The peer retired it too: it sends no more requests here.
    peer_retired: AtomicBool,
    /// Requests received here and not answered yet.
    answering: AtomicU64,
    /// Frames received so far: a request that times out with this
    /// unchanged heard nothing at all from the peer (see `looks_dead`).
    received: AtomicU64,
}

impl Conn {
    pub(crate) fn is_usable(&self) -> bool {
        !self.closed.load(Ordering::Relaxed) && !self.retired.load(Ordering::Relaxed)
    }

    /// Who this connection is with, and who dialed it.
    pub(crate) fn ends(&self) -> Ends {
        Ends {
            peer: self.peer,
            dialer: self.dialer,
        }
    }

    /// How many frames have arrived on this connection.
    pub(crate) fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Queues a frame; `false` if the connection is gone.
    fn push(&self, frame: Vec<u8>) -> bool {
        !self.closed.load(Ordering::Relaxed) && self.out.send(frame)
    }

    /// The frame of `out`, unless it is too large to send.
    fn frame(&self, out: Outgoing, kind: Kind, id: u64) -> Result<Vec<u8>, TransportError> {
        if out.body_len() > self.max_frame {
            return Err(TransportError::TooLarge {
                peer: self.peer.addr,
                bytes: out.body_len(),
                max: self.max_frame,
            });
        }
        Ok(out.into_frame(kind, id))
    }

    /// Sends a request and registers `waiter` for its response.
    pub(crate) fn request(
        &self,
        id: u64,
        out: Outgoing,
        waiter: Waiter,
    ) -> Result<(), TransportError> {
        let frame = self.frame(out, Kind::Request, id)?;
        lock(&self.pending).insert(id, waiter);
        if self.push(frame) {
            Ok(())
        } else {
            lock(&self.pending).remove(&id);
            Err(TransportError::ConnectionClosed {
                peer: self.peer.addr,
            })
        }
    }

    /// Gives up on request `id` (it timed out).
    pub(crate) fn forget(&self, id: u64) {
        lock(&self.pending).remove(&id);
        self.close_if_drained();
    }

    /// Sends a message expecting no answer.
    pub(crate) fn one_way(&self, out: Outgoing) -> Result<(), TransportError> {
        let frame = self.frame(out, Kind::OneWay, 0)?;
        if self.push(frame) {
            Ok(())
        } else {
            Err(TransportError::ConnectionClosed {
                peer: self.peer.addr,
            })
        }
    }

    /// Stops using this connection for new requests and tells the peer,
    /// which does the same; it closes once neither side waits for
    /// anything on it (see [`Conn::close_if_drained`]). Requests already
    /// in flight either way are still answered, so superseding a
    /// connection never loses a call.
    pub(crate) fn retire(&self) {
        if self.retired.swap(true, Ordering::AcqRel) {
            return;
        }
        self.push(Outgoing::new().into_frame(Kind::Retire, 0));
        self.close_if_drained();
    }

    /// The peer retired this connection.
    fn peer_retired(&self) {
        // Release: whoever sees this also sees the requests counted before.
        self.peer_retired.store(true, Ordering::Release);
        self.close_if_drained();
    }

    /// Closes a connection both sides have retired once nothing is in
    /// flight on it: every request this side sent has its response, and
    /// every request it received has been answered. (The peer retired it
    /// after its last request here, and frames arrive in order, so no
    /// request can still be on its way; the answers queued before the
    /// close are written before the stream shuts down.)
    fn close_if_drained(&self) {
        // Acquire, pairing with the Release stores: a zero count seen here
        // comes after the answers were queued, so they go out before the
        // close; a retirement seen here comes with the requests before it.
        let drained = self.retired.load(Ordering::Acquire)
            && self.peer_retired.load(Ordering::Acquire)
            && self.answering.load(Ordering::Acquire) == 0
            && lock(&self.pending).is_empty();
        if drained {
            self.close();
        }
    }

    /// Closes the connection; waiting requests fail with `ConnectionLost`.
    pub(crate) fn close(&self) {
        if self.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        // What was queued before still goes out.
        self.out.shut_down();
        let waiters = std::mem::take(&mut *lock(&self.pending));
        for (_, w) in waiters {
            let _ = w.send(Err(TransportError::ConnectionLost {
                peer: self.peer.addr,
            }));
        }
    }

    fn complete(&self, id: u64, result: Result<Payload, String>) {
        let waiter = lock(&self.pending).remove(&id);
        if let Some(w) = waiter {
            let _ = w.send(result.map_err(|message| TransportError::Remote { message }));
        }
        self.close_if_drained();
    }
}

/// Starts the reader and writer tasks of a handshaken stream, in a
/// `conn{peer}` span under `span` (the node's).
pub(crate) fn start(
    providers: &Providers,
    stream: NetStream,
    ends: Ends,
    max_frame: usize,
    span: &tracing::Span,
    inbound: Arc<dyn Inbound>,
    on_close: impl FnOnce(&Arc<Conn>) + Send + 'static,
) -> Arc<Conn> {
    let (read, write) = stream.into_halves();
    let (out, writer) = Outbox::new(write);
    let Ends { peer, dialer } = ends;
    let conn = Arc::new(Conn {
        peer,
        dialer,
        out,
        max_frame,
        pending: Mutex::new(BTreeMap::new()),
        closed: AtomicBool::new(false),
        retired: AtomicBool::new(false),
        peer_retired: AtomicBool::new(false),
        answering: AtomicU64::new(0),
        received: AtomicU64::new(0),
    });
    // At debug, each connection has a span of its own; otherwise its
    // tasks run in the node's. Made inside the node's span rather than
    // naming it the parent by id (see `actor::spans`: a node built under
    // another subscriber than the current one).
    let own = if span.is_none() {
        tracing::debug_span!(parent: None, "conn", %peer)
    } else {
        span.in_scope(|| tracing::debug_span!("conn", %peer))
    };
    let span = if own.is_none() { span.clone() } else { own };
    spawn_in(
        providers,
        format!("conn-writer:{}", peer.addr),
        &span,
        writer,
    );
    let reader_conn = Arc::clone(&conn);
    spawn_in(
        providers,
        format!("conn-reader:{}", peer.addr),
        &span,
        async move {
            let read = tokio::io::BufReader::with_capacity(READ_BUFFER_BYTES, read);
            reader(read, &reader_conn, max_frame, inbound).await;
            reader_conn.close();
            on_close(&reader_conn);
        },
    );
    conn
}

/// The reader's buffer: many small frames per read system call, while a
/// body at least this large is read past it, straight into its own
/// buffer. Small because it is zeroed when a connection opens (64 KiB was
/// an eighth of a 30-node bank simulation's instructions, its nodes
/// opening a thousand connections).
const READ_BUFFER_BYTES: usize = 8 * 1024;

async fn reader(
    mut read: tokio::io::BufReader<NetReadHalf>,
    conn: &Arc<Conn>,
    max_frame: usize,
    inbound: Arc<dyn Inbound>,
) {
    loop {
        let body = match read_buffered_frame(&mut read, max_frame).await {
            Ok(body) => body,
            Err(FrameError::Closed) => return,
            Err(FrameError::Io(e)) => {
                // The connection broke (reset, aborted): not the peer's
                // fault, nothing to shout about.
                tracing::debug!(peer = %conn.peer, error = %e, "connection lost");
                return;
            }
            Err(e) => {
                tracing::error!(peer = %conn.peer, error = %e, "dropping connection after a bad frame");
                return;
            }
        };
        conn.received.fetch_add(1, Ordering::Relaxed);
        crate::metrics::received(body.len() as u64);
        let Some((kind, id)) = Kind::parse(&body) else {
            tracing::error!(peer = %conn.peer, "dropping connection after a frame of no known kind");
            return;
        };
        let payload = Payload::within(body, DATA_HEADER_LEN);
        match kind {
            Kind::Response => conn.complete(id, Ok(payload)),
            Kind::Failure => {
                conn.complete(id, Err(String::from_utf8_lossy(&payload).into_owned()));
            }
            Kind::Request => {
                // Counted before the responder exists: it answers once.
                conn.answering.fetch_add(1, Ordering::Relaxed);
                let responder = Responder::new(Arc::clone(conn) as Arc<dyn Respond>, id);
                inbound.dispatch(conn.peer, payload, responder);
            }
            Kind::OneWay => inbound.dispatch(conn.peer, payload, Responder::nowhere()),
            Kind::Retire => conn.peer_retired(),
        }
    }
}

/// The longest start of `text` that fits in `max` bytes.
fn clip(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl Respond for Conn {
    /// Sends the response to request `id` (dropped if the connection is
    /// gone: the requester times out or sees the connection close).
    fn respond(&self, id: u64, answer: Result<Outgoing, String>) {
        let frame = answer
            .and_then(|out| {
                self.frame(out, Kind::Response, id)
                    .map_err(|e| e.to_string())
            })
            .unwrap_or_else(|message| {
                let text = clip(&message, self.max_frame.saturating_sub(DATA_HEADER_LEN));
                Outgoing::from(text.as_bytes()).into_frame(Kind::Failure, id)
            });
        self.push(frame);
        self.answering.fetch_sub(1, Ordering::Release);
        self.close_if_drained();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn clip_never_cuts_a_character_and_never_passes_the_limit() {
        // "é" is two bytes: a limit inside it keeps the text before it.
        assert_eq!(clip("aéb", 2), "a");
        assert_eq!(clip("aéb", 3), "aé");
        assert_eq!(clip("aéb", 10), "aéb");
        assert_eq!(clip("é", 1), "");
        // Four bytes, cut at every place inside.
        for max in 1..4 {
            assert_eq!(clip("x🦀", max + 1), "x");
        }
    }
}
