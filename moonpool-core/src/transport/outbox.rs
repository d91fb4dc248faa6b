//! A connection's way out: frames are queued for a writer task, which
//! coalesces whatever is queued into one write; a sender that finds the
//! connection idle (nothing queued, the writer not busy) writes its frame
//! to the stream itself, sparing the hand-off to the writer task — the
//! cost a lone caller pays twice per call, once on each side.
//!
//! Frames go out in the order they were sent: a sender writes directly
//! only when every frame queued before has been written (the writer counts
//! them off only after writing, under the lock the sender takes), and the
//! rest of a frame the stream took in part is written before anything
//! queued after it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use moonpool_sim::NetWriteHalf;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc};

/// How many bytes of queued frames the writer sends in one write.
pub(super) const BATCH_BYTES: usize = 64 * 1024;

/// What the writer task is handed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Queued {
    /// A frame to write.
    Frame(Vec<u8>),
    /// A sender left the rest of its frame in [`Stream::rest`].
    Rest,
    /// Shut the stream down (what was queued before still goes out).
    Shutdown,
}

/// The stream's write half, shared by the writer task and the senders.
struct Stream {
    /// Dropped with the writer task (see [`Release`]).
    write: Option<NetWriteHalf>,
    /// The rest of a frame a sender began writing: written before
    /// anything queued.
    rest: Vec<u8>,
    /// The writer's last write carried more than one frame (a sign of
    /// load: senders then queue, so their frames share writes).
    busy: bool,
    /// Shut down or broken: nothing more is written.
    shut: bool,
}

/// The sending side of a connection's way out.
pub(super) struct Outbox {
    tx: mpsc::UnboundedSender<Queued>,
    shared: Arc<Shared>,
}

/// What the senders and the writer task share.
struct Shared {
    stream: Mutex<Stream>,
    /// Items queued and not yet written: a sender writes directly only
    /// when none are.
    queued: AtomicUsize,
}

impl Outbox {
    /// The outbox of `write`, and its writer task's future.
    pub(super) fn new(write: NetWriteHalf) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            stream: Mutex::new(Stream {
                write: Some(write),
                rest: Vec::new(),
                busy: false,
                shut: false,
            }),
            queued: AtomicUsize::new(0),
        });
        let release = Release(Arc::clone(&shared));
        let task = {
            let shared = Arc::clone(&shared);
            async move {
                let _release = release;
                writer(shared, rx).await;
            }
        };
        (Self { tx, shared }, task)
    }

    /// Sends `frame`: written now if the connection is idle and the stream
    /// takes it without waiting, else queued for the writer task. `false`
    /// if the connection is gone.
    pub(super) fn send(&self, frame: Vec<u8>) -> bool {
        let shared = &self.shared;
        if shared.queued.load(Ordering::Acquire) == 0
            && let Ok(mut stream) = shared.stream.try_lock()
            // Under the lock: the writer counts frames off only after
            // writing them, so zero means every earlier frame is out.
            && shared.queued.load(Ordering::Acquire) == 0
            && !stream.busy
            && !stream.shut
        {
            let written = stream.write_now(&frame);
            if written == frame.len() {
                crate::metrics::sent(1, written as u64);
                return true;
            }
            if written > 0 {
                crate::metrics::sent(1, written as u64);
                stream.rest.extend_from_slice(&frame[written..]);
                // Queued while the lock is held: whatever others queue
                // meanwhile comes after the rest.
                return self.queue(Queued::Rest);
            }
        }
        self.queue(Queued::Frame(frame))
    }

    /// Tells the writer task to shut the stream down once what was queued
    /// before is written.
    pub(super) fn shut_down(&self) {
        self.queue(Queued::Shutdown);
    }

    fn queue(&self, item: Queued) -> bool {
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        if self.tx.send(item).is_ok() {
            true
        } else {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            false
        }
    }
}

