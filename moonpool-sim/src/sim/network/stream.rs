//! Simulated streams, listeners and the [`NetworkProvider`] over them.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::events::with_net;
use super::state::{NetEvent, process_ip};
use crate::providers::net::{AsyncStream, NetListener, NetStream, NetworkProvider};
use crate::providers::task::BoxFuture;
use crate::sim::config::ProcessId;
use crate::sim::sleep::SimSleep;
use crate::sim::world::{World, try_with_world, with_world};

/// One end of a simulated connection.
pub(crate) struct SimStream {
    world_id: u64,
    conn: usize,
    generation: u64,
    side: usize,
    local: SocketAddr,
    peer: SocketAddr,
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer")
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &*self;
        with_world(this.world_id, |w| {
            with_net(w, |net, wake| {
                let poll = match net.conn_mut(this.conn, this.generation) {
                    None => Poll::Ready(Err(reset_error())),
                    Some(conn) if conn.is_reset => Poll::Ready(Err(reset_error())),
                    Some(conn) => {
                        let pipe = &mut conn.pipes[1 - this.side];
                        match pipe.read(buf) {
                            Some(n) => {
                                if n > 0 {
                                    wake.extend(pipe.writer.take());
                                }
                                Poll::Ready(Ok(()))
                            }
                            None => {
                                pipe.reader = Some(cx.waker().clone());
                                Poll::Pending
                            }
                        }
                    }
                };
                (poll, Vec::new())
            })
        })
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &*self;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        with_world(this.world_id, |w| {
            let now = w.now.get();
            let clog = clog_draw(w);
            with_net(w, |net, _wake| {
                let Some(conn) = net.conn(this.conn, this.generation) else {
                    return (Poll::Ready(Err(reset_error())), None);
                };
                if conn.is_reset {
                    return (Poll::Ready(Err(reset_error())), None);
                }
                if conn.pipes[this.side].fin_sent() {
                    let err = io::Error::new(io::ErrorKind::BrokenPipe, "write after shutdown");
                    return (Poll::Ready(Err(err)), None);
                }
                let (from, to) = (this.local.ip(), this.peer.ip());
                if let Some(d) = clog {
                    net.clog(from, to, now + d);
                }
                let at = (now + net.latency()).max(net.clog_until(from, to));
                let Some(conn) = net.conn_mut(this.conn, this.generation) else {
                    return (Poll::Ready(Err(reset_error())), None);
                };
                let pipe = &mut conn.pipes[this.side];
                if pipe.room() == 0 {
                    pipe.writer = Some(cx.waker().clone());
                    return (Poll::Pending, None);
                }
                let (n, at, seq) = pipe.write(data, at);
                let event = NetEvent::Deliver {
                    conn: this.conn,
                    generation: this.generation,
                    dir: this.side,
                    seq,
                };
                (Poll::Ready(Ok(n)), Some((at, event)))
            })
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &*self;
        let reset = with_world(this.world_id, |w| {
            w.net
                .borrow()
                .conn(this.conn, this.generation)
                .is_none_or(|c| c.is_reset)
        });
        Poll::Ready(if reset { Err(reset_error()) } else { Ok(()) })
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &*self;
        with_world(this.world_id, |w| {
            let now = w.now.get();
            with_net(w, |net, _wake| {
                let (from, to) = (this.local.ip(), this.peer.ip());
                let at = (now + net.latency()).max(net.clog_until(from, to));
                let Some(conn) = net.conn_mut(this.conn, this.generation) else {
                    return (Poll::Ready(Err(reset_error())), Vec::new());
                };
                if conn.is_reset {
                    return (Poll::Ready(Err(reset_error())), Vec::new());
                }
                let events = conn.pipes[this.side]
                    .shutdown(at)
                    .map(|(at, seq)| {
                        let event = NetEvent::Deliver {
                            conn: this.conn,
                            generation: this.generation,
                            dir: this.side,
                            seq,
                        };
                        (at, event)
                    })
                    .into_iter()
                    .collect();
                (Poll::Ready(Ok(())), events)
            })
        })
    }
}

/// Whether this write clogs its link, and for how long (clogging family).
fn clog_draw(w: &World) -> Option<u64> {
    if !w.chaos.faults.clogging {
        return None;
    }
    let (p, max) = {
        let net = w.net.borrow();
        (net.config.clog_probability, net.config.clog_max)
    };
    let mut rng = w.chaos.rng.borrow_mut();
    rng.chance(p)
        .then(|| rng.below(u64::try_from(max.as_nanos()).unwrap_or(u64::MAX).max(1)))
}

impl AsyncStream for SimStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        let (c, generation, side) = (self.conn, self.generation, self.side);
        try_with_world(self.world_id, |w| {
            let now = w.now.get();
            with_net(w, |net, wake| {
                ((), net.close_end(c, generation, side, now, wake))
            });
        });
    }
}

