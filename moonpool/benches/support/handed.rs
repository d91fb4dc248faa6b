//! The raw echo's client with one change, moonpool's way of reading: a
//! reader task of the connection's own reads every response and hands it
//! to the caller waiting for it, so a caller that stops waiting never
//! stalls the others on the connection. Set beside the raw echo, it shows
//! what that hand-off costs by itself.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::oneshot;

/// The callers waiting on one connection, oldest first (the echo answers
/// in order).
type Waiting = Arc<Mutex<VecDeque<oneshot::Sender<Vec<u8>>>>>;

/// A connection whose responses its reader task hands over.
pub struct Handed {
    write: OwnedWriteHalf,
    waiting: Waiting,
}

impl Handed {
    /// `stream`, with its reader task started.
    pub fn new(stream: TcpStream) -> Self {
        let (mut read, write) = stream.into_split();
        let waiting = Waiting::default();
        let handing = Arc::clone(&waiting);
        tokio::spawn(async move {
            // Read as the raw echo's caller reads: the length, then the body.
            let mut len = [0u8; 4];
            while read.read_exact(&mut len).await.is_ok() {
                let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
                if read.read_exact(&mut body).await.is_err() {
                    break;
                }
                let waiter = handing.lock().unwrap().pop_front();
                if let Some(waiter) = waiter {
                    let _ = waiter.send(body);
                }
            }
        });
        Self { write, waiting }
    }
}

/// `calls` sequential echoes of a 24-byte body on `h`; the connection
/// back, for the next round.
pub async fn calls(mut h: Handed, calls: u64) -> Handed {
    let body = [7u8; 24];
    for _ in 0..calls {
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        let (tx, rx) = oneshot::channel();
        h.waiting.lock().unwrap().push_back(tx);
        h.write.write_all(&out).await.unwrap();
        let back = rx.await.unwrap();
        assert_eq!(back.len(), body.len());
    }
    h
}
