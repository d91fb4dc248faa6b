//! One connection: two one-way pipes of timed segments.

use std::collections::VecDeque;
use std::net::SocketAddr;

use std::task::Waker;

use crate::providers::random::DeterministicRng;
use crate::sim::config::ProcessId;

/// Largest segment one write turns into.
const MAX_SEGMENT: usize = 64 * 1024;

/// A delivered segment's buffer at most this large is kept for the
/// pipe's next write (small messages then cost no allocation).
const SPARE_BUFFER: usize = 4 * 1024;

/// Bytes (or a FIN) on their way, due at `at`.
pub(crate) struct Segment {
    seq: u64,
    at: u64,
    data: Vec<u8>,
    fin: bool,
}

/// One direction of a connection.
pub(crate) struct Pipe {
    in_flight: VecDeque<Segment>,
    in_flight_bytes: usize,
    recv: VecDeque<u8>,
    capacity: usize,
    last_at: u64,
    next_seq: u64,
    fin_sent: bool,
    fin_delivered: bool,
    parked: bool,
    /// The receiving end is gone without the sender knowing (half-open).
    discard: bool,
    pub(crate) reader: Option<std::task::Waker>,
    pub(crate) writer: Option<std::task::Waker>,
    /// A delivered segment's buffer, emptied, for the next write.
    spare: Option<Vec<u8>>,
}

impl Pipe {
    fn new(capacity: usize) -> Self {
        Self {
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
            recv: VecDeque::new(),
            capacity,
            last_at: 0,
            next_seq: 0,
            fin_sent: false,
            fin_delivered: false,
            parked: false,
            discard: false,
            reader: None,
            writer: None,
            spare: None,
        }
    }

    fn used(&self) -> usize {
        self.in_flight_bytes + self.recv.len()
    }

    /// Bytes a writer may add now.
    pub(crate) fn room(&self) -> usize {
        self.capacity.saturating_sub(self.used()).min(MAX_SEGMENT)
    }

    pub(crate) fn fin_sent(&self) -> bool {
        self.fin_sent
    }

    fn push(&mut self, data: Vec<u8>, fin: bool, at: u64) -> (u64, u64) {
        // In order within the pipe: never before the previous segment.
        let at = at.max(self.last_at);
        self.last_at = at;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight_bytes += data.len();
        self.in_flight.push_back(Segment { seq, at, data, fin });
        (at, seq)
    }

    /// Queues `data` (at most [`Pipe::room`] bytes) for delivery at `at`;
    /// returns (time, sequence) for the delivery event.
    pub(crate) fn write(&mut self, data: &[u8], at: u64) -> (usize, u64, u64) {
        let n = data.len().min(self.room());
        let mut buf = self.spare.take().unwrap_or_default();
        buf.extend_from_slice(&data[..n]);
        let (at, seq) = self.push(buf, false, at);
        (n, at, seq)
    }

    /// Queues a FIN, once.
    pub(crate) fn shutdown(&mut self, at: u64) -> Option<(u64, u64)> {
        if self.fin_sent {
            return None;
        }
        self.fin_sent = true;
        Some(self.push(Vec::new(), true, at))
    }

    /// A delivery of `seq` found the link blocked: hold the pipe. Returns
    /// whether it was not parked already.
    pub(crate) fn park(&mut self, seq: u64) -> bool {
        let front = self.in_flight.front().is_some_and(|s| s.seq == seq);
        if front && !self.parked {
            self.parked = true;
            return true;
        }
        false
    }

    /// After a heal: new delivery times for everything held, from `base`.
    pub(crate) fn reschedule(&mut self, base: u64) -> Vec<(u64, u64)> {
        self.parked = false;
        let mut at = base;
        self.in_flight
            .iter_mut()
            .map(|s| {
                at = at.max(s.at);
                s.at = at;
                (at, s.seq)
            })
            .collect()
    }

    /// The segment `seq`, if it is next and the pipe is not held.
    pub(crate) fn take_due(&mut self, seq: u64) -> Option<Segment> {
        if self.parked || self.in_flight.front().is_none_or(|s| s.seq != seq) {
            return None;
        }
        let s = self.in_flight.pop_front()?;
        self.in_flight_bytes -= s.data.len();
        Some(s)
    }