/// A simulated listening socket.
pub(crate) struct SimListener {
    world_id: u64,
    addr: SocketAddr,
    id: u64,
}

impl NetListener for SimListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(NetStream, SocketAddr)>> {
        Box::pin(std::future::poll_fn(move |cx| {
            let (world_id, addr, id) = (self.world_id, self.addr, self.id);
            with_world(world_id, |w| {
                let accepted = w.net.borrow_mut().poll_accept(addr, id, cx.waker());
                match accepted {
                    Err(e) => Poll::Ready(Err(e)),
                    Ok(None) => Poll::Pending,
                    Ok(Some((conn, generation, peer))) => {
                        let stream = SimStream {
                            world_id,
                            conn,
                            generation,
                            side: 1,
                            local: addr,
                            peer,
                        };
                        Poll::Ready(Ok((Box::new(stream) as NetStream, peer)))
                    }
                }
            })
        }))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        let (addr, id) = (self.addr, self.id);
        try_with_world(self.world_id, |w| {
            with_net(w, |net, wake| {
                net.unbind(addr, id, wake);
                ((), Vec::new())
            });
        });
    }
}

/// The simulated [`NetworkProvider`] of one process (or of whichever task
/// uses it, when `process` is `None`).
pub(crate) struct SimNetwork {
    pub(crate) world_id: u64,
    pub(crate) process: Option<ProcessId>,
}

fn process_of(w: &World, pinned: Option<ProcessId>) -> io::Result<ProcessId> {
    let pid = pinned.unwrap_or_else(|| w.current_process());
    if w.process_alive(pid) {
        Ok(pid)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "the simulated process is not running",
        ))
    }
}

enum Outcome {
    Connected(SimStream),
    Refused,
    TimedOut,
}

impl NetworkProvider for SimNetwork {
    fn bind(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn NetListener>>> {
        let (world_id, pinned) = (self.world_id, self.process);
        Box::pin(async move {
            with_world(world_id, |w| {
                let pid = process_of(w, pinned)?;
                let (addr, id) = w.net.borrow_mut().bind(pid, process_ip(pid), addr)?;
                Ok(Box::new(SimListener { world_id, addr, id }) as Box<dyn NetListener>)
            })
        })
    }

    fn default_ip(&self) -> IpAddr {
        with_world(self.world_id, |w| {
            process_of(w, self.process).map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), process_ip)
        })
    }

    fn connect(&self, to: SocketAddr) -> BoxFuture<'static, io::Result<NetStream>> {
        let (world_id, pinned) = (self.world_id, self.process);
        Box::pin(async move {
            let (pid, latency, refuse, timeout) = with_world(world_id, |w| {
                let pid = process_of(w, pinned)?;
                let mut net = w.net.borrow_mut();
                let latency = net.latency();
                let refuse = w.chaos.faults.connect_failures
                    && w.chaos
                        .rng
                        .borrow_mut()
                        .chance(net.config.connect_failure_probability);
                let timeout =
                    u64::try_from(net.config.connect_timeout.as_nanos()).unwrap_or(u64::MAX);
                Ok::<_, io::Error>((pid, latency, refuse, timeout))
            })?;
            SimSleep::after(world_id, latency).await; // SYN
            let outcome = with_world(world_id, |w| {
                if !w.process_alive(pid) {
                    return Outcome::Refused;
                }
                if w.net.borrow().is_blocked(process_ip(pid), to.ip()) {
                    return Outcome::TimedOut;
                }
                if refuse {
                    return Outcome::Refused;
                }
                match with_net(w, |net, wake| (net.establish(pid, to, wake), Vec::new())) {
                    Some((conn, generation, local)) => Outcome::Connected(SimStream {
                        world_id,
                        conn,
                        generation,
                        side: 0,
                        local,
                        peer: to,
                    }),
                    None => Outcome::Refused,
                }
            });
            match outcome {
                Outcome::Connected(stream) => {
                    SimSleep::after(world_id, latency).await; // SYN-ACK
                    Ok(Box::new(stream) as NetStream)
                }
                Outcome::Refused => {
                    SimSleep::after(world_id, latency).await; // RST
                    Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        format!("connection to {to} refused"),
                    ))
                }
                Outcome::TimedOut => {
                    SimSleep::after(world_id, timeout.saturating_sub(latency)).await;
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("connection to {to} timed out (network partition)"),
                    ))
                }
            }
        })
    }
}