impl Stream {
    /// Writes what the stream takes without waiting; how many bytes (none
    /// when it would wait or failed: the writer task then meets the wait
    /// or the failure).
    fn write_now(&mut self, bytes: &[u8]) -> usize {
        let Some(write) = self.write.as_mut() else {
            return 0;
        };
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(write).poll_write(&mut cx, bytes) {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(_)) | Poll::Pending => 0,
        }
    }
}

/// Appends queued frames to `batch` up to [`BATCH_BYTES`], counting the
/// frames and the items taken; whether a shutdown came.
fn drain(
    rx: &mut mpsc::UnboundedReceiver<Queued>,
    batch: &mut Vec<u8>,
    frames: &mut u64,
    taken: &mut usize,
) -> bool {
    while batch.len() < BATCH_BYTES {
        match rx.try_recv() {
            Ok(next) => {
                *taken += 1;
                match next {
                    Queued::Frame(frame) => {
                        batch.extend_from_slice(&frame);
                        *frames += 1;
                    }
                    // Its bytes were taken with the lock.
                    Queued::Rest => {}
                    Queued::Shutdown => return true,
                }
            }
            Err(_) => return false,
        }
    }
    false
}

/// The writer task: writes what is queued, coalescing whatever is queued
/// into one write (one system call for many small frames under load),
/// until a shutdown or a failed write.
async fn writer(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Queued>) {
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    while let Some(first) = rx.recv().await {
        let mut stream = shared.stream.lock().await;
        batch.clear();
        batch.append(&mut stream.rest);
        let (mut frames, mut taken) = (0, 1);
        let mut stop = match first {
            Queued::Frame(frame) => {
                batch.extend_from_slice(&frame);
                frames += 1;
                false
            }
            Queued::Rest => false,
            Queued::Shutdown => true,
        };
        if !stop {
            stop = drain(&mut rx, &mut batch, &mut frames, &mut taken);
        }
        if stream.busy && !stop && batch.len() < BATCH_BYTES {
            // Under load, let the tasks that are ready run first: they
            // queue more frames (the lock is held), which then share this
            // write. (Idle, a lone frame goes out at once.)
            moonpool_sim::yield_now().await;
            stop = drain(&mut rx, &mut batch, &mut frames, &mut taken);
        }
        stream.busy = frames > 1;
        if !batch.is_empty() {
            let Some(write) = stream.write.as_mut() else {
                break;
            };
            if write.write_all(&batch).await.is_err() {
                stream.shut = true;
                break;
            }
            crate::metrics::sent(frames, batch.len() as u64);
        }
        shared.queued.fetch_sub(taken, Ordering::AcqRel);
        if stop {
            return stream.close().await;
        }
    }
    shared.stream.lock().await.close().await;
}

impl Stream {
    /// Nothing more is written: the peer reads the end of the stream.
    async fn close(&mut self) {
        self.shut = true;
        if let Some(write) = self.write.as_mut() {
            let _ = write.shutdown().await;
        }
    }
}

/// Held by the writer task's future: when it ends or is dropped unfinished
/// (a simulation dropping its tasks at its end), the stream goes with it,
/// never outliving its task in a connection someone still holds (a
/// simulated stream must be dropped inside its simulation).
struct Release(Arc<Shared>);

