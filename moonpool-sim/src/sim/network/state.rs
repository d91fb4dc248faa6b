//! The network's state inside the world: connections, listeners, the
//! partitions and clogs in force, and how a due event changes them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::task::Waker;

use slab::Slab;

use super::config::NetConfig;
use super::pipe::{Conn, NetFaults, Wakeups};
use crate::providers::random::DeterministicRng;
use crate::sim::config::ProcessId;

/// RNG stream for latencies (not a fault: calm seeds draw from it too).
const STREAM_NET: u64 = 0x0E70_0E70;
/// First port handed out for port 0.
const EPHEMERAL_START: u16 = 40_000;

/// A network event, scheduled on the simulation's event queue.
#[derive(Clone, Copy, Debug)]
pub(crate) enum NetEvent {
    /// The segment `seq` of direction `dir` of a connection is due.
    Deliver {
        conn: usize,
        generation: u64,
        dir: usize,
        seq: u64,
    },
    /// A half-open connection's keep-alive gave up: reset it.
    HalfOpenReset { conn: usize, generation: u64 },
}

struct ListenerEntry {
    id: u64,
    process: ProcessId,
    backlog: VecDeque<(usize, u64)>,
    waker: Option<Waker>,
}

/// The simulated address of a process: 10.0.x.y from its id.
pub(crate) fn process_ip(process: ProcessId) -> IpAddr {
    let n = process.0 + 1;
    IpAddr::V4(Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8))
}

pub(crate) struct NetState {
    pub(crate) config: NetConfig,
    listeners: BTreeMap<SocketAddr, ListenerEntry>,
    conns: Slab<Conn>,
    next_id: u64,
    /// Directed links that drop traffic: (from, to).
    blocked: BTreeSet<(IpAddr, IpAddr)>,
    /// Addresses cut off from every other address.
    isolated: BTreeSet<IpAddr>,
    /// Directed links clogged until a time.
    clogged: BTreeMap<(IpAddr, IpAddr), u64>,
    /// Pipes holding traffic for a blocked link: (conn, generation, dir).
    parked: Vec<(usize, u64, usize)>,
    rng: DeterministicRng,
    /// The wakeups list `with_net` lends each operation (kept for its
    /// capacity: most deliveries wake a reader).
    pub(crate) spare_wakeups: Wakeups,
}