    /// Copies received bytes into `buf`; `None` when there are none yet
    /// (and no FIN), `Some(0)` at end of stream.
    pub(crate) fn read(&mut self, buf: &mut tokio::io::ReadBuf<'_>) -> Option<usize> {
        if self.recv.is_empty() {
            return self.fin_delivered.then_some(0);
        }
        let n = buf.remaining().min(self.recv.len());
        let (a, b) = self.recv.as_slices();
        let from_a = n.min(a.len());
        buf.put_slice(&a[..from_a]);
        buf.put_slice(&b[..n - from_a]);
        if n == self.recv.len() {
            // All of it, most often: emptied without a drain.
            self.recv.clear();
        } else {
            self.recv.drain(..n);
        }
        Some(n)
    }

    fn clear(&mut self, wake: &mut Wakeups) {
        self.in_flight.clear();
        self.in_flight_bytes = 0;
        self.recv.clear();
        wake.extend(self.reader.take());
        wake.extend(self.writer.take());
    }
}

/// A connection: end 0 is the client, end 1 the server; `pipes[i]` carries
/// bytes from end `i` to end `1 - i`.
pub(crate) struct Conn {
    pub(crate) generation: u64,
    pub(crate) addrs: [SocketAddr; 2],
    pub(crate) procs: [ProcessId; 2],
    pub(crate) pipes: [Pipe; 2],
    /// Whether each end's stream still exists.
    pub(crate) open: [bool; 2],
    pub(crate) is_reset: bool,
}

impl Conn {
    pub(crate) fn new(
        generation: u64,
        addrs: [SocketAddr; 2],
        procs: [ProcessId; 2],
        capacity: usize,
    ) -> Self {
        Self {
            generation,
            addrs,
            procs,
            pipes: [Pipe::new(capacity), Pipe::new(capacity)],
            open: [true, true],
            is_reset: false,
        }
    }

    pub(crate) fn reset(&mut self, wake: &mut Wakeups) {
        self.is_reset = true;
        for p in &mut self.pipes {
            p.clear(wake);
        }
    }

    /// End `dead` vanished without telling its peer.
    pub(crate) fn go_half_open(&mut self, dead: usize, wake: &mut Wakeups) {
        self.open[dead] = false;
        let toward_dead = &mut self.pipes[1 - dead];
        toward_dead.discard = true;
        toward_dead.in_flight.clear();
        toward_dead.in_flight_bytes = 0;
        toward_dead.recv.clear();
        wake.extend(toward_dead.writer.take());
    }

    /// Hands `segment` of direction `dir` to its receiver.
    pub(crate) fn deliver(
        &mut self,
        dir: usize,
        segment: Segment,
        faults: &mut NetFaults<'_>,
        wake: &mut Wakeups,
    ) {
        if self.is_reset {
            return;
        }
        let receiver_open = self.open[1 - dir];
        let pipe = &mut self.pipes[dir];
        if pipe.discard {
            wake.extend(pipe.writer.take());
            return;
        }
        if !receiver_open {
            // Data for a closed socket: the receiver's kernel answers RST.
            if !segment.data.is_empty() {
                self.reset(wake);
            }
            return;
        }
        let mut data = segment.data;
        if !data.is_empty() && faults.hit(faults.bit_flip) {
            let bit = faults.rng.below(data.len() as u64 * 8);
            data[(bit / 8) as usize] ^= 1 << (bit % 8);
        }
        pipe.recv.extend(&data);
        if data.capacity() <= SPARE_BUFFER {
            data.clear();
            pipe.spare = Some(data);
        }
        if segment.fin {
            pipe.fin_delivered = true;
        }
        wake.extend(pipe.reader.take());
        if faults.hit(faults.random_close) {
            self.reset(wake);
        }
    }
}

/// Wakers to wake once the network state is released.
pub(crate) type Wakeups = Vec<Waker>;

/// The fault decisions a delivery may need, drawn from the fault stream.
pub(crate) struct NetFaults<'a> {
    pub(crate) random_close: Option<f64>,
    pub(crate) bit_flip: Option<f64>,
    pub(crate) rng: &'a mut DeterministicRng,
}

impl NetFaults<'_> {
    pub(crate) fn hit(&mut self, p: Option<f64>) -> bool {
        p.is_some_and(|p| self.rng.chance(p))
    }
}