impl Drop for Release {
    fn drop(&mut self) {
        // The writer's own guard is gone by now; a sender holds the lock
        // only for a write without waiting, so this rarely finds it taken
        // (then the stream goes with the last handle to the connection).
        if let Ok(mut stream) = self.0.stream.try_lock() {
            stream.shut = true;
            stream.write = None;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use std::io;
    use std::net::SocketAddr;

    use moonpool_sim::AsyncStream;
    use tokio::io::{AsyncReadExt, DuplexStream};

    use super::*;

    /// One end of an in-memory pipe holding at most `room` unread bytes.
    struct Pipe(DuplexStream);

    impl tokio::io::AsyncRead for Pipe {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Pipe {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    impl AsyncStream for Pipe {
        fn peer_addr(&self) -> io::Result<SocketAddr> {
            Ok(SocketAddr::from(([127, 0, 0, 1], 2)))
        }
        fn local_addr(&self) -> io::Result<SocketAddr> {
            Ok(SocketAddr::from(([127, 0, 0, 1], 1)))
        }
    }

    /// An outbox over a pipe of `room` bytes, its writer task (not yet
    /// running) and the pipe's other end.
    fn outbox(room: usize) -> (Outbox, impl Future<Output = ()>, DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(room);
        let stream: moonpool_sim::NetStream = Box::new(Pipe(ours));
        let (_, write) = stream.into_halves();
        let (outbox, writer) = Outbox::new(write);
        (outbox, writer, theirs)
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn queued(outbox: &Outbox) -> usize {
        outbox.shared.queued.load(Ordering::Acquire)
    }

    async fn read(theirs: &mut DuplexStream, n: usize) -> Vec<u8> {
        let mut got = vec![0; n];
        theirs.read_exact(&mut got).await.unwrap();
        got
    }

    #[test]
    fn an_idle_connection_takes_a_frame_without_its_writer_task() {
        block_on(async {
            let (outbox, _writer, mut theirs) = outbox(64);
            // The writer task never runs: the senders wrote themselves.
            assert!(outbox.send(b"one".to_vec()));
            assert!(outbox.send(b"two".to_vec()));
            assert_eq!(queued(&outbox), 0);
            assert_eq!(read(&mut theirs, 6).await, b"onetwo");
        });
    }

    /// Waits until the writer task has counted off every item.
    async fn written(outbox: &Outbox) {
        while queued(outbox) != 0 {
            moonpool_sim::yield_now().await;
        }
    }

    #[test]
    fn the_rest_of_a_frame_goes_out_before_frames_sent_after_it() {
        block_on(async {
            let (outbox, writer, mut theirs) = outbox(4);
            assert!(outbox.send(b"abcdef".to_vec()), "4 bytes now, 2 left");
            assert_eq!(queued(&outbox), 1, "the rest, for the writer task");
            assert!(outbox.send(b"gh".to_vec()));
            assert_eq!(queued(&outbox), 2, "queued behind the rest");
            let peer = async {
                assert_eq!(read(&mut theirs, 8).await, b"abcdefgh");
                written(&outbox).await;
                outbox.shut_down();
                assert_eq!(theirs.read(&mut [0; 4]).await.unwrap(), 0, "shut down");
            };
            tokio::join!(writer, peer);
            assert!(!outbox.send(b"late".to_vec()), "the writer is gone");
        });
    }

    #[test]
    fn a_busy_connection_queues_so_frames_share_writes() {
        block_on(async {
            let (outbox, writer, mut theirs) = outbox(4);
            // The stream is full after the first four bytes: the rest
            // and the next two frames wait for the writer task.
            for frame in [&b"abcdef"[..], b"gh", b"ij"] {
                assert!(outbox.send(frame.to_vec()));
            }
            let peer = async {
                assert_eq!(read(&mut theirs, 10).await, b"abcdefghij");
                written(&outbox).await;
                // Its last write carried two frames: busy, so the next
                // frame is queued even though the stream has room.
                assert!(outbox.send(b"kl".to_vec()));
                assert_eq!(queued(&outbox), 1);
                assert_eq!(read(&mut theirs, 2).await, b"kl");
                written(&outbox).await;
                // A write of one frame: idle again, the sender writes.
                assert!(outbox.send(b"mn".to_vec()));
                assert_eq!(queued(&outbox), 0);
                assert_eq!(read(&mut theirs, 2).await, b"mn");
                outbox.shut_down();
            };
            tokio::join!(writer, peer);
        });
    }

    #[test]
    fn a_full_stream_leaves_the_frame_to_the_writer_task() {
        block_on(async {
            let (outbox, writer, mut theirs) = outbox(2);
            assert!(outbox.send(b"ab".to_vec()));
            assert_eq!(queued(&outbox), 0);
            assert!(outbox.send(b"cd".to_vec()), "no room: queued whole");
            assert_eq!(queued(&outbox), 1);
            assert!(outbox.send(b"ef".to_vec()));
            let peer = async {
                assert_eq!(read(&mut theirs, 6).await, b"abcdef");
                written(&outbox).await;
                // The writer's last write carried both queued frames: busy.
                assert!(outbox.send(b"gh".to_vec()));
                assert_eq!(queued(&outbox), 1, "busy: queued");
                assert_eq!(read(&mut theirs, 2).await, b"gh");
                drop(outbox);
                assert_eq!(theirs.read(&mut [0; 4]).await.unwrap(), 0, "shut down");
            };
            tokio::join!(writer, peer);
        });
    }

    /// A writer task dropped unfinished (a simulation drops its tasks at
    /// its end) takes the stream with it: later sends neither write nor
    /// keep the stream open, though the outbox lives on (a frame sent from
    /// a destructor after the simulation must not reach its stream).
    #[test]
    fn a_dropped_writer_task_takes_the_stream_with_it() {
        block_on(async {
            let (outbox, writer, mut theirs) = outbox(64);
            assert!(outbox.send(b"ab".to_vec()));
            drop(writer);
            assert!(!outbox.send(b"cd".to_vec()), "nothing writes any more");
            let mut got = Vec::new();
            theirs.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"ab", "the stream is closed, without the late frame");
        });
    }

    fn queue(items: Vec<Queued>) -> mpsc::UnboundedReceiver<Queued> {
        let (tx, rx) = mpsc::unbounded_channel();
        for item in items {
            tx.send(item).unwrap();
        }
        // Dropped: `try_recv` then reports the end, as it would emptiness.
        drop(tx);
        rx
    }

    #[test]
    fn drain_takes_every_queued_frame_and_counts_them() {
        let mut rx = queue(vec![
            Queued::Frame(vec![1; 10]),
            Queued::Rest,
            Queued::Frame(vec![2; 20]),
            Queued::Frame(vec![3; 30]),
        ]);
        let (mut batch, mut frames, mut taken) = (vec![0; 5], 1, 1);
        assert!(!drain(&mut rx, &mut batch, &mut frames, &mut taken));
        assert_eq!((batch.len(), frames, taken), (65, 4, 5));
        assert_eq!(&batch[5..15], &[1; 10]);
        assert_eq!(&batch[35..], &[3; 30]);
    }

    #[test]
    fn drain_stops_at_the_shutdown() {
        let mut rx = queue(vec![
            Queued::Frame(vec![1; 10]),
            Queued::Shutdown,
            Queued::Frame(vec![2; 10]),
        ]);
        let (mut batch, mut frames, mut taken) = (Vec::new(), 0, 0);
        assert!(drain(&mut rx, &mut batch, &mut frames, &mut taken));
        assert_eq!((batch.len(), frames, taken), (10, 1, 2));
        // What came after the shutdown is left queued.
        assert_eq!(rx.try_recv().ok(), Some(Queued::Frame(vec![2; 10])));
    }

    #[test]
    fn drain_stops_once_the_batch_is_full() {
        let quarter = BATCH_BYTES / 4;
        let mut rx = queue((0..6).map(|_| Queued::Frame(vec![7; quarter])).collect());
        let (mut batch, mut frames, mut taken) = (Vec::new(), 0, 0);
        assert!(!drain(&mut rx, &mut batch, &mut frames, &mut taken));
        // Exactly full after four: the fifth waits for the next write.
        assert_eq!((batch.len(), frames, taken), (BATCH_BYTES, 4, 4));
        assert_eq!(rx.try_recv().ok(), Some(Queued::Frame(vec![7; quarter])));
    }
}