impl NetState {
    pub(crate) fn new(seed: u64, config: NetConfig) -> Self {
        Self {
            config,
            listeners: BTreeMap::new(),
            conns: Slab::new(),
            next_id: 1,
            blocked: BTreeSet::new(),
            isolated: BTreeSet::new(),
            clogged: BTreeMap::new(),
            parked: Vec::new(),
            rng: DeterministicRng::new(seed, STREAM_NET),
            spare_wakeups: Wakeups::new(),
        }
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A one-way latency in nanoseconds.
    pub(crate) fn latency(&mut self) -> u64 {
        let lo = u64::try_from(self.config.latency_min.as_nanos()).unwrap_or(u64::MAX);
        let hi = u64::try_from(self.config.latency_max.as_nanos()).unwrap_or(u64::MAX);
        if hi <= lo {
            lo
        } else {
            lo + self.rng.below(hi - lo + 1)
        }
    }

    pub(crate) fn is_blocked(&self, from: IpAddr, to: IpAddr) -> bool {
        from != to
            && (self.blocked.contains(&(from, to))
                || self.isolated.contains(&from)
                || self.isolated.contains(&to))
    }

    // ----- listeners -------------------------------------------------

    /// Binds `addr` for `process` (whose address is `ip`).
    pub(crate) fn bind(
        &mut self,
        process: ProcessId,
        ip: IpAddr,
        addr: SocketAddr,
    ) -> io::Result<(SocketAddr, u64)> {
        let ip = if addr.ip().is_unspecified() {
            ip
        } else {
            addr.ip()
        };
        if ip != process_ip(process) {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!(
                    "{ip} is not this simulated process's address ({})",
                    process_ip(process)
                ),
            ));
        }
        let port = if addr.port() == 0 {
            (EPHEMERAL_START..=u16::MAX)
                .find(|p| !self.listeners.contains_key(&SocketAddr::new(ip, *p)))
                .ok_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no free port"))?
        } else {
            addr.port()
        };
        let addr = SocketAddr::new(ip, port);
        if self.listeners.contains_key(&addr) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{addr} is already bound"),
            ));
        }
        let id = self.next_id();
        self.listeners.insert(
            addr,
            ListenerEntry {
                id,
                process,
                backlog: VecDeque::new(),
                waker: None,
            },
        );
        Ok((addr, id))
    }

    /// Closes a listener; connections it had not accepted are reset.
    pub(crate) fn unbind(&mut self, addr: SocketAddr, id: u64, wake: &mut Wakeups) {
        if self.listeners.get(&addr).is_some_and(|l| l.id == id)
            && let Some(l) = self.listeners.remove(&addr)
        {
            for (c, generation) in l.backlog {
                self.reset(c, generation, wake);
            }
        }
    }

    /// The next accepted connection, or `None` after registering `waker`.
    /// `Err` if the listener is gone (its process was killed).
    pub(crate) fn poll_accept(
        &mut self,
        addr: SocketAddr,
        id: u64,
        waker: &Waker,
    ) -> io::Result<Option<(usize, u64, SocketAddr)>> {
        let Some(l) = self.listeners.get_mut(&addr).filter(|l| l.id == id) else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the listener was closed",
            ));
        };
        match l.backlog.pop_front() {
            Some((c, generation)) => {
                let peer = self
                    .conns
                    .get(c)
                    .filter(|conn| conn.generation == generation)
                    .map_or(addr, |conn| conn.addrs[0]);
                Ok(Some((c, generation, peer)))
            }
            None => {
                l.waker = Some(waker.clone());
                Ok(None)
            }
        }
    }

    // ----- connections ----------------------------------------------

    /// Opens a connection from `from` to a listener at `to`, if one is
    /// bound there. Returns the connection and the client's address.
    pub(crate) fn establish(
        &mut self,
        client: ProcessId,
        to: SocketAddr,
        wake: &mut Wakeups,
    ) -> Option<(usize, u64, SocketAddr)> {
        let server = self.listeners.get(&to)?.process;
        let client_ip = process_ip(client);
        let port = (EPHEMERAL_START..=u16::MAX).rev().find(|p| {
            let a = SocketAddr::new(client_ip, *p);
            !self.listeners.contains_key(&a) && !self.conns.iter().any(|(_, c)| c.addrs[0] == a)
        })?;
        let client_addr = SocketAddr::new(client_ip, port);
        let generation = self.next_id();
        let buffer = self.config.buffer_bytes;
        let c = self.conns.insert(Conn::new(
            generation,
            [client_addr, to],
            [client, server],
            buffer,
        ));
        let l = self.listeners.get_mut(&to)?;
        l.backlog.push_back((c, generation));
        wake.extend(l.waker.take());
        Some((c, generation, client_addr))
    }

    pub(crate) fn open_connections(&self) -> usize {
        self.conns
            .iter()
            .filter(|(_, c)| c.open[0] && c.open[1] && !c.is_reset)
            .count()
    }

    pub(crate) fn conn(&self, c: usize, generation: u64) -> Option<&Conn> {
        self.conns
            .get(c)
            .filter(|conn| conn.generation == generation)
    }

    pub(crate) fn conn_mut(&mut self, c: usize, generation: u64) -> Option<&mut Conn> {
        self.conns
            .get_mut(c)
            .filter(|conn| conn.generation == generation)
    }

    /// Resets a connection: both ends see `ConnectionReset`.
    pub(crate) fn reset(&mut self, c: usize, generation: u64, wake: &mut Wakeups) {
        if let Some(conn) = self.conn_mut(c, generation) {
            conn.reset(wake);
        }
    }

    /// One end of a connection was dropped: send FIN (unless the
    /// connection is reset or that end was already closed by a kill), and
    /// forget the connection once both ends are gone.
    pub(crate) fn close_end(
        &mut self,
        c: usize,
        generation: u64,
        side: usize,
        now: u64,
        wake: &mut Wakeups,
    ) -> Vec<(u64, NetEvent)> {
        let mut events = Vec::new();
        let Some(conn) = self.conn(c, generation) else {
            return events;
        };
        let (open, other_open, is_reset) = (conn.open[side], conn.open[1 - side], conn.is_reset);
        if !other_open {
            self.conns.remove(c);
            return events;
        }
        if !open {
            return events;
        }
        let (from, to) = (conn.addrs[side].ip(), conn.addrs[1 - side].ip());
        let at = (now + self.latency()).max(self.clog_until(from, to));
        if let Some(conn) = self.conn_mut(c, generation) {
            conn.open[side] = false;
            if !is_reset && let Some((at, seq)) = conn.pipes[side].shutdown(at) {
                events.push((
                    at,
                    NetEvent::Deliver {
                        conn: c,
                        generation,
                        dir: side,
                        seq,
                    },
                ));
            }
            wake.extend(conn.pipes[1 - side].writer.take());
        }
        events
    }

    pub(crate) fn clog_until(&self, from: IpAddr, to: IpAddr) -> u64 {
        self.clogged.get(&(from, to)).copied().unwrap_or(0)
    }

    pub(crate) fn clog(&mut self, from: IpAddr, to: IpAddr, until: u64) {
        let e = self.clogged.entry((from, to)).or_insert(0);
        *e = (*e).max(until);
    }

    // ----- partitions -----------------------------------------------

    pub(crate) fn block(&mut self, from: IpAddr, to: IpAddr) {
        self.blocked.insert((from, to));
    }

    pub(crate) fn isolate(&mut self, ip: IpAddr) {
        self.isolated.insert(ip);
    }

    /// Lifts the blocks and isolations `remove` selects (a block is
    /// `(from, Some(to))`, an isolation `(ip, None)`), and reschedules the
    /// traffic that was parked and can now flow.
    pub(crate) fn unblock(
        &mut self,
        mut remove: impl FnMut(IpAddr, Option<IpAddr>) -> bool,
        now: u64,
    ) -> Vec<(u64, NetEvent)> {
        self.blocked.retain(|(a, b)| !remove(*a, Some(*b)));
        self.isolated.retain(|a| !remove(*a, None));
        let parked = std::mem::take(&mut self.parked);
        let mut events = Vec::new();
        for (c, generation, dir) in parked {
            let Some(conn) = self
                .conns
                .get(c)
                .filter(|conn| conn.generation == generation)
            else {
                continue;
            };
            let (from, to) = (conn.addrs[dir].ip(), conn.addrs[1 - dir].ip());
            if self.is_blocked(from, to) {
                self.parked.push((c, generation, dir));
                continue;
            }
            let latency = self.latency();
            if let Some(conn) = self.conn_mut(c, generation) {
                for (at, seq) in conn.pipes[dir].reschedule(now + latency) {
                    events.push((
                        at,
                        NetEvent::Deliver {
                            conn: c,
                            generation,
                            dir,
                            seq,
                        },
                    ));
                }
            }
        }
        events
    }

    // ----- process death --------------------------------------------

    /// Closes `process`'s listeners and its connections. `half_open`
    /// decides, per connection, whether the peer is left unaware; those
    /// connections get a reset event after `linger` nanoseconds instead.
    pub(crate) fn kill_process(
        &mut self,
        process: ProcessId,
        mut half_open: impl FnMut() -> Option<u64>,
        now: u64,
        wake: &mut Wakeups,
    ) -> Vec<(u64, NetEvent)> {
        let addrs: Vec<(SocketAddr, u64)> = self
            .listeners
            .iter()
            .filter(|(_, l)| l.process == process)
            .map(|(a, l)| (*a, l.id))
            .collect();
        for (addr, id) in addrs {
            self.unbind(addr, id, wake);
        }
        let mut events = Vec::new();
        let victims: Vec<(usize, u64)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.procs.contains(&process))
            .map(|(i, c)| (i, c.generation))
            .collect();
        for (c, generation) in victims {
            let Some(conn) = self.conn_mut(c, generation) else {
                continue;
            };
            let both = conn.procs[0] == process && conn.procs[1] == process;
            match half_open().filter(|_| !both) {
                Some(linger) => {
                    let dead = usize::from(conn.procs[1] == process);
                    conn.go_half_open(dead, wake);
                    events.push((
                        now + linger,
                        NetEvent::HalfOpenReset {
                            conn: c,
                            generation,
                        },
                    ));
                }
                None => conn.reset(wake),
            }
        }
        events
    }

    // ----- events ---------------------------------------------------

    /// Processes a due network event.
    pub(crate) fn handle(
        &mut self,
        event: NetEvent,
        faults: &mut NetFaults<'_>,
        wake: &mut Wakeups,
    ) {
        match event {
            NetEvent::HalfOpenReset { conn, generation } => self.reset(conn, generation, wake),
            NetEvent::Deliver {
                conn: c,
                generation,
                dir,
                seq,
            } => {
                let Some(conn) = self
                    .conns
                    .get(c)
                    .filter(|conn| conn.generation == generation)
                else {
                    return;
                };
                let (from, to) = (conn.addrs[dir].ip(), conn.addrs[1 - dir].ip());
                if self.is_blocked(from, to) {
                    if let Some(conn) = self.conn_mut(c, generation)
                        && conn.pipes[dir].park(seq)
                    {
                        self.parked.push((c, generation, dir));
                    }
                    return;
                }
                let Some(conn) = self.conn_mut(c, generation) else {
                    return;
                };
                let Some(segment) = conn.pipes[dir].take_due(seq) else {
                    return;
                };
                conn.deliver(dir, segment, faults, wake);
            }
        }
    }
}
